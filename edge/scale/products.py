"""The scale's view of the catalogue: products by SKU, the price in force, and search by name, pinyin, SKU or PLU.

Kept in memory and refreshed after every catalogue commit (only rows whose revision grew are
re-read), because the touch screen searches on every keystroke.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from pypinyin import Style, lazy_pinyin

from edge.scale.pricing.quote import money
from edge.store import Store


def _pinyin_keys(name: str) -> str:
    """Full pinyin and initials of a Chinese name, so 'xiangjiao' and 'xj' both find 香蕉."""
    return "".join(lazy_pinyin(name)) + " " + "".join(lazy_pinyin(name, style=Style.FIRST_LETTER))


def unit_price(row: dict[str, Any], today: date) -> Decimal:
    """The price in force: a promotion while it runs (promo_end inclusive), else the regular price."""
    if row.get("promo_price") and (not row.get("promo_end") or date.fromisoformat(row["promo_end"]) >= today):
        return Decimal(row["promo_price"])
    return Decimal(row["price"])


class ProductView(Mapping[str, dict[str, Any]]):
    """Catalogue rows by SKU (a read-only mapping) and their search keys, as of the last refresh."""

    def __init__(self) -> None:
        """Empty until the first `refresh`."""
        self._rows: dict[str, dict[str, Any]] = {}
        self._search_keys: dict[str, str] = {}
        self._revision = 0

    def __getitem__(self, sku: str) -> dict[str, Any]:
        """The catalogue row of a SKU."""
        return self._rows[sku]

    def __iter__(self) -> Iterator[str]:
        """SKUs in the order first seen."""
        return iter(self._rows)

    def __len__(self) -> int:
        """How many products the view holds."""
        return len(self._rows)

    async def follow(self, store: Store) -> None:
        """Refresh after every catalogue commit, until cancelled."""
        changed = store.changed("catalog")
        while True:
            await changed.wait()
            changed.clear()
            await self.refresh(store)

    async def refresh(self, store: Store) -> None:
        """Read products changed since the last look; search keys are computed off the loop (on the read thread)."""
        since = self._revision

        def read(db: Any) -> list[tuple[dict[str, Any], str]]:
            """Changed rows with their search keys."""
            rows = [dict(r) for r in db.query("SELECT * FROM products WHERE revision > ? ORDER BY revision", [since])]
            return [(r, " ".join([r["sku"].casefold(), r["name"], (r.get("name_en") or "").casefold(), r.get("plu") or "", _pinyin_keys(r["name"])])) for r in rows]

        for row, keys in await store.read(read):
            self._rows[row["sku"]] = row
            self._search_keys[row["sku"]] = keys
            self._revision = max(self._revision, row["revision"])

    def describe(self, sku: str) -> dict[str, Any]:
        """What the screen shows for a product: name, price in force and unit."""
        row = self._rows.get(sku)
        if row is None:
            return {"sku": sku, "name": None, "price": None, "unit": None}
        return {"sku": sku, "name": row["name"], "price": money(unit_price(row, date.today())), "unit": row["unit"]}

    def search(self, text: str, limit: int = 20) -> list[dict[str, Any]]:
        """Products whose name, English name, pinyin (full or initials), sku or PLU contain `text`."""
        needle = text.strip().casefold().replace(" ", "")
        if not needle:
            return []
        hits = [sku for sku, keys in self._search_keys.items() if needle in keys.replace(" ", "") or needle in keys]
        return [self.describe(sku) for sku in hits[:limit]]
