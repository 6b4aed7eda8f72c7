"""SQLite tables of the esl job: an append-only list of migration steps (see edge.store.migrations)."""

from __future__ import annotations

import sqlite_utils

from edge.esl.health import tables as health_tables
from edge.esl.picking import tables as picking_tables
from edge.esl.prices import tables as prices_tables
from edge.esl.radio import tables as radio_tables
from edge.store.migrations import Step


def _v1(db: sqlite_utils.Database) -> None:
    """Label registry, push work queue, pick orders, temperature readings, alerts and report requests."""
    radio_tables.v1(db)
    prices_tables.v1(db)
    picking_tables.v1(db)
    health_tables.v1(db)


def _v2(db: sqlite_utils.Database) -> None:
    """Where labels are (positioning), where products belong (planogram) and the deviations between the two."""
    db["esl_positions"].create(
        {"label": str, "run": str, "bay": int, "level": int, "endcap": str, "confidence": float,
         "located_at": str, "changed_at": str},
        pk="label",
    )
    db["esl_planogram"].create({"sku": str, "run": str, "bay": int, "level": int, "endcap": str, "set_at": str}, pk="sku")
    db["esl_deviations"].create(
        {"id": int, "sku": str, "label": str, "kind": str, "expected": str, "found": str, "raised_at": str, "cleared_at": str},
        pk="id",
    )
    db["esl_deviations"].create_index(["sku", "label", "cleared_at"])


STEPS: list[Step] = [_v1, _v2]
