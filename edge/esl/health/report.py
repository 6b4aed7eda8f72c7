"""The daily temperature report of a store: figures per section, an inline SVG chart each, as HTML and CSV.

Pure: takes readings and alerts, returns text. No CDN, no JavaScript, so the file opens offline
and can be archived as the paperless record that replaces the clipboard.
"""

from __future__ import annotations

import csv
import html
import io
import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from edge.esl.health.config import Section

CHART_W, CHART_H, PAD, PAD_R = 744, 200, 36, 60  # PAD_R leaves room for the limit lines' names
MIN_SPAN_S = 60.0  # the narrowest time axis: a minute
TIME_STEPS_S = (10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0, 10800.0, 21600.0)
VALUE_STEPS_C = (0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0)
MAX_TICKS = 8
MARKED_READINGS = 48


@dataclass(frozen=True)
class SectionDay:
    """One section's day: its rule, its readings (epoch s, °C) in time order and its alerts (raised, cleared or None)."""

    section: Section
    readings: list[tuple[float, float]]
    alerts: list[tuple[float, float | None]]

    def stats(self) -> dict[str, float | int | None]:
        """min / max / mean, minutes out of range (each reading counts until the next one) and alert count."""
        values = [v for _, v in self.readings]
        out_s = 0.0
        for (t, v), (t_next, _) in zip(self.readings, self.readings[1:]):
            if v > self.section.max_c or v < self.section.min_c:
                out_s += t_next - t
        return {
            "readings": len(values),
            "min_c": round(min(values), 2) if values else None,
            "max_c": round(max(values), 2) if values else None,
            "mean_c": round(sum(values) / len(values), 2) if values else None,
            "minutes_out_of_range": round(out_s / 60, 1),
            "alerts": len(self.alerts),
        }


def day_bounds(day: date, tz: ZoneInfo) -> tuple[float, float]:
    """Epoch seconds of the store's local midnight starting `day` and the next one."""
    start = datetime.combine(day, datetime.min.time(), tz)
    return start.timestamp(), (start + timedelta(days=1)).timestamp()


