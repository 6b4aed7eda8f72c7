"""Cold chain on the simulated fleet (polling, events, alerts, report files) and the report figures from known readings."""

from __future__ import annotations

import pytest

import asyncio
import csv
import dataclasses
import io
import json
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

from devices.esl.codec import SensorValue
from devices.esl.fridge import Fridge
from edge import catalog
from edge.esl.config import EslSection
from edge.esl.health.coldchain import ColdChainMonitor
from edge.esl.health.config import Section
from edge.esl.health.report import SectionDay, day_bounds, to_csv, to_html
from edge.esl.radio.backend import simulated
from edge.esl.radio.inventory import register_labels
from edge.jobs import schemas
from edge.store import Store
from tests.edge.esl.jobkit import running

SECTIONS = [
    {"id": "dairy", "name": "乳品柜", "labels": ["F0:00:00:00:00:01", "F0:00:00:00:00:02"], "max_c": 8, "min_c": 0,
     "min_duration_s": 1, "door_tolerance_s": 1, "hysteresis_c": 1},
    {"id": "meat", "name": "冷鲜肉", "labels": ["F0:00:00:00:00:03"], "max_c": 6, "min_c": -2, "min_duration_s": 1},
]


@pytest.mark.both_radios
async def test_polling_alert_raised_and_cleared_and_report_written(broker, tmp_path):
    coldchain = {"poll_interval_s": 0.5, "sections": SECTIONS}
    async with running(broker.port, tmp_path / "data", simulated={"labels": 2}, coldchain=coldchain) as d:
        await d.wait(lambda: {e["data"]["section"] for e in d.events("temperature")} == {"dairy", "meat"})
        first = next(e["data"] for e in d.events("temperature") if e["data"]["section"] == "dairy")
        assert {r["label"] for r in first["readings"]} == set(SECTIONS[0]["labels"]) and first["state"] == "normal"
        assert 1 < first["mean_c"] < 8

        fleet = d.job.fleet
        warm = fleet.label(SECTIONS[0]["labels"][1])
        normal = warm.fridge
        warm.fridge = dataclasses.replace(normal, fail_at_s=fleet.clock() - 60, warm_rate_c_per_h=3600, door_opens_per_h=0)
        raised = await d.wait(lambda: d.events("temperature.alert"), timeout=15)
        assert raised[0]["data"]["section"] == "dairy" and raised[0]["data"]["state"] == "raised"
        assert raised[0]["data"]["temp_c"] > 8
        warm.fridge = Fridge(set_point_c=3.0, cycle_amplitude_c=0, door_opens_per_h=0)
        cleared = await d.wait(lambda: [e for e in d.events("temperature.alert") if e["data"]["state"] == "cleared"], timeout=15)
        assert cleared[0]["data"]["temp_c"] <= 7 and d.job.health()["coldchain"]["sections"]["dairy"] == "normal"
        assert {e["data"]["section"] for e in d.events("temperature.alert")} == {"dairy"}

        reply = await d.request("temperature.report", {})
        assert reply["ok"] and reply["result"]["queued"]
        ready = (await d.wait(lambda: d.events("report.ready")))[0]["data"]
        page = Path(ready["html"]).read_text(encoding="utf-8")
        assert page.count("<svg") == 2 and "乳品柜" in page and 'class="alert"' in page and "http" not in page.split("<svg", 1)[1].replace("http://www.w3.org/2000/svg", "")
        rows = {r["section"]: r for r in csv.DictReader(io.StringIO(Path(ready["csv"]).read_text(encoding="utf-8")))}
        assert rows["dairy"]["alerts"] == "1" and float(rows["dairy"]["max_c"]) > 8 and rows["meat"]["alerts"] == "0"
        assert Path(ready["html"]).parent == tmp_path / "data" / "reports"
        stored = d.db("SELECT count(*) FROM esl_readings WHERE section = 'dairy'")[0][0]
        assert stored >= 2 * len([e for e in d.events("temperature") if e["data"]["section"] == "dairy"]) - 2


def test_report_figures_from_known_readings():
    tz = ZoneInfo("Asia/Shanghai")
    day = date(2026, 11, 24)
    start, end = day_bounds(day, tz)
    assert end - start == 86400
    section = Section(id="s", name="冷柜 <1>", labels=["x"], min_c=0, max_c=8)
    readings = [(start + 600 * k, v) for k, v in enumerate([4, 5, 9, 10, 9.5, 6, 2])]  # three readings above 8 °C
    one = SectionDay(section, readings, [(start + 1200, start + 3000)])
    stats = one.stats()
    assert stats == {"readings": 7, "min_c": 2, "max_c": 10, "mean_c": round(45.5 / 7, 2), "minutes_out_of_range": 30.0, "alerts": 1}
    rows = list(csv.DictReader(io.StringIO(to_csv([one]))))
    assert rows[0]["minutes_out_of_range"] == "30.0" and rows[0]["name"] == "冷柜 <1>"
    page = to_html("店", day, tz, [one, SectionDay(section, [], [])], end)
    assert "冷柜 &lt;1&gt;" in page and page.count("<polyline") == 1 and page.count("<svg") == 2
    still_open = to_html("店", day, tz, [SectionDay(section, readings, [(start + 1200, None)])], start + 3600)
    shade = float(still_open.split('class="alert"', 1)[1].split('width="', 1)[1].split('"', 1)[0])
    assert abs(shade - 648 * 2400 / 3600) < 1  # an open alert is shaded up to the report's time (the axis ends there), not to midnight


