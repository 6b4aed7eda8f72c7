"""Dead letters: a command message that keeps failing is acknowledged and recorded instead of redelivered forever.

The broker redelivers a command until the daemon acknowledges it. A message whose handling
kills the daemon (or hangs it until the watchdog does) would therefore come back after every
restart. Each redelivery (MQTT's DUP flag) is counted in `command_deliveries` *before* it is
handled, and the count is dropped once it is answered; a message redelivered `redeliveries`
times without an answer is not handled again but recorded in `dead_letters`, announced with a
`command.dead_letter` event in the same transaction, answered `internal` and acknowledged.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import sqlite_utils

from edge.store import Tx
from edge.store.db import utc_now
from edge.store.migrations import Step

#: How much of a dead letter's payload is kept for people to look at.
HEAD_BYTES = 256
_COMMAND_CHARS = 200


def _v1(db: sqlite_utils.Database) -> None:
    """Redelivery counts of unanswered commands, and the dead letters."""
    db.execute(
        """CREATE TABLE command_deliveries (
            key TEXT PRIMARY KEY,
            command TEXT NOT NULL,
            count INTEGER NOT NULL,
            first_at TEXT NOT NULL,
            last_at TEXT NOT NULL
        )"""
    )
    db.execute(
        """CREATE TABLE dead_letters (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            at TEXT NOT NULL,
            command TEXT NOT NULL,
            request_id TEXT,
            reason TEXT NOT NULL,
            deliveries INTEGER NOT NULL,
            payload_bytes INTEGER NOT NULL,
            payload_sha256 TEXT NOT NULL,
            payload_head TEXT NOT NULL
        )"""
    )
    db["dead_letters"].create_index(["at"])


STEPS: list[Step] = [_v1]


def delivery_key(name: str, payload: bytes) -> str:
    """What identifies one message across redeliveries: its command and its exact bytes."""
    return hashlib.sha256(name.encode("utf-8", "backslashreplace") + b"\0" + payload).hexdigest()


def count_delivery(tx: Tx, key: str, name: str) -> int:
    """Count one more unanswered redelivery of the message `key`; returns the count."""
    now = utc_now()
    tx.conn.execute(
        "INSERT INTO command_deliveries (key, command, count, first_at, last_at) VALUES (?, ?, 1, ?, ?)"
        " ON CONFLICT(key) DO UPDATE SET count = count + 1, last_at = excluded.last_at",
        (key, name[:_COMMAND_CHARS], now, now),
    )
    return int(tx.conn.execute("SELECT count FROM command_deliveries WHERE key = ?", (key,)).fetchone()[0])


def forget_delivery(tx: Tx, key: str) -> None:
    """The message was answered: its redeliveries no longer count."""
    tx.conn.execute("DELETE FROM command_deliveries WHERE key = ?", (key,))


@dataclass(frozen=True)
class DeadLetter:
    """One message given up on, as stored and announced."""

    command: str
    request_id: str | None
    reason: str
    deliveries: int
    payload: bytes

    def record(self, tx: Tx) -> int:
        """Store the dead letter and its `command.dead_letter` event in one transaction; returns its number."""
        digest = hashlib.sha256(self.payload).hexdigest()
        head = self.payload[:HEAD_BYTES].decode("utf-8", "backslashreplace")
        number = int(
            tx.conn.execute(
                "INSERT INTO dead_letters (at, command, request_id, reason, deliveries, payload_bytes, payload_sha256, payload_head)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (utc_now(), self.command[:_COMMAND_CHARS], self.request_id, self.reason, self.deliveries, len(self.payload), digest, head),
            ).lastrowid
            or 0
        )
        tx.emit(
            "command.dead_letter",
            {
                "dead_letter": number, "command": self.command[:_COMMAND_CHARS], "request_id": self.request_id,
                "reason": self.reason, "deliveries": self.deliveries, "payload_bytes": len(self.payload),
                "payload_sha256": digest,
            },
        )
        return number


def purge(tx: Tx, older_than_days: int) -> int:
    """Forget dead letters and stale redelivery counts older than the inbox's retention."""
    cutoff = (f"-{older_than_days} days",)
    removed = tx.conn.execute("DELETE FROM dead_letters WHERE at < strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?)", cutoff).rowcount
    tx.conn.execute("DELETE FROM command_deliveries WHERE last_at < strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?)", cutoff)
    return removed
