"""SQLite tables of the scale job: an append-only list of migration steps (see edge.store.migrations)."""

from __future__ import annotations

import sqlite_utils

from edge.store.migrations import Step


def _v1(db: sqlite_utils.Database) -> None:
    """Learned/enrolled gallery embeddings, the class -> SKU map of the shipped model, and completed weighings."""
    db["scale_gallery"].create(
        {"id": int, "sku": str, "model_version": str, "source": str, "embedding": bytes, "created_at": str},
        pk="id",
        not_null={"sku", "model_version", "source", "embedding", "created_at"},
    )
    db["scale_gallery"].create_index(["model_version", "sku"])
    db["scale_weighings"].create(
        {
            "id": int, "scale_id": str, "weighing": int, "sku": str, "plu": int, "grams": int, "pieces": int,
            "unit_price": str, "basis": str, "amount": str, "barcode": str, "rank": int, "learned": int, "at": str,
        },
        pk="id",
        not_null={"scale_id", "sku", "unit_price", "amount", "barcode", "at"},
    )


def _v2(db: sqlite_utils.Database) -> None:
    """Each learned example keeps the model's input crop (JPEG) and the row it was re-embedded from: a new model re-embeds instead of forgetting."""
    db["scale_gallery"].add_column("crop", bytes)
    db["scale_gallery"].add_column("from_id", int)


def _v3(db: sqlite_utils.Database) -> None:
    """Shared learning: an imported example names the store it came from (`origin`), when it was learned there and its content hash (replays add nothing)."""
    db["scale_gallery"].add_column("origin", str)
    db["scale_gallery"].add_column("learned_at", str)
    db["scale_gallery"].add_column("hash", str)
    db["scale_gallery"].create_index(["model_version", "hash"])


STEPS: list[Step] = [_v1, _v2, _v3]
