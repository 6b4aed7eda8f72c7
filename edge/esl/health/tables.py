"""SQLite tables of label-fleet health (see edge.esl.schema for the order they are created in)."""

from __future__ import annotations

import sqlite_utils


def v1(db: sqlite_utils.Database) -> None:
    """Temperature readings, alerts and report requests of the fridge sections."""
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
