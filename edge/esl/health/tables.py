"""SQLite tables of label-fleet health (see edge.esl.schema for the order they are created in)."""

from __future__ import annotations

import sqlite_utils

READINGS_BY_TS = "esl_readings_by_ts"  # named by the queries that must range over it (edge.esl.web.queries)


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


def v3(db: sqlite_utils.Database) -> None:
    """Readings by time, covering section and temperature: a window of the last hours (the status page) or the rows
    past retention are found by range without reading the rest of the history or the table itself.

    `id` before `temp_c`: the readings of one poll keep their insertion order, so an average over a bucket adds
    them in the order the (section, ts) index gave (a float sum depends on it) and the page's figures stay the same.
    """
    db["esl_readings"].create_index(["ts", "section", "id", "temp_c"], index_name=READINGS_BY_TS)
