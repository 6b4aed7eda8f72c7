"""The gallery's learned and enrolled examples in SQLite: bounded per product, de-duplicated, per model version.

Each row holds an embedding (512 float32 numbers for the shipped model) and the version of the model that made it:
embeddings of one model version are meaningless to another. A confirmed weighing's row also keeps
the model's own input crop of the frame (the 224x224 platter view as a JPEG of a few kB, `crop`),
so a new model can re-embed what the store learned (edge/scale/recognition/upgrade.py); a row
re-embedded from another version's row names it in `from_id`. The bound and de-duplication act
on rows, so a crop comes and goes with its embedding. The shipped base gallery stays in its .npz.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import sqlite_utils

from edge.store import Tx
from edge.store.db import utc_now

MAX_CROP_BYTES = 64 * 1024  # a 224x224 JPEG at quality 85 is about 15 kB (at most 20 kB measured); a larger one is not a crop this code made


@dataclass(frozen=True, slots=True)
class Kept:
    """Another model version's row with a crop, waiting to be re-embedded."""

    id: int
    sku: str
    source: str
    crop: bytes
    created_at: str


def _unit(embedding: np.ndarray) -> np.ndarray:
    """Finite, non-zero, L2-normalised float32 vector, or ValueError."""
    e = np.asarray(embedding, dtype=np.float32).reshape(-1)
    norm = float(np.linalg.norm(e))
    if not np.isfinite(norm) or norm == 0.0:
        raise ValueError("embedding must be finite and non-zero")
    return e / norm


def examples(db: sqlite_utils.Database, model_version: str, sku: str | None = None) -> list[tuple[str, np.ndarray]]:
    """Stored examples (sku, embedding) of one model version, oldest first; of one product when `sku` is given."""
    sql = "SELECT sku, embedding FROM scale_gallery WHERE model_version = ?"
    params: list[str] = [model_version]
    if sku is not None:
        sql += " AND sku = ?"
        params.append(sku)
    rows = db.execute(sql + " ORDER BY created_at, id", params).fetchall()
    return [(row[0], np.frombuffer(row[1], dtype=np.float32).copy()) for row in rows]


def counts(db: sqlite_utils.Database, model_version: str) -> dict[str, int]:
    """Stored examples per product."""
    rows = db.execute(
        "SELECT sku, count(*) FROM scale_gallery WHERE model_version = ? GROUP BY sku", [model_version]
    ).fetchall()
    return {row[0]: int(row[1]) for row in rows}


def _keep_newest(tx: Tx, model_version: str, sku: str, max_per_product: int) -> None:
    """The per-product bound, learned and imported alike: the newest `max_per_product` examples stay."""
    tx.conn.execute(
        "DELETE FROM scale_gallery WHERE model_version = ? AND sku = ? AND id NOT IN "
        "(SELECT id FROM scale_gallery WHERE model_version = ? AND sku = ? ORDER BY created_at DESC, id DESC LIMIT ?)",
        (model_version, sku, model_version, sku, max_per_product),
    )


def add(
    tx: Tx,
    sku: str,
    model_version: str,
    embeddings: list[np.ndarray],
    *,
    source: str,
    max_per_product: int,
    dedupe_cosine: float,
    crops: Sequence[bytes | None] = (),
) -> int:
    """Store new examples of `sku` (with the crop of each, where given), skipping near-duplicates; the oldest drop past the bound.

    Returns how many were added.
    """
    if any(c is not None and len(c) > MAX_CROP_BYTES for c in crops):
        raise ValueError(f"a crop is larger than {MAX_CROP_BYTES} bytes")
    kept = [e for _, e in examples(tx.db, model_version, sku)]
    added = 0
    now = utc_now()
    for i, embedding in enumerate(embeddings):
        e = _unit(embedding)
        if kept and float(np.max(np.stack(kept) @ e)) > dedupe_cosine:
            continue
        tx.conn.execute(
            "INSERT INTO scale_gallery (sku, model_version, source, embedding, created_at, crop) VALUES (?, ?, ?, ?, ?, ?)",
            (sku, model_version, source, e.tobytes(), now, crops[i] if i < len(crops) else None),
        )
        kept.append(e)
        added += 1
    _keep_newest(tx, model_version, sku, max_per_product)
    return added


# Rows of other versions that are originals: not themselves a re-embedded copy of a row still there
# (an upgrade interrupted and followed by another one leaves both; the oldest row is the original).
_ORIGINALS = (
    "model_version != :v AND (from_id IS NULL OR from_id NOT IN (SELECT id FROM scale_gallery WHERE model_version != :v))"
)
_DONE = "id IN (SELECT from_id FROM scale_gallery WHERE model_version = :v AND from_id IS NOT NULL)"


def other_versions(db: sqlite_utils.Database, model_version: str) -> dict[str, int]:
    """Rows made by any other model version, per version."""
    rows = db.execute(
        "SELECT model_version, count(*) FROM scale_gallery WHERE model_version != ? GROUP BY model_version", [model_version]
    ).fetchall()
    return {row[0]: int(row[1]) for row in rows}


def pending(db: sqlite_utils.Database, model_version: str, after: int, limit: int) -> list[Kept]:
    """Up to `limit` other-version original rows with a crop, not yet re-embedded into `model_version`, id > `after`, by id."""
    rows = db.execute(
        f"SELECT id, sku, source, crop, created_at FROM scale_gallery WHERE {_ORIGINALS} AND crop IS NOT NULL "
        f"AND NOT {_DONE} AND id > :after ORDER BY id LIMIT :limit",
        {"v": model_version, "after": after, "limit": limit},
    ).fetchall()
    return [Kept(int(r[0]), r[1], r[2], bytes(r[3]), r[4]) for r in rows]


