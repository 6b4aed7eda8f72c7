"""`/api/fridges` and the live fridge summary: the same answers as before, for work that grows with the window only (issue 11, item 20).

`reference_fridges` / `reference_summary` are the queries before issue 11, kept here as the yardstick.
"""

from __future__ import annotations

import random
import sqlite3
import time
from typing import Any

import pytest
import sqlite_utils

from edge.esl.web import queries
from edge.jobs import schemas
from edge.store.migrations import CORE, migrate

NOW = 1_800_000_000.0
CONFIGURED = [
    {"id": "F01", "name": "冷柜 1", "min_c": 0.0, "max_c": 6.0},
    {"id": "F02", "name": "Dairy", "min_c": 0.0, "max_c": 4.0},
    {"id": "F03", "name": "never reported", "min_c": -25.0, "max_c": -18.0},
]


def reference_fridges(db: sqlite_utils.Database, sections: list[dict[str, Any]], hours: float, points: int, now: float) -> list[dict[str, Any]]:
    """`fridges` before issue 11, verbatim in its SQL and its shaping."""
    since = now - hours * 3600
    known = {s["id"]: dict(s) for s in sections}
    for (section,) in db.execute("SELECT DISTINCT section FROM esl_readings WHERE ts >= ?", [since]).fetchall():
        known.setdefault(section, {"id": section, "name": "", "min_c": None, "max_c": None})
    width = max(hours * 3600 / points, 1.0)
    series: dict[str, list[list[float]]] = {}
    rows = db.execute(
        "SELECT section, CAST((ts - ?) / ? AS INTEGER) AS b, max(ts), avg(temp_c) FROM esl_readings"
        " WHERE ts >= ? AND temp_c IS NOT NULL GROUP BY section, b ORDER BY section, b",
        [since, width, since],
    ).fetchall()
    for section, _bucket, ts, temp in rows:
        series.setdefault(section, []).append([round(ts, 1), round(temp, 2)])
    alerts = queries._open_alerts(db)
    return [{**s, "last_c": series[sid][-1][1] if series.get(sid) else None, "alert": alerts.get(sid), "readings": series.get(sid, [])}
            for sid, s in sorted(known.items())]


def reference_summary(db: sqlite_utils.Database) -> dict[str, Any]:
    """`fridge_summary` before issue 11."""
    rows = db.execute(
        "SELECT r.section, r.temp_c FROM esl_readings r JOIN (SELECT section, max(id) AS id FROM esl_readings"
        " WHERE ts >= ? GROUP BY section) m ON r.id = m.id",
        [time.time() - queries.DAY_S],
    ).fetchall()
    return {"latest": dict(rows), "alerts": queries._open_alerts(db)}


def migrated() -> sqlite_utils.Database:
    """An in-memory database with the real migrations of the core and every installed job."""
    conn = sqlite3.connect(":memory:")
    migrate(conn, {"core": CORE, **schemas()})
    return sqlite_utils.Database(conn)


def seed(db: sqlite_utils.Database, sections: int, days: float, now: float, seed: int = 0, labels: int | None = None) -> None:
    """A 5-minute poll of every section for `days`, `labels` labels each (default 1 to 4), inserted poll by poll as the cold chain does."""
    rng = random.Random(seed)
    per_section = {s: labels or rng.randint(1, 4) for s in range(sections)}
    rows = [
        (f"F{s + 1:02d}", f"L{s}-{k}", now - 300 * poll, round(rng.uniform(-2, 12), rng.choice([1, 2])) if rng.random() > 0.02 else None)
        for poll in range(int(days * 288), -1, -1)
        for s in range(sections)
        for k in range(per_section[s])
    ]
    db.conn.executemany("INSERT INTO esl_readings (section, label, ts, temp_c) VALUES (?, ?, ?, ?)", rows)


def test_fridges_answers_exactly_as_before() -> None:
    db = migrated()
    seed(db, 6, 3, NOW)  # F01-F06: F04-F06 report without being configured
    db.conn.executemany(  # a section whose only window readings are unknown, and unknowns mixed into buckets
        "INSERT INTO esl_readings (section, label, ts, temp_c) VALUES (?, ?, ?, ?)",
        [("N1", "x", NOW - 120, None), ("N1", "x", NOW - 7200, None), ("F02", "y", NOW - 30, None), ("OLD", "z", NOW - 5 * 86400, 3.0)],
    )
    db.conn.executemany(
        "INSERT INTO esl_alerts (section, raised_at, cleared_at, peak_c, reason) VALUES (?, ?, ?, ?, ?)",
        [("F01", NOW - 600, None, 11.5, "above max"), ("F02", NOW - 9000, NOW - 3000, 7.0, "above max"), ("F05", NOW - 60, None, 9.0, "x")],
    )
    for hours, points in [(24, 96), (2, 96), (24, 1), (1, 2000), (24 * 7, 50), (5, 7)]:
        expected = reference_fridges(db, CONFIGURED, hours, points, NOW)
        assert queries.fridges(db, CONFIGURED, hours, points, NOW) == expected, (hours, points)
    ids = [s["id"] for s in queries.fridges(db, CONFIGURED, 24, 96, NOW)]
    assert ids == ["F01", "F02", "F03", "F04", "F05", "F06", "N1"]  # OLD is outside the window


def test_fridge_summary_answers_exactly_as_before() -> None:
    db = migrated()
    seed(db, 5, 2, time.time(), seed=1)
    assert queries.fridge_summary(db) == reference_summary(db)
    assert len(queries.fridge_summary(db)["latest"]) == 5


def _vm_steps(db: sqlite_utils.Database, run: Any) -> int:
    """SQLite virtual-machine instructions spent by `run()` (counted in hundreds): work, free of timing noise."""
    steps = 0

    def count() -> int:
        nonlocal steps
        steps += 100
        return 0

    db.conn.set_progress_handler(count, 100)
    try:
        run()
    finally:
        db.conn.set_progress_handler(None, 0)
    return steps


@pytest.mark.parametrize("query", ["fridges", "fridge_summary"])
def test_work_grows_with_the_window_not_with_the_history(query: str) -> None:
    """A week of history kept before the last day costs nothing; four times the sections cost four times the work."""
    def steps(sections: int, days: float) -> int:
        db = migrated()
        now = time.time()
        seed(db, sections, days, now, labels=2)
        if query == "fridges":
            return _vm_steps(db, lambda: queries.fridges(db, [], 24, 96, now))
        return _vm_steps(db, lambda: queries.fridge_summary(db))

    day, week = steps(10, 1), steps(10, 8)
    assert week < day * 1.1, f"{week} steps with a week of history against {day} with a day"
    more = steps(40, 1)
    assert 3.5 * day < more < 4.5 * day, f"{more} steps for 40 sections against {day} for 10"
