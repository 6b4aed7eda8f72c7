"""SQLite tables of the esl job: an append-only list of migration steps (see edge.store.migrations)."""

from __future__ import annotations

import sqlite_utils

from edge.esl.health import tables as health_tables
from edge.esl.map import tables as map_tables
from edge.esl.picking import tables as picking_tables
from edge.esl.prices import audit as prices_audit
from edge.esl.prices import proof_tables as prices_proof
from edge.esl.prices import tables as prices_tables
from edge.esl.radio import tables as radio_tables
from edge.store.migrations import Step


def _v1(db: sqlite_utils.Database) -> None:
    """Label registry, push work queue, pick orders, temperature readings, alerts and report requests."""
    radio_tables.v1(db)
    prices_tables.v1(db)
    picking_tables.v1(db)
    health_tables.v1(db)


STEPS: list[Step] = [_v1, map_tables.v2, health_tables.v3, radio_tables.v4, prices_audit.v5, prices_proof.v6]
