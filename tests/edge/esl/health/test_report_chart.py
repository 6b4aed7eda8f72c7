"""The temperature report's charts: axes fitted to the data, both limit lines always drawn, single readings visible."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import date
from zoneinfo import ZoneInfo

from edge.esl.health.config import Section
from edge.esl.health.report import CHART_H, CHART_W, PAD, PAD_R, SectionDay, chart, day_bounds

NS = "{http://www.w3.org/2000/svg}"
TZ = ZoneInfo("Asia/Shanghai")
DAY = date(2026, 11, 24)
START, END = day_bounds(DAY, TZ)
PLOT_W = CHART_W - PAD - PAD_R


def _svg(d: SectionDay, now: float = END) -> ET.Element:
    """The chart of one section's day, parsed."""
    return ET.fromstring(chart(d, START, END, now, TZ))


def _xs(root: ET.Element) -> list[float]:
    """Horizontal pixels of the temperature line's points."""
    line = root.find(f"{NS}polyline[@class='temperature']")
    assert line is not None
    return [float(p.split(",")[0]) for p in line.get("points", "").split()]


def _limits(root: ET.Element) -> dict[str, float]:
    """Vertical pixel of each limit line, by name."""
    return {e.get("data-limit", ""): float(e.get("y1", "nan")) for e in root.iter(f"{NS}line") if e.get("class") == "limit"}


def _ticks(root: ET.Element, kind: str) -> list[str]:
    """The axis labels of one axis."""
    return [t.text or "" for t in root.iter(f"{NS}text") if t.get("class") == kind]


def test_a_short_run_of_readings_fills_the_chart_and_labels_the_store_clock():
    section = Section(id="dairy", name="乳品", labels=["x"], min_c=0, max_c=8)
    t0 = START + 14 * 3600 + 47 * 60  # 14:47 in Shanghai
    readings = [(t0 + 2 * k, 3.5 + k * 0.4) for k in range(20)]  # 40 s of readings every 2 s, as in the demo
    root = _svg(SectionDay(section, readings, []))
    xs = _xs(root)
    assert xs[-1] - xs[0] >= 0.6 * PLOT_W  # not a sliver at one point of an empty day
    assert PAD <= min(xs) and max(xs) <= CHART_W - PAD_R
    ticks = _ticks(root, "tick-t")
    assert ticks[0].startswith("14:4") and all(re.fullmatch(r"\d\d:\d\d(:\d\d)?", t) for t in ticks)
    assert "00:00" not in ticks and "24:00" not in ticks


def test_both_limits_are_drawn_even_when_readings_stay_far_from_them():
    section = Section(id="meat", labels=["x"], min_c=-2, max_c=4)
    readings = [(START + 3600 + 60 * k, 0.5) for k in range(30)]  # steady at 0.5 °C
    limits = _limits(_svg(SectionDay(section, readings, [])))
    assert set(limits) == {"min", "max"}
    assert all(PAD <= y <= CHART_H - PAD for y in limits.values())
    assert limits["max"] < limits["min"]  # warmer is higher up

    freezer = Section(id="deep", labels=["x"], min_c=-30, max_c=-15)
    limits = _limits(_svg(SectionDay(freezer, [(START + 60 * k, -22.0) for k in range(5)], [])))
    assert set(limits) == {"min", "max"} and all(PAD <= y <= CHART_H - PAD for y in limits.values())


def test_readings_beyond_the_limits_stay_inside_the_plot():
    section = Section(id="dairy", labels=["x"], min_c=0, max_c=8)
    readings = [(START + 7200 + 30 * k, v) for k, v in enumerate([4, 6, 9, 12, 19, 12, 7])]
    root = _svg(SectionDay(section, readings, [(START + 7260, None)]), now=START + 7400)
    line = root.find(f"{NS}polyline[@class='temperature']")
    ys = [float(p.split(",")[1]) for p in line.get("points", "").split()]  # type: ignore[union-attr]
    assert PAD <= min(ys) and max(ys) <= CHART_H - PAD
    assert set(_limits(root)) == {"min", "max"}


def test_one_reading_is_visible_and_a_day_without_readings_says_so():
    section = Section(id="produce", labels=["x"], min_c=2, max_c=10)
    root = _svg(SectionDay(section, [(START + 5 * 3600, 5.5)], []))
    dots = [e for e in root.iter(f"{NS}circle") if e.get("class") == "reading"]
    assert len(dots) == 1 and PAD <= float(dots[0].get("cx", "0")) <= CHART_W - PAD_R

    empty = _svg(SectionDay(section, [], []))
    assert _ticks(empty, "tick-t")[0] == "00:00" and _ticks(empty, "tick-t")[-1] == "24:00"
    assert any("no readings" in (t.text or "") for t in empty.iter(f"{NS}text"))
    assert set(_limits(empty)) == {"min", "max"}


def test_an_open_alert_is_shaded_until_the_report_time_not_midnight():
    section = Section(id="s", labels=["x"], min_c=0, max_c=8)
    readings = [(START + 600 * k, v) for k, v in enumerate([4, 5, 9, 10, 9.5, 9, 9])]
    root = _svg(SectionDay(section, readings, [(START + 1200, None)]), now=START + 3600)
    assert _ticks(root, "tick-t")[-1] <= "01:00"  # the axis ends with the data, not at midnight
    shade = next(e for e in root.iter(f"{NS}rect") if e.get("class") == "alert")
    right = float(shade.get("x", "0")) + float(shade.get("width", "0"))
    assert abs(right - _xs(root)[-1]) < 1  # shaded up to the last reading, taken at the report's time
