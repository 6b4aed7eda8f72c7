"""The product catalogue: `product.upsert`, `price.update` (immediate or scheduled) and `price.history`, shared by every job.

Owned by the core because shelf labels and scales both price from it; jobs read the
`products` table and wait on `store.changed("catalog")`. Each product carries a `revision`
that grows with every change, so a job can tell which products changed since it last looked.
A scheduled change is a row in `price_changes` plus a persistent scheduler job; applying it
is idempotent (only a `pending` change is applied), which makes "fires once" hold across restarts.
Every change of a product's prices is a row of the price history (edge/prices/history.py) written in
the same transaction, and a promotion's original price is judged against that history when it takes
effect (edge/prices/promotions.py): an item breaking a rule is refused on its own, the rest is applied. The history
row of an item applied records the checks it passed: the label content rules (edge/prices/rules.py) and its 原价's.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

import sqlite_utils
import structlog
from pydantic import (
    Field,
    PrivateAttr,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    model_validator,
)

from edge.config import Config, PricesSection
from edge.jobs import catalog_checks
from edge.prices import history, promotions, rules
from edge.prices.history import Entry, money_text, stamp
from edge.prices.promotions import Refusal
from edge.prices.rules import LabelRules, Passed, Proposed
from edge.scheduler import Scheduler
from edge.store import Store, Tx
from edge.store.migrations import Step
from edge.sync.commands import Args, CommandError, CommandRegistry
from edge.sync.fields import Date, Money, Printable, Sku, Timestamp

log = structlog.get_logger("catalog")

MAX_BATCH = 10_000
#: Refused items, and items shown without 原价, listed in one reply (all are counted).
MAX_LISTED = 1_000
#: How often history older than `[prices]` keeps is deleted, and how many rows per write.
PRUNE_EVERY_S = 3600
PRUNE_ROWS = 5_000
_CHUNK = 500  # SKUs per IN (...) query


def _promotion_fields(promo_price: Decimal | None, promo_end: date | None, promo_base: Decimal | None) -> None:
    """A promotion's end or stated base needs the promotion."""
    if promo_price is None and promo_end is not None:
        raise ValueError("promo_end given without promo_price")
    if promo_price is None and promo_base is not None:
        raise ValueError("promo_base given without promo_price")


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
    promo_base: Money | None = None  # HQ's stated original price: shown only if the history allows it
    qr_url: Annotated[str, Field(max_length=200), Printable] | None = None
    spec: Annotated[str, Field(max_length=32), Printable] = ""
    origin: Annotated[str, Field(max_length=32), Printable] = ""
    _unit_missing: bool = PrivateAttr(False)  # sold by weight without a unit: refused on its own (rules.PRICING_UNIT)

    @model_validator(mode="after")
    def _consistent(self) -> ProductItem:
        if (self.sale_mode == "weight") != (self.unit in ("kg", "500g")):
            raise ValueError("sale_mode 'weight' needs unit 'kg' or '500g'; 'piece' needs unit 'piece'")
        _promotion_fields(self.promo_price, self.promo_end, self.promo_base)
        return self


def _unit_given(value: Any, handler: ValidatorFunctionWrapHandler) -> ProductItem:
    """An item sold by weight without a unit is checked like the others and marked, so it alone is refused."""
    if isinstance(value, dict) and value.get("sale_mode") == "weight" and "unit" not in value:
        item: ProductItem = handler({**value, "unit": "kg"})
        item._unit_missing = True
        return item
    return handler(value)  # type: ignore[no-any-return]


class UpsertArgs(Args):
    """`product.upsert` arguments."""

    items: Annotated[list[Annotated[ProductItem, WrapValidator(_unit_given)]], Field(min_length=1, max_length=MAX_BATCH)]


class PriceItem(Args):
    """One price change of `price.update`; a promotion is set with promo_price (and optionally promo_end, promo_base), cleared with null."""

    sku: Sku
    price: Money
    promo_price: Money | None = None
    promo_end: Date | None = None
    promo_base: Money | None = None
    effective_at: Timestamp | None = None

    @model_validator(mode="after")
    def _consistent(self) -> PriceItem:
        _promotion_fields(self.promo_price, self.promo_end, self.promo_base)
        return self


class PriceArgs(Args):
    """`price.update` arguments."""

    items: Annotated[list[PriceItem], Field(min_length=1, max_length=MAX_BATCH)]


