"""Cold chain: poll fridge-section labels, store readings with retention, raise/clear alerts, write daily reports.

One poll reads every section's labels (a few connections at once), then records all readings,
`temperature` events (one per section per poll) and alert transitions in one transaction.
A label whose sensor reports "unknown" gave no reading: it is listed with the read errors, never
fed to the alert rule, and a section with no reading for as long as its alert would need is
reported as such (`no_reading` in health, `esl.coldchain.no_reading` in the log), not as warm.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import structlog

from devices.esl.codec import EslAddress
from devices.esl.errors import EslError
from devices.esl.info import MeshSensor
from devices.esl.radio import EslRadio, Label
from devices.esl.sensors import MeshProperty
from edge.esl.health.alerts import AlertMonitor, Transition, worst
from edge.esl.health.config import ColdChain, Section
from edge.esl.health.report import SectionDay, day_bounds, to_csv, to_html
from edge.store import Store, Tx
from edge.store.db import utc_now
from edge.sync.commands import Args, CommandRegistry
from edge.sync.fields import Date

log = structlog.get_logger("esl.coldchain")

REPORT_TOPIC = "esl.report"
_READ_CONCURRENCY = 2
NO_READING = "no reading: the sensor reports unknown"


def _iso(ts: float) -> str:
    """RFC 3339 UTC of an epoch time."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class ReportArgs(Args):
    """`temperature.report` arguments: the store-local day (default: today so far)."""

    day: Date | None = None


