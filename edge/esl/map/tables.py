"""SQLite tables of the store map (see edge.esl.schema for the order they are created in)."""

from __future__ import annotations

import sqlite_utils


def v2(db: sqlite_utils.Database) -> None:
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
