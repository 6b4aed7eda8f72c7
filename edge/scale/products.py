"""The scale catalogue: which products of the store are sold at the scales, in which display unit, found how.

Kept in memory and refreshed after every catalogue commit (only rows whose revision grew are
re-read) and every gallery enrolment, because the touch screen searches on every key. A product is
sold at the scale when the produce file maps a model class to it, `[scale] products` names it (SKU
or `*` pattern), a scale's `plu_map` names it or the gallery holds examples of it — and it has a PLU
for the label's barcode (by weight, or by piece with a scale PLU). Every other product is shelf-only:
never offered, never found, refused by `confirm`.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from fnmatch import fnmatchcase
from typing import Any

from edge.scale.config import ScaleSection
from edge.scale.pricing.quote import Basis, Product, in_unit
from edge.scale.search import Keys, match, normalise
from edge.store import Store


def unit_price(row: Mapping[str, Any], today: date) -> Decimal:
    """The price in force: a promotion while it runs (promo_end inclusive), else the regular price."""
    if row.get("promo_price") and (not row.get("promo_end") or date.fromisoformat(row["promo_end"]) >= today):
        return Decimal(row["promo_price"])
    return Decimal(row["price"])


@dataclass(frozen=True, slots=True)
class Hit:
    """One search result: the product, and how well and where the query matched it."""

    sku: str
    rank: int
    field: str


class ProductView(Mapping[str, dict[str, Any]]):
    """Every catalogue row by SKU (a read-only mapping), and the scale catalogue within it, as of the last refresh."""

    def __init__(self, cfg: ScaleSection | None = None, categories: Mapping[str, str] | None = None, known: frozenset[str] = frozenset()) -> None:
        """Empty until the first `refresh`; `known` are the produce file's SKUs, `categories` their browsing category."""
        self._cfg = cfg or ScaleSection()
        self._categories = dict(categories or {})
        self._known = known | {sku for scale in self._cfg.scales for sku in scale.plu_map}
        self._patterns = tuple(p for p in self._cfg.products if "*" in p)
        self._known |= {p for p in self._cfg.products if "*" not in p}
        self._rows: dict[str, dict[str, Any]] = {}
        self._keys: dict[str, Keys] = {}
        self._enrolled: frozenset[str] = frozenset()
        self._sold: dict[str, None] = {}
        self._revision = 0
        self.display_unit: Basis = "kg"

    def __getitem__(self, sku: str) -> dict[str, Any]:
        """The catalogue row of a SKU."""
        return self._rows[sku]

    def __iter__(self) -> Iterator[str]:
        """SKUs in the order first seen."""
        return iter(self._rows)

    def __len__(self) -> int:
        """How many products the store's catalogue holds."""
        return len(self._rows)

    # ----- refreshing ---------------------------------------------------------------------
    async def follow(self, store: Store) -> None:
        """Refresh after every catalogue commit or gallery enrolment, until cancelled."""
        wake = asyncio.Event()

        async def relay(topic: str) -> None:
            """Turn one topic's commits into a wake-up."""
            changed = store.changed(topic)
            while True:
                await changed.wait()
                changed.clear()
                wake.set()

        async with asyncio.TaskGroup() as group:
            for topic in ("catalog", "scale_gallery"):
                group.create_task(relay(topic), name=f"scale-catalog:{topic}")
            while True:
                await wake.wait()
                wake.clear()
                await self.refresh(store)

    async def refresh(self, store: Store) -> None:
        """Read products changed since the last look and the enrolled SKUs; search keys are computed off the loop (on the read thread)."""
        since = self._revision

        def read(db: Any) -> tuple[list[tuple[dict[str, Any], Keys]], frozenset[str], Counter[str]]:
            """Changed rows with their keys, the SKUs with gallery examples, and the units of by-weight products."""
            rows = [dict(r) for r in db.query("SELECT * FROM products WHERE revision > ? ORDER BY revision", [since])]
            enrolled = frozenset(r[0] for r in db.execute("SELECT DISTINCT sku FROM scale_gallery"))
            units = Counter({r[0]: r[1] for r in db.execute("SELECT unit, count(*) FROM products WHERE sale_mode = 'weight' GROUP BY unit")})
            return [(r, Keys.of(r["name"], r.get("name_en"), r.get("plu"))) for r in rows], enrolled, units

        changed, self._enrolled, units = await store.read(read)
        for row, keys in changed:
            self._rows[row["sku"]] = row
            self._keys[row["sku"]] = keys
            self._revision = max(self._revision, row["revision"])
        self._sold = {sku: None for sku in sorted(self._rows, key=lambda s: (self._keys[s].pinyin, s)) if self._is_sold(sku)}
        wanted = self._cfg.display_unit
        self.display_unit = ("500g" if units["500g"] > units["kg"] else "kg") if wanted == "auto" else wanted

    def _is_sold(self, sku: str) -> bool:
        """Sold at the scale: named for the scales (produce file, config, plu_map, gallery) and with a PLU."""
        named = sku in self._known or sku in self._enrolled or any(fnmatchcase(sku, p) for p in self._patterns)
        return named and self.plu(sku) is not None

    # ----- reading ------------------------------------------------------------------------
    def sold(self, sku: str) -> bool:
        """Whether the scales sell this product (False for a shelf-only or unknown one)."""
        return sku in self._sold

    def plu(self, sku: str, plu_map: Mapping[str, int] | None = None) -> int | None:
        """The PLU on the label: the scale's own (`plu_map`), else the catalogue's, else None."""
        for scale in ([plu_map] if plu_map is not None else [s.plu_map for s in self._cfg.scales]):
            if sku in scale:
                return scale[sku]
        row = self._rows.get(sku)
        return int(row["plu"]) if row is not None and row.get("plu") else None

    def category(self, sku: str) -> str:
        """The browsing category of a product (`other` when its produce-file entry names none)."""
        return self._categories.get(sku, "other")

    def product(self, sku: str, today: date, plu_map: Mapping[str, int] | None = None) -> Product:
        """The product as priced at the scale: the price in force, in the store's display unit for by-weight goods."""
        row = self._rows[sku]
        basis: Basis = row["unit"]
        unit: Basis = "piece" if row["sale_mode"] == "piece" else self.display_unit
        price = unit_price(row, today)
        return Product(self.plu(sku, plu_map) or 0, row["name"], in_unit(price, basis, unit), unit, int(row.get("tare_g") or 0))

    def skus(self) -> list[str]:
        """The scale catalogue in pinyin order."""
        return list(self._sold)

    def search(self, text: str, category: str | None = None) -> list[Hit]:
        """Products of the scale catalogue matching `text` in one field (best first), within `category` if given."""
        query = normalise(text)
        pool = [s for s in self._sold if category is None or self.category(s) == category]
        if not query:
            return [Hit(s, 0, "category") for s in pool] if category is not None else []
        hits = []
        for sku in pool:
            found = match(query, self._keys[sku])
            if found is not None:
                hits.append(Hit(sku, *found))
        hits.sort(key=lambda h: h.rank)  # stable: ties stay in pinyin order
        return hits

