"""The esl job's part of fleet health (`JobSpec.fleet`): labels by state, low batteries and open fridge alerts, as counts."""

from __future__ import annotations

from typing import Any

import sqlite_utils

LOW_BATTERY_V = 2.6  # a 3 V lithium coin cell below this under load has little left (read by the battery sweep)


def _counts(db: sqlite_utils.Database) -> dict[str, Any]:
    """Three grouped counts on a read connection; nothing per label."""
    labels = dict(db.execute("SELECT state, count(*) FROM esl_labels GROUP BY state").fetchall())
    low = db.execute("SELECT count(*) FROM esl_labels WHERE battery_v IS NOT NULL AND battery_v < ?", (LOW_BATTERY_V,)).fetchone()[0]
    alerts = db.execute("SELECT count(*) FROM esl_alerts WHERE cleared_at IS NULL").fetchone()[0]
    return {"labels": labels, "low_batteries": low, "open_alerts": alerts}


async def figures(job: Any) -> dict[str, Any]:
    """The running esl job's counts, read off the loop."""
    return await job.ctx.store.read(_counts)
