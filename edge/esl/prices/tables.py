"""SQLite tables of price labels (see edge.esl.schema for the order they are created in)."""

from __future__ import annotations

import sqlite_utils


def v1(db: sqlite_utils.Database) -> None:
    """The push work queue: at most one pending image per label, with its attempts and next try."""
    db["esl_work"].create(
        {"label": str, "sku": str, "revision": int, "digest": str, "attempts": int, "next_at": float,
         "status": str, "last_error": str, "queued_at": str},
        pk="label",
        not_null={"attempts", "next_at", "status"},
    )
    db["esl_work"].create_index(["status", "next_at"])
