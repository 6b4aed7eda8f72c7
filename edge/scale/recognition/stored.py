"""The gallery's learned and enrolled examples in SQLite: bounded per product, de-duplicated, per model version.

Only embeddings are stored (256 float32 numbers per example), never an image. The shipped base
gallery (train + val embeddings keyed by class name) stays in its .npz; what the store learns on
top of it lives here and survives restarts. Embeddings of one model version are meaningless to
another, so every row carries the version that made it.
"""

from __future__ import annotations

import numpy as np
import sqlite_utils

from edge.store import Tx
from edge.store.db import utc_now


def _unit(embedding: np.ndarray) -> np.ndarray:
    """Finite, non-zero, L2-normalised float32 vector, or ValueError."""
    e = np.asarray(embedding, dtype=np.float32).reshape(-1)
    norm = float(np.linalg.norm(e))
    if not np.isfinite(norm) or norm == 0.0:
        raise ValueError("embedding must be finite and non-zero")
    return e / norm


def examples(db: sqlite_utils.Database, model_version: str, sku: str | None = None) -> list[tuple[str, np.ndarray]]:
    """Stored examples (sku, embedding), oldest first; of one product when `sku` is given."""
    sql = "SELECT sku, embedding FROM scale_gallery WHERE model_version = ?"
    params: list[str] = [model_version]
    if sku is not None:
        sql += " AND sku = ?"
        params.append(sku)
    rows = db.execute(sql + " ORDER BY id", params).fetchall()
    return [(row[0], np.frombuffer(row[1], dtype=np.float32).copy()) for row in rows]


def counts(db: sqlite_utils.Database, model_version: str) -> dict[str, int]:
    """Stored examples per product."""
    rows = db.execute(
        "SELECT sku, count(*) FROM scale_gallery WHERE model_version = ? GROUP BY sku", [model_version]
    ).fetchall()
    return {row[0]: int(row[1]) for row in rows}


def add(
    tx: Tx,
    sku: str,
    model_version: str,
    embeddings: list[np.ndarray],
    *,
    source: str,
    max_per_product: int,
    dedupe_cosine: float,
) -> int:
    """Store new examples of `sku` (skipping near-duplicates), drop the oldest past the bound; returns how many were added."""
    kept = [e for _, e in examples(tx.db, model_version, sku)]
    added = 0
    now = utc_now()
    for embedding in embeddings:
        e = _unit(embedding)
        if kept and float(np.max(np.stack(kept) @ e)) > dedupe_cosine:
            continue
        tx.conn.execute(
            "INSERT INTO scale_gallery (sku, model_version, source, embedding, created_at) VALUES (?, ?, ?, ?, ?)",
            (sku, model_version, source, e.tobytes(), now),
        )
        kept.append(e)
        added += 1
    tx.conn.execute(
        "DELETE FROM scale_gallery WHERE model_version = ? AND sku = ? AND id NOT IN "
        "(SELECT id FROM scale_gallery WHERE model_version = ? AND sku = ? ORDER BY id DESC LIMIT ?)",
        (model_version, sku, model_version, sku, max_per_product),
    )
    return added