def put_reembedded(tx: Tx, model_version: str, rows: Sequence[tuple[Kept, np.ndarray]]) -> int:
    """Store re-embedded rows under `model_version` (crop, source and date kept, `from_id` naming the original); returns how many.

    A row already re-embedded is skipped, so a batch written twice adds nothing. No de-duplication or
    bound: the originals were bounded and de-duplicated when they were learned.
    """
    added = 0
    for kept, embedding in rows:
        done = tx.conn.execute(
            "SELECT 1 FROM scale_gallery WHERE model_version = ? AND from_id = ?", (model_version, kept.id)
        ).fetchone()
        if done is None:
            tx.conn.execute(
                "INSERT INTO scale_gallery (sku, model_version, source, embedding, created_at, crop, from_id) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (kept.sku, model_version, kept.source, _unit(embedding).tobytes(), kept.created_at, kept.crop, kept.id),
            )
            added += 1
    return added


def finish_reembed(tx: Tx, model_version: str) -> dict[str, int]:
    """After the last batch: count what was re-embedded, unusable or without a crop, then delete every other version's row."""
    params = {"v": model_version}
    one = lambda sql: int(tx.conn.execute(sql, params).fetchone()[0])
    summary = {
        "reembedded": one(f"SELECT count(*) FROM scale_gallery WHERE {_ORIGINALS} AND {_DONE}"),
        "unusable": one(f"SELECT count(*) FROM scale_gallery WHERE {_ORIGINALS} AND crop IS NOT NULL AND NOT {_DONE}"),
        "dropped": one(f"SELECT count(*) FROM scale_gallery WHERE {_ORIGINALS} AND crop IS NULL"),
    }
    tx.conn.execute("DELETE FROM scale_gallery WHERE model_version != ?", (model_version,))
    return summary


@dataclass(frozen=True, slots=True)
class Shared:
    """A learned example as one store exports it and another imports it."""

    id: int
    sku: str
    source: str
    embedding: np.ndarray
    learned_at: str
    crop: bytes | None


def exportable(db: sqlite_utils.Database, model_version: str, since: str, after: int, limit: int) -> list[Shared]:
    """This store's own examples (never imported ones) of `model_version`, learned at or after `since`, id > `after`, by id."""
    rows = db.execute(
        "SELECT id, sku, source, embedding, created_at, crop FROM scale_gallery WHERE model_version = ? AND origin IS NULL "
        "AND created_at >= ? AND id > ? ORDER BY id LIMIT ?",
        (model_version, since, after, limit),
    ).fetchall()
    return [Shared(int(r[0]), r[1], r[2], np.frombuffer(r[3], dtype=np.float32).copy(), r[4], None if r[5] is None else bytes(r[5]))
            for r in rows]


@dataclass(frozen=True, slots=True)
class Incoming:
    """One checked example of an import: its unit embedding, crop (or None), when it was learned and its content hash."""

    sku: str
    embedding: np.ndarray
    crop: bytes | None
    learned_at: str
    hash: str


def add_imported(
    tx: Tx, model_version: str, origin: str, items: Sequence[Incoming], *, max_per_product: int, dedupe_cosine: float
) -> tuple[int, int]:
    """Store imported examples with their provenance: one already here by hash, or a near-duplicate, is skipped; the per-product bound applies.

    Returns (added, duplicates).
    """
    added = duplicates = 0
    now = utc_now()
    skus = list(dict.fromkeys(item.sku for item in items))
    for sku in skus:
        kept = [e for _, e in examples(tx.db, model_version, sku)]
        for item in (i for i in items if i.sku == sku):
            seen = tx.conn.execute(
                "SELECT 1 FROM scale_gallery WHERE model_version = ? AND hash = ?", (model_version, item.hash)
            ).fetchone()
            e = _unit(item.embedding)
            if seen is not None or (kept and float(np.max(np.stack(kept) @ e)) > dedupe_cosine):
                duplicates += 1
                continue
            tx.conn.execute(
                "INSERT INTO scale_gallery (sku, model_version, source, embedding, created_at, crop, origin, learned_at, hash) "
                "VALUES (?, ?, 'import', ?, ?, ?, ?, ?, ?)",
                (sku, model_version, e.tobytes(), now, item.crop, origin, item.learned_at, item.hash),
            )
            kept.append(e)
            added += 1
        _keep_newest(tx, model_version, sku, max_per_product)
    return added, duplicates


def origins(db: sqlite_utils.Database, model_version: str) -> dict[str, int]:
    """Imported examples kept, per store they came from."""
    rows = db.execute(
        "SELECT origin, count(*) FROM scale_gallery WHERE model_version = ? AND origin IS NOT NULL GROUP BY origin", [model_version]
    ).fetchall()
    return {row[0]: int(row[1]) for row in rows}


def remove_imported(tx: Tx, origin: str, sku: str | None = None) -> list[str]:
    """Delete every example imported from `origin` (of one product when `sku` is given); the products that lost examples."""
    where, params = "origin = ?", [origin]
    if sku is not None:
        where, params = where + " AND sku = ?", [origin, sku]
    skus = [r[0] for r in tx.conn.execute(f"SELECT DISTINCT sku FROM scale_gallery WHERE {where}", params)]
    tx.conn.execute(f"DELETE FROM scale_gallery WHERE {where}", params)
    return skus
