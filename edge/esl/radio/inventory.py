"""The label inventory the radio reports: what is known of each label when it is registered in `esl_labels`."""

from __future__ import annotations

from dataclasses import dataclass

from edge.store import Tx
from edge.store.db import utc_now


@dataclass(frozen=True)
class LabelRecord:
    """What the radio backend knows about a label when it is registered (display info may come later)."""

    id: str
    esl_group: int
    esl_id: int
    model: str | None = None
    width: int | None = None
    height: int | None = None
    display_type: int | None = None
    leds: int | None = None
    temp_sensor: int | None = None
    volt_sensor: int | None = None


def register_labels(tx: Tx, records: list[LabelRecord]) -> int:
    """Add labels not yet known (a restart neither duplicates nor resets them); returns how many were new."""
    now = utc_now()
    before = tx.conn.execute("SELECT count(*) FROM esl_labels").fetchone()[0]
    tx.conn.executemany(
        "INSERT OR IGNORE INTO esl_labels (id, esl_group, esl_id, model, width, height, display_type, leds, temp_sensor,"
        " volt_sensor, state, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'unbound', ?)",
        [(r.id, r.esl_group, r.esl_id, r.model, r.width, r.height, r.display_type, r.leds, r.temp_sensor, r.volt_sensor, now)
         for r in records],
    )
    return int(tx.conn.execute("SELECT count(*) FROM esl_labels").fetchone()[0] - before)
