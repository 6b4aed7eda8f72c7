"""SQLite tables of the label inventory (see edge.esl.schema for the order they are created in)."""

from __future__ import annotations

import sqlite_utils


def v1(db: sqlite_utils.Database) -> None:
    """The label registry: one row per label, what it is, what it shows and how it was last seen."""
    db["esl_labels"].create(
        {
            "id": str, "esl_group": int, "esl_id": int, "model": str, "width": int, "height": int,
            "display_type": int, "leds": int, "temp_sensor": int, "volt_sensor": int, "battery_at": float, "sku": str, "state": str, "battery_v": float,
            "last_seen": str, "shown_digest": str, "last_error": str, "created_at": str,
        },
        pk="id",
        not_null={"esl_group", "esl_id", "state"},
    )
    db["esl_labels"].create_index(["sku"])
    db["esl_labels"].create_index(["state"])
