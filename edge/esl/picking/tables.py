"""SQLite tables of pick orders (see edge.esl.schema for the order they are created in)."""

from __future__ import annotations

import sqlite_utils


def v1(db: sqlite_utils.Database) -> None:
    """Pick orders and their items (each item with the labels that flash for it)."""
    db["esl_pick_orders"].create(
        {"order_id": str, "color": str, "status": str, "started_at": str, "started_ts": float,
         "expires_at": float, "ended_at": str},
        pk="order_id",
        not_null={"color", "status", "expires_at"},
    )
    db["esl_pick_orders"].create_index(["status"])
    db["esl_pick_items"].create(
        {"order_id": str, "sku": str, "qty": int, "labels": str, "status": str, "done_at": str},
        pk=("order_id", "sku"),
        not_null={"status"},
    )