class HistoryArgs(Args):
    """`price.history` arguments: one product's prices in force during [from, to), a page at a time."""

    sku: Sku
    from_: Timestamp | None = Field(default=None, alias="from")
    to: Timestamp | None = None
    limit: Annotated[int, Field(ge=1, le=1000)] = 100
    cursor: Annotated[str, Field(pattern=r"^[0-9]{1,18}\.[01]$")] | None = None

    @model_validator(mode="after")
    def _ordered(self) -> HistoryArgs:
        if self.from_ is not None and self.to is not None and self.to <= self.from_:
            raise ValueError("'to' must be later than 'from'")
        return self


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


def _v2(db: sqlite_utils.Database) -> None:
    """Price history (a first row per product already known), and the original price a promotion shows."""
    db.execute("ALTER TABLE products ADD COLUMN promo_base TEXT")
    db.execute("ALTER TABLE price_changes ADD COLUMN promo_base TEXT")
    history.create(db)


STEPS: list[Step] = [_v1, _v2, history.record_requests]


@dataclass(frozen=True)
class Change:
    """A product's new prices, however they came: an upsert item, a `price.update` item, a scheduled change."""

    sku: str
    price: Decimal
    promo_price: Decimal | None
    promo_end: date | None
    promo_base: Decimal | None  # the base HQ stated, still to be judged

    @classmethod
    def of(cls, item: ProductItem | PriceItem) -> Change:
        """The prices of a command's item."""
        return cls(item.sku, item.price, item.promo_price, item.promo_end, item.promo_base)


@dataclass
class Verdicts:
    """The items of one command that were refused, and those applied without 原价, as its reply lists them (bounded)."""

    refused: list[dict[str, Any]] = field(default_factory=list)
    refused_count: int = 0
    plain: list[dict[str, Any]] = field(default_factory=list)
    plain_count: int = 0

    def refuse(self, index: int, sku: str, refusal: Refusal) -> None:
        """Item `index` was not applied."""
        self.refused_count += 1
        if len(self.refused) < MAX_LISTED:
            self.refused.append(refusal.listed(f"items[{index}].", sku, index=index))

    def note(self, index: int, sku: str, plain: Refusal | None) -> None:
        """Item `index` was applied; its promotion shows no 原价 if `plain` says why."""
        if plain is None:
            return
        self.plain_count += 1
        if len(self.plain) < MAX_LISTED:
            self.plain.append(plain.noted(f"items[{index}].", sku, index=index))

    def result(self, command: str) -> dict[str, Any]:
        """The reply's part, only what there is (a batch with nothing to say is answered as before), and one log line for refusals."""
        found: dict[str, Any] = {}
        if self.refused_count:
            log.warning("price.items.refused", command=command, refused=self.refused_count, first=self.refused[0]["message"])
            found.update(refused=self.refused, refused_count=self.refused_count)
        if self.plain_count:
            found.update(plain=self.plain, plain_count=self.plain_count)
        return found


_UNIT_MISSING = Refusal("unit", rules.PRICING_UNIT, "a product sold by weight needs its 计价单位: unit 'kg' or '500g'")


def _next_revision(tx: Tx) -> int:
    return int(tx.conn.execute("SELECT coalesce(max(revision), 0) + 1 FROM products").fetchone()[0])


