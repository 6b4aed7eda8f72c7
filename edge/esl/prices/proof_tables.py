"""SQLite tables of the shelf = catalogue proof (see edge.esl.schema for the order they are created in)."""

from __future__ import annotations

import sqlite_utils

PROOFS = "esl_price_proofs"
LABELS = "esl_price_proof_labels"


def v6(db: sqlite_utils.Database) -> None:
    """The proofs (one daily per store-local day, any number on demand) and each proof's failing labels (esl schema step 6)."""
    db.execute(
        f"""CREATE TABLE {PROOFS} (
            id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, day TEXT NOT NULL, label TEXT, sku TEXT,
            started_at TEXT NOT NULL, finished_at TEXT NOT NULL, labels INTEGER NOT NULL, ok INTEGER NOT NULL,
            failing INTEGER NOT NULL, requeued INTEGER NOT NULL, counts TEXT NOT NULL, chain_id INTEGER NOT NULL,
            chain_hash TEXT NOT NULL, request_id TEXT, sender TEXT, html TEXT NOT NULL, csv TEXT NOT NULL,
            report TEXT NOT NULL
        )"""
    )
    db.execute(f"CREATE UNIQUE INDEX {PROOFS}_daily ON {PROOFS} (day) WHERE kind = 'daily'")
    db.execute(f"CREATE INDEX {PROOFS}_report ON {PROOFS} (report) WHERE report = 'pending'")
    db.execute(
        f"""CREATE TABLE {LABELS} (
            proof INTEGER NOT NULL, label TEXT NOT NULL, sku TEXT, content TEXT NOT NULL, audit TEXT NOT NULL,
            place TEXT NOT NULL, shown_digest TEXT, expected_digest TEXT, audit_digest TEXT, expected_place TEXT,
            found_place TEXT, reason TEXT, requeued INTEGER NOT NULL, PRIMARY KEY (proof, label)
        )"""
    )