class ColdChainMonitor:
    """Polls the sections, keeps one alert monitor per section and writes reports on request or daily."""

    def __init__(
        self, store: Store, radio: EslRadio, config: ColdChain, data_dir: Path, store_name: str, tz: ZoneInfo,
        clock: Callable[[], float] = time.time, reads_at_once: int = _READ_CONCURRENCY,
    ) -> None:
        """Nothing runs until the scheduler calls `poll` or `run_reports` starts; `reads_at_once` sensor reads in flight."""
        self._store = store
        self._radio = radio
        self.config = config
        self.report_dir = data_dir / "reports"
        self._store_name = store_name
        self._tz = tz
        self._clock = clock
        self._reads_at_once = reads_at_once
        self.monitors = {s.id: AlertMonitor(s) for s in config.sections}
        self.polls = 0
        self.last_poll: str | None = None
        self.no_reading_since: dict[str, float] = {}
        self._silence_logged: set[str] = set()

    # -- polling ---------------------------------------------------------------------------

    async def resume(self) -> None:
        """Pick up alerts still open from before a restart."""
        rows = await self._store.read(lambda db: db.execute(
            "SELECT section, raised_at, peak_c FROM esl_alerts WHERE cleared_at IS NULL").fetchall())
        for section, raised_at, peak in rows:
            if section in self.monitors:
                self.monitors[section].resume(raised_at, peak)

    async def _read_one(self, label_id: str, slots: asyncio.Semaphore) -> float | str:
        """One label's temperature, or the reason there is none (unreadable, or the sensor reports unknown)."""
        row = await self._store.read(lambda db: db.execute(
            "SELECT esl_group, esl_id, temp_sensor FROM esl_labels WHERE id = ?", (label_id,)).fetchone())
        if row is None:
            return f"unknown label {label_id}"
        label = Label(label_id, EslAddress(row[0], row[1]))
        try:
            async with slots:
                index = row[2]
                if index is None:
                    index = await self._learn_sensor(label)
                reading = await self._radio.read_sensor(label, index)
        except (EslError, TimeoutError) as err:
            return f"{type(err).__name__}: {err}"
        return NO_READING if reading.value is None else reading.value

    async def _learn_sensor(self, label: Label) -> int:
        """Find the ambient temperature sensor of a label registered without it, and remember it."""
        info = await self._radio.info(label)
        for index, sensor in enumerate(info.sensors):
            if isinstance(sensor, MeshSensor) and sensor.property_id == MeshProperty.PRESENT_AMBIENT_TEMPERATURE:
                await self._store.write(lambda tx: tx.conn.execute(
                    "UPDATE esl_labels SET temp_sensor = ? WHERE id = ?", (index, label.ble_address)))
                return index
        raise EslError(f"{label.ble_address} has no temperature sensor")

    async def poll(self) -> None:
        """Read every section once and record readings, events and alert changes."""
        slots = asyncio.Semaphore(self._reads_at_once)  # over PAwR: one poll's reads share their groups' packets
        sections = self.config.sections
        results = await asyncio.gather(*(
            asyncio.gather(*(self._read_one(label, slots) for label in s.labels)) for s in sections
        ))
        now = self._clock()
        batch = []
        for section, values in zip(sections, results):
            readings = {label: v for label, v in zip(section.labels, values) if isinstance(v, float)}
            errors = {label: v for label, v in zip(section.labels, values) if isinstance(v, str)}
            transition = self.monitors[section.id].feed(now, worst(list(readings.values()), section)) if readings else None
            self._note_silence(section, now, bool(readings))
            batch.append((section, readings, errors, transition))
        await self._store.write(lambda tx: self._record(tx, now, batch))
        self.polls += 1
        self.last_poll = _iso(now)

    def _note_silence(self, section: Section, now: float, read: bool) -> None:
        """Track since when a section has had no reading; say so once it lasts as long as an alert would need."""
        if read:
            self.no_reading_since.pop(section.id, None)
            self._silence_logged.discard(section.id)
            return
        since = self.no_reading_since.setdefault(section.id, now)
        if now - since >= section.min_duration_s and section.id not in self._silence_logged:
            self._silence_logged.add(section.id)
            log.warning("esl.coldchain.no_reading", section=section.id, since=_iso(since), labels=len(section.labels))

    def _record(self, tx: Tx, now: float, batch: list[tuple[Section, dict[str, float], dict[str, str], Transition | None]]) -> None:
        """Readings, retention, one `temperature` event per section and any `temperature.alert`."""
        tx.conn.executemany(
            "INSERT INTO esl_readings (section, label, ts, temp_c) VALUES (?, ?, ?, ?)",
            [(s.id, label, now, v) for s, readings, _, _ in batch for label, v in readings.items()],
        )
        tx.conn.execute("DELETE FROM esl_readings WHERE ts < ?", (now - self.config.retention_days * 86400,))
        for section, readings, errors, transition in batch:
            values = list(readings.values())
            tx.emit("temperature", {
                "section": section.id, "name": section.name, "ts": _iso(now),
                "readings": [{"label": k, "temp_c": round(v, 2)} for k, v in readings.items()],
                "errors": [{"label": k, "reason": v} for k, v in errors.items()],
                "lowest_c": round(min(values), 2) if values else None,
                "highest_c": round(max(values), 2) if values else None,
                "mean_c": round(sum(values) / len(values), 2) if values else None,
                "state": self.monitors[section.id].state.value,
            })
            if transition is not None:
                self._record_alert(tx, section, transition)

    def _record_alert(self, tx: Tx, section: Section, tr: Transition) -> None:
        """Open or close the section's alert row and announce it."""
        if tr.kind == "raised":
            tx.conn.execute(
                "INSERT INTO esl_alerts (section, raised_at, peak_c, reason) VALUES (?, ?, ?, ?)",
                (section.id, tr.at, tr.peak_c, tr.reason),
            )
        else:
            tx.conn.execute(
                "UPDATE esl_alerts SET cleared_at = ?, peak_c = ? WHERE section = ? AND cleared_at IS NULL",
                (tr.at, tr.peak_c, section.id),
            )
        log.warning("esl.temperature.alert", section=section.id, state=tr.kind, temp_c=tr.temp_c)
        tx.emit("temperature.alert", {
            "section": section.id, "name": section.name, "state": tr.kind, "since": _iso(tr.since), "at": _iso(tr.at),
            "temp_c": round(tr.temp_c, 2), "peak_c": round(tr.peak_c, 2), "min_c": section.min_c,
            "max_c": section.max_c, "reason": tr.reason, "duration_s": round(tr.at - tr.since),
        })

    # -- reports ---------------------------------------------------------------------------

    def register(self, registry: CommandRegistry) -> None:
        """Add `temperature.report`."""
        registry.register("temperature.report", ReportArgs, self.request_report,
                          "Write the temperature report of a day (HTML + CSV) and announce it with report.ready")

    def request_report(self, tx: Tx, args: ReportArgs) -> dict[str, Any]:
        """`temperature.report`: queue a report for a day; the job writes it and announces `report.ready`."""
        day = args.day or datetime.now(self._tz).date()
        tx.conn.execute(
            "INSERT INTO esl_reports (day, status, requested_at) VALUES (?, 'requested', ?)"
            " ON CONFLICT(day) DO UPDATE SET status = 'requested', requested_at = excluded.requested_at",
            (day.isoformat(), utc_now()),
        )
        tx.notify(REPORT_TOPIC)
        return {"day": day.isoformat(), "queued": True}

    async def daily(self) -> None:
        """Once the configured local hour has passed, queue yesterday's report unless it exists."""
        local = datetime.now(self._tz)
        if local.hour < self.config.report_hour:
            return
        day = (local - timedelta(days=1)).date().isoformat()

        def queue(tx: Tx) -> None:
            """Queue the day unless it was requested or written before."""
            if tx.conn.execute("SELECT 1 FROM esl_reports WHERE day = ?", (day,)).fetchone() is None:
                self.request_report(tx, ReportArgs(day=date.fromisoformat(day)))

        await self._store.write(queue)

    async def run_reports(self) -> None:
        """Write requested reports (off the loop) and announce each with `report.ready`."""
        wake = self._store.changed(REPORT_TOPIC)
        while True:
            wake.clear()
            days = await self._store.read(lambda db: [r[0] for r in db.execute(
                "SELECT day FROM esl_reports WHERE status = 'requested' ORDER BY day")])
            for day in days:
                await self.write_report(date.fromisoformat(day))
            await wake.wait()

    async def write_report(self, day: date) -> dict[str, Any]:
        """Build the day's HTML and CSV into the data directory and record them with their event."""
        start, end = day_bounds(day, self._tz)

        def gather(db: Any) -> list[SectionDay]:
            """Readings (warmest label per poll) and overlapping alerts of every section for the day."""
            out = []
            for s in self.config.sections:
                readings = db.execute(
                    "SELECT ts, max(temp_c) FROM esl_readings WHERE section = ? AND ts >= ? AND ts < ? GROUP BY ts ORDER BY ts",
                    (s.id, start, end)).fetchall()
                alerts = db.execute(
                    "SELECT raised_at, cleared_at FROM esl_alerts WHERE section = ? AND raised_at < ?"
                    " AND (cleared_at IS NULL OR cleared_at >= ?) ORDER BY raised_at", (s.id, end, start)).fetchall()
                out.append(SectionDay(s, [(t, v) for t, v in readings], [(r, c) for r, c in alerts]))
            return out

        days = await self._store.read(gather)
        html_path = self.report_dir / f"temperature-{day.isoformat()}.html"
        csv_path = self.report_dir / f"temperature-{day.isoformat()}.csv"

        def write_files() -> None:
            """Blocking file writes, run in a thread."""
            self.report_dir.mkdir(parents=True, exist_ok=True)
            html_path.write_text(to_html(self._store_name, day, self._tz, days, self._clock()), encoding="utf-8")
            csv_path.write_text(to_csv(days), encoding="utf-8")

        await asyncio.to_thread(write_files)
        data = {
            "kind": "temperature", "day": day.isoformat(), "html": str(html_path), "csv": str(csv_path),
            "sections": [{"section": d.section.id, **d.stats()} for d in days],
        }

        def record(tx: Tx) -> None:
            """Mark the report written, with its event."""
            tx.conn.execute(
                "UPDATE esl_reports SET status = 'written', html = ?, csv = ? WHERE day = ?",
                (str(html_path), str(csv_path), day.isoformat()),
            )
            tx.emit("report.ready", data)

        await self._store.write(record)
        return data

    def health(self) -> dict[str, Any]:
        """Section states and poll count, for status."""
        return {"polls": self.polls, "last_poll": self.last_poll,
                "sections": {k: m.state.value for k, m in self.monitors.items()},
                "no_reading": {k: _iso(t) for k, t in self.no_reading_since.items()}}