def to_csv(days: list[SectionDay]) -> str:
    """One row per section."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["section", "name", "min_limit_c", "max_limit_c", "readings", "min_c", "max_c", "mean_c",
                     "minutes_out_of_range", "alerts"])
    for d in days:
        s = d.stats()
        writer.writerow([d.section.id, d.section.name, d.section.min_c, d.section.max_c, s["readings"], s["min_c"],
                         s["max_c"], s["mean_c"], s["minutes_out_of_range"], s["alerts"]])
    return buf.getvalue()


def _nice_step(span: float, steps: tuple[float, ...], most: int) -> float:
    """The smallest step of `steps` that divides `span` into at most `most` intervals (else the largest)."""
    return next((step for step in steps if span / step <= most), steps[-1])


def time_axis(d: SectionDay, start: float, end: float, now: float) -> tuple[float, float, float]:
    """The chart's time span and tick step: the readings and alert periods of the day, widened to whole ticks.

    A day without data shows the whole day; a short run of readings fills the chart instead of
    being a sliver at the start of an empty day.
    """
    times = [t for t, _ in d.readings]
    for raised, cleared in d.alerts:
        times += [max(raised, start), min(cleared or now, end)]
    times = [min(max(t, start), end) for t in times]
    if not times:
        return start, end, 6 * 3600.0
    first, last = min(times), max(times)
    step = _nice_step(max(last - first, MIN_SPAN_S), TIME_STEPS_S, MAX_TICKS)
    lo = start + math.floor((first - start) / step) * step  # ticks on the store's clock: steps divide a day
    hi = start + math.ceil((last - start) / step) * step
    if hi - lo < step:
        hi = lo + step
    if hi > end:  # readings at the very end of the day: the last tick is midnight
        hi, lo = end, min(lo, end - step)
    return lo, hi, step


def value_axis(d: SectionDay) -> tuple[float, float, float]:
    """The temperature span and tick step: every reading and both limits of the section, with a margin."""
    values = [v for _, v in d.readings] + [d.section.min_c, d.section.max_c]
    low, high = min(values), max(values)
    margin = max(0.5, 0.08 * (high - low))
    step = _nice_step(high - low + 2 * margin, VALUE_STEPS_C, MAX_TICKS)
    return math.floor((low - margin) / step) * step, math.ceil((high + margin) / step) * step, step


def chart(d: SectionDay, start: float, end: float, now: float, tz: ZoneInfo) -> str:
    """An SVG line chart: readings, both limit lines (labelled), alert periods shaded (open ones until `now`), axes fitted to the data."""
    t_lo, t_hi, t_step = time_axis(d, start, end, now)
    low, high, v_step = value_axis(d)

    def x(t: float) -> float:
        """Horizontal pixel of a time."""
        return PAD + (CHART_W - PAD - PAD_R) * (t - t_lo) / (t_hi - t_lo)

    def y(v: float) -> float:
        """Vertical pixel of a temperature."""
        return CHART_H - PAD + (2 * PAD - CHART_H) * (v - low) / (high - low)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{CHART_W}" height="{CHART_H}" viewBox="0 0 {CHART_W} {CHART_H}" font-family="sans-serif">',
             f'<rect x="{PAD}" y="{PAD}" width="{CHART_W - PAD - PAD_R}" height="{CHART_H - 2 * PAD}" fill="#fafafa" stroke="#ccc"/>']
    for raised, cleared in d.alerts:
        x0, x1 = x(max(raised, t_lo)), x(min(cleared or now, t_hi))
        if x1 >= x0:
            parts.append(f'<rect class="alert" x="{x0:.1f}" y="{PAD}" width="{max(x1 - x0, 1):.1f}" height="{CHART_H - 2 * PAD}" fill="#f8d0d0"/>')
    clock = "%H:%M:%S" if t_step < 60 else "%H:%M"
    for k in range(round((t_hi - t_lo) / t_step) + 1):
        t = t_lo + k * t_step
        label = "24:00" if t >= end else datetime.fromtimestamp(t, tz).strftime(clock)
        parts.append(f'<text class="tick-t" x="{x(t):.1f}" y="{CHART_H - 12}" font-size="11" text-anchor="middle">{label}</text>')
    for k in range(round((high - low) / v_step) + 1):
        v = low + k * v_step
        parts.append(f'<text class="tick-v" x="{PAD - 4}" y="{y(v) + 4:.1f}" font-size="11" text-anchor="end">{v:g}</text>')
    parts.append(f'<text x="{PAD - 4}" y="{PAD - 8}" font-size="11" text-anchor="end">°C</text>')
    for name, limit in (("max", d.section.max_c), ("min", d.section.min_c)):
        ly = y(limit)
        parts.append(f'<line class="limit" data-limit="{name}" x1="{PAD}" x2="{CHART_W - PAD_R}" y1="{ly:.1f}" y2="{ly:.1f}" stroke="#d01010" stroke-dasharray="4 3"/>'
                     f'<text x="{CHART_W - PAD_R + 4}" y="{ly + 4:.1f}" font-size="10" fill="#d01010">{name} {limit:g}</text>')
    if d.readings:
        points = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in d.readings)
        parts.append(f'<polyline class="temperature" points="{points}" fill="none" stroke="#1060c0" stroke-width="1.5"/>')
        if len(d.readings) <= MARKED_READINGS:  # few readings: a dot each, so one reading is visible at all
            parts += [f'<circle class="reading" cx="{x(t):.1f}" cy="{y(v):.1f}" r="2.2" fill="#1060c0"/>' for t, v in d.readings]
    else:
        parts.append(f'<text x="{(CHART_W + PAD - PAD_R) / 2}" y="{CHART_H / 2}" font-size="13" text-anchor="middle" fill="#888">no readings · 无读数</text>')
    parts.append("</svg>")
    return "".join(parts)


def to_html(store_name: str, day: date, tz: ZoneInfo, days: list[SectionDay], now: float) -> str:
    """The report page: a summary table and a chart per section, as of `now` (epoch s)."""
    start, end = day_bounds(day, tz)
    rows, charts = [], []
    for d in days:
        s = d.stats()
        cells = [d.section.id, d.section.name, f"{d.section.min_c:g} … {d.section.max_c:g}", s["readings"], s["min_c"],
                 s["max_c"], s["mean_c"], s["minutes_out_of_range"], s["alerts"]]
        rows.append("<tr>" + "".join(f"<td>{html.escape(str('–' if c is None else c))}</td>" for c in cells) + "</tr>")
        charts.append(f"<h2>{html.escape(d.section.name or d.section.id)}</h2>{chart(d, start, end, now, tz)}")
    head = ["section", "name", "range °C", "readings", "min °C", "max °C", "mean °C", "min out of range", "alerts"]
    return (
        '<!DOCTYPE html><html lang="zh"><head><meta charset="utf-8">'
        f"<title>温度日报 Temperature report {day.isoformat()}</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px}</style>"
        f"</head><body><h1>温度日报 Temperature report — {html.escape(store_name)} — {day.isoformat()} ({tz.key})</h1>"
        "<table><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr>" + "".join(rows) + "</table>"
        + "".join(charts) + "</body></html>\n"
    )
