"""Read-only SQL behind the status page: labels, fridge sections, pick orders and the last price proof (run on a read connection)."""

from __future__ import annotations

import json
import time
from typing import Any

import sqlite_utils

from edge.esl.health.tables import READINGS_BY_TS
from edge.esl.prices.proof_tables import LABELS as PROOF_LABELS
from edge.esl.prices.proof_tables import PROOFS

LABEL_STATES = ("unbound", "pending", "ok", "failed")
DAY_S = 24 * 3600


def _exists(db: sqlite_utils.Database, table: str) -> bool:
    """The ESL tables exist once its migrations ran; a store without them just shows nothing."""
    return db[table].exists()


def labels(db: sqlite_utils.Database, state: str | None, limit: int) -> dict[str, Any]:
    """Label counts by state and up to `limit` labels (failed first), optionally of one state."""
    if not _exists(db, "esl_labels"):
        return {"counts": {}, "total": 0, "labels": []}
    counts = dict(db.execute("SELECT state, count(*) FROM esl_labels GROUP BY state").fetchall())
    where, params = ("WHERE state = ?", [state]) if state else ("", [])
    rows = db.execute(
        f"SELECT id, sku, model, state, battery_v, last_seen, last_error FROM esl_labels {where}"
        " ORDER BY state = 'failed' DESC, id LIMIT ?",
        [*params, limit],
    ).fetchall()
    keys = ("id", "sku", "model", "state", "battery_v", "last_seen", "last_error")
    return {"counts": counts, "total": sum(counts.values()), "labels": [dict(zip(keys, r, strict=True)) for r in rows]}


def fridges(db: sqlite_utils.Database, sections: list[dict[str, Any]], hours: float, points: int, now: float | None = None) -> list[dict[str, Any]]:
    """Every configured or reporting section: its readings over `hours` averaged into at most `points` buckets, and alert state.

    One grouped query over the window only (a range on the `ts` index, which covers section and temperature):
    it lists the sections that reported, even with unknown temperatures only, and each bucket's latest known
    reading time and mean temperature; the cost grows with the readings in the window, not with the history kept.
    `INDEXED BY`: without statistics SQLite prefers walking the (section, ts) index through all of the history
    for the GROUP BY's order; naming the index also makes a missing one an error rather than a slow page.
    """
    now = time.time() if now is None else now
    since = now - hours * 3600
    known = {s["id"]: dict(s) for s in sections}
    if not _exists(db, "esl_readings"):
        return [_section(s, [], None) for s in known.values()]
    width = max(hours * 3600 / points, 1.0)
    series: dict[str, list[list[float]]] = {}
    rows = db.execute(
        "SELECT section, CAST((ts - ?) / ? AS INTEGER) AS b, max(CASE WHEN temp_c IS NOT NULL THEN ts END), avg(temp_c)"
        f" FROM esl_readings INDEXED BY {READINGS_BY_TS} WHERE ts >= ? GROUP BY section, b ORDER BY section, b",
        [since, width, since],
    ).fetchall()
    for section, _bucket, ts, temp in rows:
        readings = series.setdefault(section, [])
        if temp is not None:
            readings.append([round(ts, 1), round(temp, 2)])
    for section in series:
        known.setdefault(section, {"id": section, "name": "", "min_c": None, "max_c": None})
    open_alerts = _open_alerts(db)
    return [_section(s, series.get(sid, []), open_alerts.get(sid)) for sid, s in sorted(known.items())]


def _open_alerts(db: sqlite_utils.Database) -> dict[str, dict[str, Any]]:
    """The open (not cleared) alert of each section."""
    if not _exists(db, "esl_alerts"):
        return {}
    rows = db.execute(
        "SELECT section, raised_at, peak_c, reason FROM esl_alerts WHERE cleared_at IS NULL ORDER BY raised_at"
    ).fetchall()
    return {r[0]: {"raised_at": r[1], "peak_c": r[2], "reason": r[3]} for r in rows}


def _section(section: dict[str, Any], readings: list[list[float]], alert: dict[str, Any] | None) -> dict[str, Any]:
    """One section as the page shows it."""
    return {**section, "last_c": readings[-1][1] if readings else None, "alert": alert, "readings": readings}


def fridge_summary(db: sqlite_utils.Database) -> dict[str, Any]:
    """Latest temperature per section and the open alerts: the cheap part the live feed sends.

    A loose index scan: the recursive part hops from one section to the next on the (section, ts) index and
    each section's latest reading of the last day is found by a range on it, so the live feed reads the last
    day's index entries only, however much history the retention keeps.
    """
    if not _exists(db, "esl_readings"):
        return {"latest": {}, "alerts": {}}
    rows = db.execute(
        "WITH RECURSIVE s(section) AS (SELECT min(section) FROM esl_readings"
        " UNION ALL SELECT (SELECT min(section) FROM esl_readings WHERE section > s.section) FROM s WHERE s.section IS NOT NULL)"
        " SELECT r.section, r.temp_c FROM s JOIN esl_readings r"
        " ON r.id = (SELECT max(id) FROM esl_readings WHERE section = s.section AND ts >= ?)",
        [time.time() - DAY_S],
    ).fetchall()
    return {"latest": {s: t for s, t in rows}, "alerts": _open_alerts(db)}


def picks(db: sqlite_utils.Database, status: str | None, limit: int) -> list[dict[str, Any]]:
    """Pick orders (newest first) with their colour and item progress."""
    if not _exists(db, "esl_pick_orders"):
        return []
    where, params = ("WHERE o.status = ?", [status]) if status else ("", [])
    rows = db.execute(
        "SELECT o.order_id, o.color, o.status, o.started_at, o.ended_at, count(i.sku), coalesce(sum(i.status = 'done'), 0)"
        f" FROM esl_pick_orders o LEFT JOIN esl_pick_items i ON i.order_id = o.order_id {where}"
        " GROUP BY o.order_id ORDER BY o.started_ts DESC LIMIT ?",
        [*params, limit],
    ).fetchall()
    keys = ("order_id", "color", "status", "started_at", "ended_at", "items", "done")
    return [dict(zip(keys, r, strict=True)) for r in rows]


#: Failing labels of the last proof the status page lists.
PROOF_LISTED = 10


def last_proof(db: sqlite_utils.Database) -> dict[str, Any] | None:
    """The newest shelf = catalogue proof (figures, chain head, report names) and its first failing labels; None before the first."""
    if not _exists(db, PROOFS):
        return None
    cur = db.execute(f"SELECT id, kind, day, label, sku, finished_at, labels, ok, failing, requeued, counts, chain_id, html, csv"
                     f" FROM {PROOFS} ORDER BY id DESC LIMIT 1")
    row = cur.fetchone()
    if row is None:
        return None
    proof = dict(zip([c[0] for c in cur.description], row, strict=True))
    proof["counts"] = json.loads(proof["counts"])
    keys = ("label", "sku", "content", "audit", "place", "requeued")
    proof["failures"] = [dict(zip(keys, r, strict=True)) for r in db.execute(
        f"SELECT {', '.join(keys)} FROM {PROOF_LABELS} WHERE proof = ? ORDER BY label LIMIT ?", [proof["id"], PROOF_LISTED])]
    return proof