def _products(conn: sqlite3.Connection, skus: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The prices of the `products` rows of `skus` that exist."""
    found: dict[str, dict[str, Any]] = {}
    unique = sorted(set(skus))
    for start in range(0, len(unique), _CHUNK):
        chunk = unique[start:start + _CHUNK]
        cur = conn.execute(
            f"SELECT sku, price, promo_price, promo_end, updated_at FROM products WHERE sku IN ({','.join('?' * len(chunk))})", chunk
        )
        found.update((r[0], {"price": r[1], "promo_price": r[2], "promo_end": r[3], "updated_at": r[4]}) for r in cur)
    return found


def _seeded(sku: str, row: dict[str, Any], prior: Entry | None, now: datetime) -> Entry:
    """The catalogue row as a history row, in force since it was written (as far as the row tells, and not before `prior`)."""
    try:
        since = min(history.parse_stamp(row["updated_at"]), now)
    except (TypeError, ValueError):
        since = now
    return Entry(
        sku, since if prior is None else max(since, prior.valid_from), Decimal(row["price"]),
        None if row["promo_price"] is None else Decimal(row["promo_price"]),
        None if row["promo_end"] is None else date.fromisoformat(row["promo_end"]), kind="seeded",
    )


class Catalog:
    """Registers the catalogue commands, the scheduled-change action and the history's clean-up."""

    ACTION = "catalog.apply_change"

    def __init__(self, store: Store, scheduler: Scheduler, config: Config, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        """`config` gives `[prices]` and the store's time zone (a promotion ends at its midnight); `clock` is injected for tests."""
        self._store = store
        self._scheduler = scheduler
        self._prices = config.prices
        self._tz = ZoneInfo(config.store.timezone)
        self._clock = clock
        self._rules = LabelRules(config.prices.rules, catalog_checks(config))
        scheduler.action(self.ACTION, self._apply_change)
        scheduler.every("price.history.prune", PRUNE_EVERY_S, self.prune)

    def reload(self, prices: PricesSection) -> None:
        """`config.set` changed `[prices]` keys that are read per command (edge/remote_config.py CORE_HOT_KEYS): use them from now."""
        self._prices = prices.model_copy(update={"rules": self._prices.rules})  # the rules were built into LabelRules at start

    def register(self, registry: CommandRegistry) -> None:
        """Add `product.upsert`, `price.update` and `price.history`."""
        registry.register("product.upsert", UpsertArgs, self._upsert)
        registry.register("price.update", PriceArgs, self._price_update)
        registry.register("price.history", HistoryArgs, self._history, "A product's prices in force over time")

    def _now(self) -> datetime:
        """The clock, to the millisecond the history stores."""
        now = self._clock()
        return now.replace(microsecond=now.microsecond // 1000 * 1000)

    def _histories(self, tx: Tx, skus: Sequence[str], now: datetime, rows: dict[str, dict[str, Any]] | None = None) -> dict[str, Entry]:
        """The newest history row of each product of `skus` (catalogue `rows` if read already), after recording the
        catalogue row of one that something else changed."""
        last = history.latest(tx.conn, skus)
        for sku, row in (_products(tx.conn, skus) if rows is None else rows).items():
            prior = last.get(sku)
            if prior is None or not prior.same_prices(row):
                last[sku] = _seeded(sku, row, prior, now)
                history.append(tx.conn, last[sku], stamp(now))
        return last

    def _lowest_before(self, conn: sqlite3.Connection, sku: str, start: datetime) -> Decimal | None:
        """The lowest price in force in the look-back before a promotion beginning at `start` (None: too little history)."""
        first = history.first_seen(conn, sku)
        if first is None or start - first < timedelta(hours=self._prices.min_history_hours):
            return None
        since = start - timedelta(days=self._prices.lookback_days)
        return history.lowest(history.intervals(history.rows_since(conn, sku, since), self._tz, start), since, start)

    def _judge(self, tx: Tx, change: Change, last: Entry | None, now: datetime, kind: str,
               change_id: int | None = None, checks: Passed = ()) -> tuple[Entry, Refusal | None] | Refusal:
        """The history row `change` writes at `now` (with the label content rules it passed, `checks`), its promotion
        judged (and why it shows no 原价); or why it is refused."""
        valid_from = now if last is None else max(now, last.valid_from)
        verdict = promotions.Verdict(None, None)
        if change.promo_price is not None:
            if last is not None and last.promotion_at(valid_from, self._tz):
                limit = last.base_limit  # the running promotion goes on: judged against the prices before it began
            else:
                limit = self._lowest_before(tx.conn, change.sku, valid_from)
            judged = promotions.judge(change.promo_price, change.promo_base, limit, self._prices)
            if isinstance(judged, Refusal):
                return judged
            verdict = judged
        entry = Entry(change.sku, valid_from, change.price, change.promo_price, change.promo_end, verdict.promo_base,
                      verdict.base_limit, kind, change_id, checks=checks)
        return entry, verdict.plain

    def _apply(self, tx: Tx, entry: Entry, revision: int, last: Entry | None) -> Entry:
        """Set a product's prices now as `revision`, recorded unless they repeat `last`; returns the product's newest history row.
        Jobs showing it see the new revision."""
        when = stamp(entry.valid_from)
        repeated = entry.repeats(last)
        if not repeated:
            history.append(tx.conn, entry, when)
        tx.conn.execute(
            "UPDATE products SET price = ?, promo_price = ?, promo_end = ?, promo_base = ?, updated_at = ?, revision = ? WHERE sku = ?",
            (money_text(entry.price), money_text(entry.promo_price), entry.promo_end.isoformat() if entry.promo_end else None,
             money_text(entry.promo_base), when, revision, entry.sku),
        )
        tx.notify("catalog")
        return last if repeated and last is not None else entry

    def _upsert(self, tx: Tx, args: UpsertArgs) -> dict[str, Any]:
        """Create or replace products; labels showing them are re-rendered by the ESL job. An item breaking a price rule is refused alone."""
        now = self._now()
        last = self._histories(tx, [item.sku for item in args.items], now)
        verdicts = Verdicts()
        revision = _next_revision(tx)
        rows = []
        unlawful = self._upsert_rules(tx.conn, args.items)
        for index, item in enumerate(args.items):
            passed = unlawful[index]
            if isinstance(passed, Refusal):
                verdicts.refuse(index, item.sku, passed)
                continue
            judged = self._judge(tx, Change.of(item), last.get(item.sku), now, "upsert", checks=passed)
            if isinstance(judged, Refusal):
                verdicts.refuse(index, item.sku, judged)
                continue
            entry, plain = judged
            if not entry.repeats(last.get(item.sku)):
                history.append(tx.conn, entry, stamp(now))
                last[item.sku] = entry
            verdicts.note(index, item.sku, plain)
            row = item.model_dump(mode="json")
            row.update(price=money_text(item.price), promo_price=money_text(item.promo_price), promo_base=money_text(entry.promo_base),
                       updated_at=stamp(entry.valid_from), revision=revision + len(rows))
            rows.append(row)
        if rows:
            tx.db["products"].upsert_all(rows, pk="sku")
            tx.notify("catalog")
        return {"accepted": len(rows), **verdicts.result("product.upsert")}

    def _price_update(self, tx: Tx, args: PriceArgs) -> dict[str, Any]:
        """Change prices now, or schedule them (`effective_at`); unknown SKUs reject the whole batch, an item breaking a price rule only itself."""
        known = _products(tx.conn, [item.sku for item in args.items])
        for index, item in enumerate(args.items):
            if item.sku not in known:
                raise CommandError("not_found", f"items[{index}].sku: unknown product {item.sku!r}")
        now = self._now()
        last = self._histories(tx, [item.sku for item in args.items], now, known)
        verdicts = Verdicts()
        revision = _next_revision(tx)
        applied, scheduled = 0, []
        unlawful = self._price_rules(tx.conn, args.items, now)
        for index, item in enumerate(args.items):
            passed = unlawful[index]
            if isinstance(passed, Refusal):
                verdicts.refuse(index, item.sku, passed)
                continue
            if item.effective_at is None or item.effective_at <= now:
                judged = self._judge(tx, Change.of(item), last.get(item.sku), now, "immediate", checks=passed)
                if isinstance(judged, Refusal):
                    verdicts.refuse(index, item.sku, judged)
                    continue
                last[item.sku] = self._apply(tx, judged[0], revision + applied, last.get(item.sku))
                verdicts.note(index, item.sku, judged[1])
                applied += 1
                continue
            when = stamp(item.effective_at)
            change_id = tx.db["price_changes"].insert(
                {
                    "sku": item.sku, "price": money_text(item.price), "promo_price": money_text(item.promo_price),
                    "promo_end": item.promo_end.isoformat() if item.promo_end else None, "promo_base": money_text(item.promo_base),
                    "effective_at": when, "status": "pending", "created_at": stamp(now), **history.requested(),
                }
            ).last_pk
            at = item.effective_at
            tx.after_commit(lambda cid=change_id, at=at: self._scheduler.at(f"price-change-{cid}", at, self.ACTION, change_id=cid))
            scheduled.append({"sku": item.sku, "change_id": change_id, "effective_at": when})
        return {"accepted": applied + len(scheduled), "applied": applied, "scheduled": scheduled, **verdicts.result("price.update")}

    def _upsert_rules(self, conn: sqlite3.Connection, items: Sequence[ProductItem]) -> list[Refusal | Passed]:
        """The label content rules on products (one sold by weight without a unit refused whatever the rule set), each
        item's broken rule or the rules it passed. The original price a promotion shows is judged after them
        (edge/prices/promotions.py), so none is proposed."""
        found: list[Refusal | Passed] = [_UNIT_MISSING if item._unit_missing else (rules.PRICING_UNIT,) for item in items]
        kept = [i for i, verdict in enumerate(found) if not isinstance(verdict, Refusal)]
        proposed = [Proposed({**items[i].model_dump(mode="json"), "promo_base": None}) for i in kept]
        for i, verdict in zip(kept, self._rules.check(conn, proposed), strict=True):
            found[i] = verdict if isinstance(verdict, Refusal) else (rules.PRICING_UNIT, *verdict)
        return found

    def _price_rules(self, conn: sqlite3.Connection, items: Sequence[PriceItem | Change], now: datetime) -> list[Refusal | Passed]:
        """The label content rules on price changes: each product as the change would leave it (its 原价 judged after);
        each item's broken rule or the rules it passed."""
        if not self._rules.enabled:
            return [() for _ in items]
        products = rules.stored(conn, [item.sku for item in items])
        proposed = []
        for item in items:
            row = {**products[item.sku], "price": money_text(item.price), "promo_price": money_text(item.promo_price),
                   "promo_end": item.promo_end.isoformat() if item.promo_end else None, "promo_base": None}
            due = getattr(item, "effective_at", None)
            proposed.append(Proposed(row, rules.PRICE_FIELDS, now=due is None or due <= now))
        return self._rules.check(conn, proposed)

    def _history(self, tx: Tx, args: HistoryArgs) -> dict[str, Any]:
        """A product's prices in force during [from, to), oldest first, a page at a time."""
        if not _products(tx.conn, [args.sku]):
            raise CommandError("not_found", f"sku: unknown product {args.sku!r}")
        now = self._now()
        self._histories(tx, [args.sku], now)  # a product another part of the store changed is recorded first
        after = None if args.cursor is None else tuple(int(part) for part in args.cursor.split("."))
        found, more = history.page(tx.conn, args.sku, self._tz, (args.from_, args.to), after, args.limit, now)  # type: ignore[arg-type]
        return {"sku": args.sku, "intervals": [i.as_json() for i in found], "next_cursor": None if more is None else f"{more[0]}.{more[1]}"}

    async def _apply_change(self, change_id: int) -> None:
        """Persistent job body: apply change `change_id` if it is still pending (so a repeat is harmless), its promotion judged now."""

        def apply(tx: Tx) -> Refusal | bool:
            row = tx.conn.execute(
                "SELECT sku, price, promo_price, promo_end, promo_base, status FROM price_changes WHERE id = ?", (change_id,)
            ).fetchone()
            if row is None or row[5] != "pending":
                return False
            sku, price, promo_price, promo_end, promo_base, _ = row
            change = Change(sku, Decimal(price), None if promo_price is None else Decimal(promo_price),
                            None if promo_end is None else date.fromisoformat(promo_end), None if promo_base is None else Decimal(promo_base))
            now = self._now()
            last = self._histories(tx, [sku], now).get(sku)
            passed = self._price_rules(tx.conn, [change], now)[0]
            judged = passed if isinstance(passed, Refusal) else self._judge(tx, change, last, now, "scheduled", change_id, passed)
            if isinstance(judged, Refusal):
                tx.conn.execute("UPDATE price_changes SET status = 'refused' WHERE id = ?", (change_id,))
                tx.emit("price.refused", judged.listed("", sku, change_id=change_id))
                return judged
            entry = judged[0]
            self._apply(tx, entry, _next_revision(tx), last)
            tx.conn.execute("UPDATE price_changes SET status = 'applied' WHERE id = ?", (change_id,))
            tx.emit("price.applied", {"change_id": change_id, "sku": sku, "price": price, "promo_price": promo_price,
                                      "promo_base": money_text(entry.promo_base)})
            return True

        outcome = await self._store.write(apply)
        if isinstance(outcome, Refusal):
            log.warning("price.change.refused", change_id=change_id, rule=outcome.rule, problem=outcome.problem)
        elif outcome:
            log.info("price.change.applied", change_id=change_id)

    async def prune(self) -> int:
        """Delete the history no look-back or retention needs any more (`[prices]`), a bounded write at a time; returns the rows."""
        cutoff = self._now() - timedelta(days=self._prices.kept_days)
        total = 0
        while True:
            removed = await self._store.write(lambda tx: history.prune(tx.conn, cutoff, PRUNE_ROWS))
            total += removed
            if removed < PRUNE_ROWS:
                break
        if total:
            log.info("price.history.pruned", rows=total, before=stamp(cutoff))
        return total
