"""The produce file: which catalogue product (sku) each class of the shipped model is, and demo products to seed.

The model's base gallery is keyed by class name ("Banana"); the store sells SKUs. The file maps one
to the other and may carry the product fields too, so a demo store can be seeded idempotently
(only SKUs missing from the catalogue are inserted; HQ's `product.upsert` stays the owner of prices),
and the product's browsing category on the scale screen (`"category"`: fruit, vegetables, packaged, other).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from edge.catalog import ProductItem
from edge.store import Tx
from edge.store.db import utc_now
from edge.sync.commands import describe_validation


# Browsing categories of the scale screen, in the order it shows them: id -> (Chinese, English).
CATEGORIES: dict[str, tuple[str, str]] = {
    "fruit": ("水果", "Fruit"),
    "vegetables": ("蔬菜", "Vegetables"),
    "packaged": ("包装食品", "Packaged goods"),
    "other": ("其他", "Other"),
}


class ProduceFileError(ValueError):
    """The produce file cannot be read or has an invalid entry."""


@dataclass(frozen=True)
class ProduceMap:
    """Class name -> sku, the products to seed (validated as `product.upsert` items) and sku -> browsing category."""

    skus: dict[str, str]
    products: list[ProductItem]
    categories: dict[str, str] = field(default_factory=dict)


def load(path: Path) -> ProduceMap:
    """Read and validate the produce file; ProduceFileError names the offending entry."""
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
        entries: list[dict[str, Any]] = body["products"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ProduceFileError(f"{path}: {err}") from err
    skus: dict[str, str] = {}
    products: list[ProductItem] = []
    categories: dict[str, str] = {}
    for index, entry in enumerate(entries):
        fields = {k: v for k, v in entry.items() if k not in ("class", "category")}
        if "class" not in entry or "sku" not in entry:
            raise ProduceFileError(f"{path}: products[{index}]: needs 'class' and 'sku'")
        skus[str(entry["class"])] = str(entry["sku"])
        if "category" in entry:
            if entry["category"] not in CATEGORIES:
                raise ProduceFileError(f"{path}: products[{index}]: category must be one of {', '.join(CATEGORIES)}")
            categories[str(entry["sku"])] = entry["category"]
        if "name" in fields and "price" in fields:
            try:
                products.append(ProductItem.model_validate(fields))
            except ValidationError as err:
                raise ProduceFileError(f"{path}: products[{index}]: {describe_validation(err)}") from err
    return ProduceMap(skus, products, categories)


def seed(tx: Tx, products: list[ProductItem]) -> int:
    """Insert the products the catalogue does not have yet (a restart inserts nothing); returns how many."""
    known = {row[0] for row in tx.conn.execute("SELECT sku FROM products")}
    missing = [p for p in products if p.sku not in known]
    if not missing:
        return 0
    revision = int(tx.conn.execute("SELECT coalesce(max(revision), 0) + 1 FROM products").fetchone()[0])
    now = utc_now()
    rows = []
    for offset, item in enumerate(missing):
        row = item.model_dump(mode="json")
        row.update(
            price=f"{item.price:.2f}",
            promo_price=None if item.promo_price is None else f"{item.promo_price:.2f}",
            updated_at=now,
            revision=revision + offset,
        )
        rows.append(row)
    tx.db["products"].insert_all(rows, pk="sku")
    tx.notify("catalog")
    return len(rows)
