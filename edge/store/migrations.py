"""Versioned schema migrations, one append-only list per owner (the core and each job).

Each owner's version is recorded in `schema_versions`; a job adds tables by appending a
step to its own list (in `edge/<job>/schema.py`), so jobs never edit each other's history.
Never edit a step that has shipped; add the next one.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence

import sqlite_utils

Step = Callable[[sqlite_utils.Database], None]


def _core_v1(db: sqlite_utils.Database) -> None:
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
    db["inbox"].create({"id": str, "name": str, "received_at": str, "reply": str}, pk="id")
    db["inbox"].create_index(["received_at"])
    db["meta"].create({"key": str, "value": str}, pk="key")


CORE: list[Step] = [_core_v1]


def migrate(conn: sqlite3.Connection, owners: Mapping[str, Sequence[Step]]) -> dict[str, int]:
    """Bring every owner's tables to their newest version, one transaction per step; returns the versions."""
    db = sqlite_utils.Database(conn)
    conn.execute("CREATE TABLE IF NOT EXISTS schema_versions (owner TEXT PRIMARY KEY, version INTEGER NOT NULL)")
    reached: dict[str, int] = {}
    for owner, steps in owners.items():
        row = conn.execute("SELECT version FROM schema_versions WHERE owner = ?", (owner,)).fetchone()
        version = row[0] if row else 0
        if version > len(steps):
            raise RuntimeError(
                f"schema of {owner!r} is at version {version}, newer than this store-edge knows ({len(steps)}); refusing to downgrade"
            )
        for number, step in enumerate(steps[version:], start=version + 1):
            conn.execute("BEGIN IMMEDIATE")
            try:
                step(db)
                conn.execute(
                    "INSERT INTO schema_versions (owner, version) VALUES (?, ?) "
                    "ON CONFLICT(owner) DO UPDATE SET version = excluded.version",
                    (owner, number),
                )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        reached[owner] = len(steps)
    return reached
