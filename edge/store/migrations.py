"""Versioned schema migrations, applied in order and recorded in `PRAGMA user_version`.

A migration is append-only: never edit one that has shipped; add the next.
Jobs add their own tables by appending here, so the schema has one history.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

import sqlite_utils


def _v1_core(db: sqlite_utils.Database) -> None:
    """Outbox, inbox and key/value metadata: what the sync link needs."""
    db.execute(
        """CREATE TABLE outbox (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            id TEXT NOT NULL UNIQUE,
            kind TEXT NOT NULL,
            ts TEXT NOT NULL,
            data TEXT NOT NULL
        )"""
    )
    db["inbox"].create(
        {"id": str, "name": str, "received_at": str, "reply": str},
        pk="id",
    )
    db["inbox"].create_index(["received_at"])
    db["meta"].create({"key": str, "value": str}, pk="key")


MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [_v1_core]


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the database to the newest schema, one transaction per step; returns the version reached."""
    db = sqlite_utils.Database(conn)
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > len(MIGRATIONS):
        raise RuntimeError(
            f"database schema version {version} is newer than this store-edge ({len(MIGRATIONS)}); refusing to downgrade"
        )
    for number, step in enumerate(MIGRATIONS[version:], start=version + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            step(db)
            conn.execute(f"PRAGMA user_version = {number}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return len(MIGRATIONS)
