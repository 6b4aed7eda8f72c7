"""The product catalogue: `product.upsert` and `price.update` (immediate or scheduled), shared by every job.

Owned by the core because shelf labels and scales both price from it; jobs read the
`products` table and wait on `store.changed("catalog")`. Each product carries a `revision`
that grows with every change, so a job can tell which products changed since it last looked.
A scheduled change is a row in `price_changes` plus a persistent scheduler job; applying it
is idempotent (only a `pending` change is applied), which makes "fires once" hold across restarts.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

import sqlite_utils
import structlog
from pydantic import Field, model_validator

from edge.scheduler import Scheduler
from edge.store import Store, Tx
from edge.store.db import utc_now
from edge.store.migrations import Step
from edge.sync.commands import Args, CommandError, CommandRegistry
from edge.sync.fields import Date, Money, Printable, Sku, Timestamp

log = structlog.get_logger("catalog")

MAX_BATCH = 10_000


class ProductItem(Args):
    """One product of `product.upsert`."""

    sku: Sku
    name: Annotated[str, Field(min_length=1, max_length=64), Printable]
    name_en: Annotated[str, Field(max_length=64), Printable] = ""
    price: Money
    unit: Literal["kg", "500g", "piece"] = "piece"
    sale_mode: Literal["weight", "piece"] = "piece"
    plu: Annotated[str, Field(pattern=r"^[0-9]{1,5}$")] | None = None
    tare_g: Annotated[int, Field(ge=0, le=5000)] = 0
    promo_price: Money | None = None
    promo_end: Date | None = None
    qr_url: Annotated[str, Field(max_length=200), Printable] | None = None
    spec: Annotated[str, Field(max_length=32), Printable] = ""
    origin: Annotated[str, Field(max_length=32), Printable] = ""

    @model_validator(mode="after")
    def _consistent(self) -> ProductItem:
        if (self.sale_mode == "weight") != (self.unit in ("kg", "500g")):
            raise ValueError("sale_mode 'weight' needs unit 'kg' or '500g'; 'piece' needs unit 'piece'")
        if self.promo_end is not None and self.promo_price is None:
            raise ValueError("promo_end given without promo_price")
        return self


class UpsertArgs(Args):
    """`product.upsert` arguments."""

    items: Annotated[list[ProductItem], Field(min_length=1, max_length=MAX_BATCH)]


class PriceItem(Args):
    """One price change of `price.update`; a promotion is set with promo_price (and optionally promo_end), cleared with null."""

    sku: Sku
    price: Money
    promo_price: Money | None = None
    promo_end: Date | None = None
    effective_at: Timestamp | None = None


class PriceArgs(Args):
    """`price.update` arguments."""

    items: Annotated[list[PriceItem], Field(min_length=1, max_length=MAX_BATCH)]


def _v1(db: sqlite_utils.Database) -> None:
    """Products and scheduled price changes."""
    db["products"].create(
        {
            "sku": str, "name": str, "name_en": str, "price": str, "unit": str, "sale_mode": str, "plu": str,
            "tare_g": int, "promo_price": str, "promo_end": str, "qr_url": str, "spec": str, "origin": str,
            "updated_at": str, "revision": int,
        },
        pk="sku",
        not_null={"name", "price", "unit", "sale_mode", "revision"},
    )
    db["products"].create_index(["revision"])
    db["products"].create_index(["plu"])
    db["price_changes"].create(
        {"id": int, "sku": str, "price": str, "promo_price": str, "promo_end": str, "effective_at": str, "status": str, "created_at": str},
        pk="id",
        not_null={"sku", "price", "effective_at", "status"},
    )
    db["price_changes"].create_index(["status", "effective_at"])


STEPS: list[Step] = [_v1]


def _next_revision(tx: Tx) -> int:
    return int(tx.conn.execute("SELECT coalesce(max(revision), 0) + 1 FROM products").fetchone()[0])


def _fmt(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:.2f}"


def apply_price(tx: Tx, sku: str, price: Decimal, promo_price: Decimal | None, promo_end: date | None) -> None:
    """Set a product's price now; jobs showing it see the new revision."""
    tx.conn.execute(
        "UPDATE products SET price = ?, promo_price = ?, promo_end = ?, updated_at = ?, revision = ? WHERE sku = ?",
        (_fmt(price), _fmt(promo_price), promo_end.isoformat() if promo_end else None, utc_now(), _next_revision(tx), sku),
    )
    tx.notify("catalog")


