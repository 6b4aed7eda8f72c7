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

CHART_W, CHART_H, PAD = 720, 200, 36


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


def chart(d: SectionDay, start: float, end: float, now: float) -> str:
    """An SVG line chart of the day: readings, the upper (and, if near, lower) limit, alert periods shaded (open ones until `now`)."""
    values = [v for _, v in d.readings]
    low = min([*values, d.section.max_c - 6])
    high = max([*values, d.section.max_c + 2])
    if d.section.min_c > low - 2:
        low = min(low, d.section.min_c)
    low, high = math.floor(low), math.ceil(high)

    def x(t: float) -> float:
        """Horizontal pixel of a time."""
        return PAD + (CHART_W - 2 * PAD) * (t - start) / (end - start)

    def y(v: float) -> float:
        """Vertical pixel of a temperature."""
        return CHART_H - PAD + (2 * PAD - CHART_H) * (v - low) / (high - low or 1)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{CHART_W}" height="{CHART_H}" viewBox="0 0 {CHART_W} {CHART_H}">',
             f'<rect x="{PAD}" y="{PAD}" width="{CHART_W - 2 * PAD}" height="{CHART_H - 2 * PAD}" fill="#fafafa" stroke="#ccc"/>']
    for raised, cleared in d.alerts:
        x0, x1 = x(max(raised, start)), x(min(cleared or now, end))
        parts.append(f'<rect class="alert" x="{x0:.1f}" y="{PAD}" width="{max(x1 - x0, 1):.1f}" height="{CHART_H - 2 * PAD}" fill="#f8d0d0"/>')
    for hour in range(0, 25, 6):
        hx = x(start + hour * 3600)
        parts.append(f'<text x="{hx:.1f}" y="{CHART_H - 12}" font-size="11" text-anchor="middle">{hour:02d}:00</text>')
    for v in range(low, high + 1, max(1, (high - low) // 5)):
        parts.append(f'<text x="{PAD - 4}" y="{y(v) + 4:.1f}" font-size="11" text-anchor="end">{v}</text>')
    for limit in (d.section.max_c, d.section.min_c):
        if low <= limit <= high:
            parts.append(f'<line class="limit" x1="{PAD}" x2="{CHART_W - PAD}" y1="{y(limit):.1f}" y2="{y(limit):.1f}" stroke="#d01010" stroke-dasharray="4 3"/>')
    if d.readings:
        points = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in d.readings)
        parts.append(f'<polyline class="temperature" points="{points}" fill="none" stroke="#1060c0" stroke-width="1.5"/>')
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
        charts.append(f"<h2>{html.escape(d.section.name or d.section.id)}</h2>{chart(d, start, end, now)}")
    head = ["section", "name", "range °C", "readings", "min °C", "max °C", "mean °C", "min out of range", "alerts"]
    return (
        '<!DOCTYPE html><html lang="zh"><head><meta charset="utf-8">'
        f"<title>温度日报 Temperature report {day.isoformat()}</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px}</style>"
        f"</head><body><h1>温度日报 Temperature report — {html.escape(store_name)} — {day.isoformat()} ({tz.key})</h1>"
        "<table><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr>" + "".join(rows) + "</table>"
        + "".join(charts) + "</body></html>\n"
    )
