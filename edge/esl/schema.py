"""SQLite tables of the esl job: an append-only list of migration steps (see edge.store.migrations)."""

from __future__ import annotations

import sqlite_utils

from edge.esl.picking import tables as picking_tables
from edge.esl.prices import tables as prices_tables
from edge.esl.radio import tables as radio_tables
from edge.store.migrations import Step


def _v1(db: sqlite_utils.Database) -> None:
    """Label registry, push work queue, pick orders, temperature readings, alerts and report requests."""
    radio_tables.v1(db)
    prices_tables.v1(db)
    picking_tables.v1(db)
    db["esl_readings"].create(
        {"id": int, "section": str, "label": str, "ts": float, "temp_c": float}, pk="id", not_null={"ts"},
    )
    db["esl_readings"].create_index(["section", "ts"])
    db["esl_alerts"].create(
        {"id": int, "section": str, "raised_at": float, "cleared_at": float, "peak_c": float, "reason": str},
        pk="id",
        not_null={"section", "raised_at"},
    )
    db["esl_alerts"].create_index(["section", "raised_at"])
    db["esl_reports"].create({"day": str, "status": str, "html": str, "csv": str, "requested_at": str}, pk="day")


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