class Catalog:
    """Registers the catalogue commands and the scheduled-change action."""

    ACTION = "catalog.apply_change"

    def __init__(self, store: Store, scheduler: Scheduler) -> None:
        self._store = store
        self._scheduler = scheduler
        scheduler.action(self.ACTION, self._apply_change)

    def register(self, registry: CommandRegistry) -> None:
        """Add `product.upsert` and `price.update`."""
        registry.register("product.upsert", UpsertArgs, self._upsert)
        registry.register("price.update", PriceArgs, self._price_update)

    def _upsert(self, tx: Tx, args: UpsertArgs) -> dict[str, Any]:
        """Create or replace products; labels showing them are re-rendered by the ESL job."""
        revision = _next_revision(tx)
        now = utc_now()
        rows = []
        for offset, item in enumerate(args.items):
            row = item.model_dump(mode="json")
            row.update(price=_fmt(item.price), promo_price=_fmt(item.promo_price), updated_at=now, revision=revision + offset)
            rows.append(row)
        tx.db["products"].upsert_all(rows, pk="sku")
        tx.notify("catalog")
        return {"accepted": len(rows)}

    def _price_update(self, tx: Tx, args: PriceArgs) -> dict[str, Any]:
        """Change prices now, or schedule them (`effective_at`); unknown SKUs reject the whole batch."""
        skus = [item.sku for item in args.items]
        known = {r[0] for r in tx.conn.execute(f"SELECT sku FROM products WHERE sku IN ({','.join('?' * len(skus))})", skus)}
        for index, item in enumerate(args.items):
            if item.sku not in known:
                raise CommandError("not_found", f"items[{index}].sku: unknown product {item.sku!r}")
        now = datetime.now(UTC)
        immediate, scheduled = 0, []
        for item in args.items:
            if item.effective_at is None or item.effective_at <= now:
                apply_price(tx, item.sku, item.price, item.promo_price, item.promo_end)
                immediate += 1
                continue
            change_id = tx.db["price_changes"].insert(
                {
                    "sku": item.sku, "price": _fmt(item.price), "promo_price": _fmt(item.promo_price),
                    "promo_end": item.promo_end.isoformat() if item.promo_end else None,
                    "effective_at": item.effective_at.isoformat().replace("+00:00", "Z"), "status": "pending", "created_at": utc_now(),
                }
            ).last_pk
            when = item.effective_at
            tx.after_commit(lambda cid=change_id, when=when: self._scheduler.at(f"price-change-{cid}", when, self.ACTION, change_id=cid))
            scheduled.append({"sku": item.sku, "change_id": change_id, "effective_at": item.effective_at.isoformat().replace("+00:00", "Z")})
        return {"accepted": len(args.items), "applied": immediate, "scheduled": scheduled}

    async def _apply_change(self, change_id: int) -> None:
        """Persistent job body: apply change `change_id` if it is still pending (so a repeat is harmless)."""

        def apply(tx: Tx) -> bool:
            row = tx.conn.execute(
                "SELECT sku, price, promo_price, promo_end, status FROM price_changes WHERE id = ?", (change_id,)
            ).fetchone()
            if row is None or row[4] != "pending":
                return False
            sku, price, promo_price, promo_end, _ = row
            apply_price(tx, sku, Decimal(price), Decimal(promo_price) if promo_price else None, date.fromisoformat(promo_end) if promo_end else None)
            tx.conn.execute("UPDATE price_changes SET status = 'applied' WHERE id = ?", (change_id,))
            tx.emit("price.applied", {"change_id": change_id, "sku": sku, "price": price, "promo_price": promo_price})
            return True

        if await self._store.write(apply):
            log.info("price.change.applied", change_id=change_id)