async def test_retention_and_an_open_alert_survives_a_restart(tmp_path):
    config = EslSection.model_validate({"simulated": {"labels": 0, "time_scale": 0.001}, "coldchain": {
        "retention_days": 1, "sections": [{**SECTIONS[0], "min_duration_s": 0}]}})
    backend = simulated(config)
    store = await asyncio.to_thread(Store, tmp_path / "db.sqlite", schemas={"catalog": catalog.STEPS, **schemas()})
    now = [1_000_000.0]
    try:
        await store.write(lambda tx: register_labels(tx, backend.labels))
        monitor = ColdChainMonitor(store, backend.radio, config.coldchain, tmp_path, "s", ZoneInfo("UTC"), clock=lambda: now[0])
        async with asyncio.timeout(10):
            await monitor.poll()
            now[0] += 2 * 86400  # two days later: the first readings are past retention
            sim = backend.fleet.label(SECTIONS[0]["labels"][0])
            sim.fridge = Fridge(set_point_c=15.0, cycle_amplitude_c=0, door_opens_per_h=0)
            await monitor.poll()
            now[0] += 5
            await monitor.poll()
        ts = await store.read(lambda db: [r[0] for r in db.execute("SELECT DISTINCT ts FROM esl_readings ORDER BY ts")])
        assert ts == [now[0] - 5, now[0]]
        assert monitor.monitors["dairy"].state.value == "alert"
        again = ColdChainMonitor(store, backend.radio, config.coldchain, tmp_path, "s", ZoneInfo("UTC"), clock=lambda: now[0])
        await asyncio.wait_for(again.resume(), 5)
        assert again.monitors["dairy"].state.value == "alert"  # no second `raised` after a restart
    finally:
        await store.aclose()


async def _monitor_with_one_label(tmp_path: Path, now: list[float], **section: object):
    """A monitor over the simulated fleet with one fridge label in one section (alerts after 0 s out of range)."""
    config = EslSection.model_validate({"simulated": {"labels": 0, "time_scale": 0.001}, "coldchain": {"sections": [
        {"id": "dairy", "labels": ["F0:00:00:00:00:01"], "min_c": -1, "max_c": 8, "min_duration_s": 0, **section}]}})
    backend = simulated(config)
    store = await asyncio.to_thread(Store, tmp_path / "db.sqlite", schemas={"catalog": catalog.STEPS, **schemas()})
    await store.write(lambda tx: register_labels(tx, backend.labels))
    monitor = ColdChainMonitor(store, backend.radio, config.coldchain, tmp_path, "s", ZoneInfo("UTC"), clock=lambda: now[0])
    return store, monitor, backend.fleet.label("F0:00:00:00:00:01")


async def _events(store: Store, kind: str) -> list[dict]:
    """The data of every outbox event of a kind, oldest first."""
    rows = await store.read(lambda db: db.execute("SELECT data FROM outbox WHERE kind = ? ORDER BY seq", (kind,)).fetchall())
    return [json.loads(r[0]) for r in rows]


async def test_a_tag_answering_unknown_raises_no_alert(tmp_path):
    """A probe that cannot measure answers Temperature 8 = 0x7F: no reading, no alert, and after long the section says so."""
    now = [1_000_000.0]
    store, monitor, label = await _monitor_with_one_label(tmp_path, now)
    try:
        label.fridge = Fridge(set_point_c=4.0, cycle_amplitude_c=0, door_opens_per_h=0, probe_fails_at_s=-1.0)
        assert label._read_sensor(0) == SensorValue(0, b"\x7f")  # what the simulated tag puts on the air
        async with asyncio.timeout(10):
            for _ in range(3):
                await monitor.poll()
                now[0] += 600
        assert await _events(store, "temperature.alert") == []
        temps = await _events(store, "temperature")
        assert [t["readings"] for t in temps] == [[], [], []] and all(t["highest_c"] is None for t in temps)
        assert temps[-1]["errors"] == [{"label": "F0:00:00:00:00:01", "reason": "no reading: the sensor reports unknown"}]
        assert await store.read(lambda db: db.execute("SELECT count(*) FROM esl_readings").fetchone()[0]) == 0
        health = monitor.health()
        assert health["sections"] == {"dairy": "normal"} and health["no_reading"] == {"dairy": "1970-01-12T13:46:40Z"}
    finally:
        await store.aclose()


async def test_minus_half_a_degree_is_a_reading(tmp_path):
    """Temperature 8 raw 0xFF is -0.5 degC: kept as a reading (and out of a [0, 8] range it alerts)."""
    now = [1_000_000.0]
    store, monitor, label = await _monitor_with_one_label(tmp_path, now, min_c=0)
    try:
        label.fridge = Fridge(set_point_c=-0.5, cycle_amplitude_c=0, door_opens_per_h=0)
        assert label._read_sensor(0) == SensorValue(0, b"\xff")
        async with asyncio.timeout(10):
            await monitor.poll()
            now[0] += 5
            await monitor.poll()
        temps = await _events(store, "temperature")
        assert temps[0]["readings"] == [{"label": "F0:00:00:00:00:01", "temp_c": -0.5}] and temps[0]["errors"] == []
        (alert,) = await _events(store, "temperature.alert")
        assert alert["state"] == "raised" and alert["temp_c"] == -0.5 and monitor.health()["no_reading"] == {}
    finally:
        await store.aclose()
