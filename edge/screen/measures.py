"""Audience measures from anonymous tracks: distance, engagement zone, dwell, facing; closed into periods.

Nothing identifying leaves this module: no image, crop, embedding, landmark or track id; only counts,
durations, distances rounded to 0.1 m and shares, and (per content) the content ids the screen was told.
Each period's figures are also split by the content playing (`by_content`): a person's time is cut at
content changes (docs/mqtt-api/screen.md, "Audience per content").
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from edge.screen.detector import Face
from edge.screen.tracker import Track, TrackUpdate


@dataclass(frozen=True, slots=True)
class AudienceConfig:
    """Camera geometry and the rules that turn tracks into audience figures."""

    hfov_deg: float = 70.0
    face_width_m: float = 0.15
    calibration: float = 1.0  # multiplies estimated distances; set from one measured person on site
    zone_near_m: float = 1.0
    zone_far_m: float = 1.5
    min_stop_s: float = 2.0
    min_track_hits: int = 3  # shorter tracks are detector noise, not people
    max_gap_s: float = 1.0  # longest gap between two sightings still counted as presence, if frames between missed the face
    period_s: float = 300.0
    facing_min_eye_ratio: float = 0.25
    facing_nose_margin: float = 0.25
    min_watch_s: float = 1.0  # facing time during one content that makes a watcher of it


MAX_CONTENTS = 50  # named contents per period and per person; more are folded into the `null` entry


class Playing(Protocol):
    """What the screen plays when: the content schedule (edge/screen/content.py) as the meter needs it."""

    def at(self, ts: float) -> str | None:
        """The content playing at `ts`, None if unknown."""

    def split(self, a: float, b: float) -> list[tuple[str | None, float]]:
        """[a, b) cut at content changes: (content, seconds) in time order."""


class _Unknown:
    """No schedule: nothing is known to play."""

    def at(self, ts: float) -> str | None:
        """Always unknown."""
        return None

    def split(self, a: float, b: float) -> list[tuple[str | None, float]]:
        """One unknown piece."""
        return [(None, b - a)] if b > a else []


def distance_m(
    face_width_px: float, image_width_px: int, hfov_deg: float, face_width_m: float = 0.15, calibration: float = 1.0
) -> float:
    """Distance of a face from the camera by the pinhole model: f·W/w, f from the horizontal field of view."""
    if face_width_px <= 0:
        return math.inf
    focal = (image_width_px / 2) / math.tan(math.radians(hfov_deg) / 2)
    return calibration * focal * face_width_m / face_width_px


def is_facing(face: Face, min_eye_ratio: float = 0.25, nose_margin: float = 0.25) -> bool:
    """Whether the face looks at the camera: nose between the eyes and eyes wide apart for the box."""
    (rx, _), (lx, _), (nx, _) = face.landmarks[:3]
    left, right = min(rx, lx), max(rx, lx)
    eye_gap = right - left
    width = face.box[2]
    if width <= 0 or eye_gap / width < min_eye_ratio:
        return False
    u = (nx - left) / eye_gap
    return nose_margin <= u <= 1 - nose_margin


@dataclass(slots=True)
class _Seen:
    """One person's time during one content: in view, facing the screen (anywhere in view), in the zone."""

    view_s: float = 0.0
    facing_s: float = 0.0
    zone_s: float = 0.0


@dataclass(slots=True)
class _Visit:
    """What the meter remembers about one open track (dropped when the track ends)."""

    last_ts: float
    hits: int = 0
    zone_s: float = 0.0
    facing_s: float = 0.0
    engaged: bool = False
    contents: dict[str | None, _Seen] = field(default_factory=dict)


@dataclass(slots=True)
class _ContentFigures:
    """Running figures of one content in the current period."""

    ots: int = 0
    watchers: int = 0
    attention_s: float = 0.0
    stopping: int = 0
    dwell: list[float] = field(default_factory=list)
    engaged: int = 0


def _bucket(table: dict[str | None, Any], content: str | None, make: Any) -> Any:
    """The entry of `content`, made on first use; past `MAX_CONTENTS` entries new contents share `None`'s."""
    if content not in table and len(table) >= MAX_CONTENTS:
        content = None
    if content not in table:
        table[content] = make()
    return table[content]


@dataclass(slots=True)
class _Period:
    """Running figures of the current period."""

    start: float
    passing: int = 0
    stopping: int = 0
    engaged: int = 0
    dwell: list[float] = field(default_factory=list)
    max_concurrent: int = 0
    zone_s: float = 0.0
    facing_s: float = 0.0
    contents: dict[str | None, _ContentFigures] = field(default_factory=dict)


class AudienceMeter:
    """Turns tracker updates into `engaged` triggers and per-period `audience` summaries; time is passed in."""

    def __init__(self, config: AudienceConfig | None = None, *, screen: str = "screen", playing: Playing | None = None) -> None:
        self.config = config or AudienceConfig()
        self.screen = screen
        self.playing: Playing = playing or _Unknown()
        self._visits: dict[int, _Visit] = {}
        self._period: _Period | None = None

    def distance(self, face: Face, image_width: int) -> float:
        """Estimated distance of a face, by this screen's camera geometry and calibration."""
        c = self.config
        return distance_m(face.box[2], image_width, c.hfov_deg, c.face_width_m, c.calibration)

    def in_zone(self, distance: float) -> bool:
        """Whether a distance lies in the engagement zone."""
        return self.config.zone_near_m <= distance <= self.config.zone_far_m

    def observe(self, update: TrackUpdate, ts: float, image_width: int) -> list[dict[str, Any]]:
        """Account one frame; returns events: closed `audience` periods first, then `engaged` triggers."""
        events = self._roll(ts)
        period = self._current(ts)
        self._end(update.ended, period)
        viewers = 0
        entering: list[float] = []
        for track in update.seen:
            visit = self._visits.setdefault(track.id, _Visit(last_ts=ts))
            gap = max(0.0, ts - visit.last_ts)
            # unseen in analysed frames: presence only up to max_gap_s; no frame analysed in between
            # (a starved worker) is no sign of absence, the whole gap counts
            dt = min(gap, self.config.max_gap_s) if track.missed_before else gap
            visit.last_ts, visit.hits = ts, visit.hits + 1
            d = self.distance(track.face, image_width)
            facing = is_facing(track.face, self.config.facing_min_eye_ratio, self.config.facing_nose_margin)
            zone = self.in_zone(d)
            self._split(visit, ts, dt, facing, zone)
            if not zone:
                continue
            viewers += 1
            visit.zone_s += dt
            period.zone_s += dt
            if facing:
                visit.facing_s += dt
                period.facing_s += dt
            if not visit.engaged:
                visit.engaged = True
                period.engaged += 1
                _bucket(period.contents, self.playing.at(ts), _ContentFigures).engaged += 1
                entering.append(d)
        period.max_concurrent = max(period.max_concurrent, viewers)
        for d in entering:
            events.append(
                {"event": "engaged", "screen": self.screen, "ts": ts, "distance_m": round(d, 1), "viewers": viewers}
            )
        return events

    def flush(self, ts: float, open_tracks: Iterable[Track] = ()) -> list[dict[str, Any]]:
        """End the given open tracks and close the current period now (shutdown, camera lost)."""
        events = self._roll(ts)
        if self._period is None:
            self._period = _Period(start=self._period_start(ts))
        self._end(open_tracks, self._period)
        events.append(self._summary(self._period, ts))
        self._period = None
        return events

    def _split(self, visit: _Visit, ts: float, dt: float, facing: bool, zone: bool) -> None:
        """Add the time since the last sighting to the contents that played in it (the first sighting: now's)."""
        pieces = self.playing.split(ts - dt, ts) if dt > 0 else [(self.playing.at(ts), 0.0)]
        for content, seconds in pieces:
            seen = _bucket(visit.contents, content, _Seen)
            seen.view_s += seconds
            if facing:
                seen.facing_s += seconds
            if zone:
                seen.zone_s += seconds

    def _end(self, tracks: Iterable[Track], period: _Period) -> None:
        """Count ended tracks into the period they end in, in total and for each content they saw."""
        c = self.config
        for track in tracks:
            visit = self._visits.pop(track.id, None)
            if visit is None or visit.hits < c.min_track_hits:
                continue
            period.passing += 1
            if visit.zone_s >= c.min_stop_s:
                period.stopping += 1
                period.dwell.append(visit.zone_s)
            for content, seen in visit.contents.items():
                figures = _bucket(period.contents, content, _ContentFigures)
                figures.ots += 1
                if seen.facing_s >= c.min_watch_s:
                    figures.watchers += 1
                    figures.attention_s += seen.facing_s
                if seen.zone_s >= c.min_stop_s:
                    figures.stopping += 1
                    figures.dwell.append(seen.zone_s)

    def _period_start(self, ts: float) -> float:
        """Periods are aligned to multiples of `period_s` of the clock (5-minute buckets on wall time)."""
        return float(math.floor(ts / self.config.period_s) * self.config.period_s)

    def _current(self, ts: float) -> _Period:
        """The open period, started at the bucket of `ts` if none is open."""
        if self._period is None:
            self._period = _Period(start=self._period_start(ts))
        return self._period

    def _roll(self, ts: float) -> list[dict[str, Any]]:
        """Close the current period if `ts` is past its end (periods without any frame are not reported)."""
        p = self._period
        if p is None or ts < p.start + self.config.period_s:
            return []
        self._period = None
        return [self._summary(p, p.start + self.config.period_s)]

    def _by_content(self, p: _Period, end: float) -> list[dict[str, Any]]:
        """Per content: figures of the people who saw it, and how long it played in the period (sorted by id)."""
        pieces = self.playing.split(p.start, end)
        contents = dict(p.contents)
        for content, _ in pieces:
            if content is not None:
                _bucket(contents, content, _ContentFigures)
        played: dict[str | None, float] = {}
        for content, seconds in pieces:
            key = content if content in contents else None  # folded past MAX_CONTENTS, or unknown
            played[key] = played.get(key, 0.0) + seconds
        rows = []
        for content, f in sorted(contents.items(), key=lambda kv: (kv[0] is None, kv[0] or "")):
            rows.append({
                "content": content,
                "playing_s": round(played.get(content, 0.0), 1),
                "ots": f.ots,
                "watchers": f.watchers,
                "attention_s": {
                    "total": round(f.attention_s, 1),
                    "mean": round(f.attention_s / f.watchers, 1) if f.watchers else None,
                },
                "stopping": f.stopping,
                "dwell_s": _dwell(f.dwell),
                "engaged": f.engaged,
            })
        return rows

    def _summary(self, p: _Period, end: float) -> dict[str, Any]:
        """The anonymous `audience` record of one period."""
        return {
            "event": "audience",
            "screen": self.screen,
            "period_start": p.start,
            "period_end": end,
            "passing": p.passing,
            "stopping": p.stopping,
            "engaged": p.engaged,
            "dwell_s": _dwell(p.dwell),
            "max_concurrent": p.max_concurrent,
            "facing_share": round(p.facing_s / p.zone_s, 2) if p.zone_s > 0 else None,
            "by_content": self._by_content(p, end),
        }


def _dwell(dwell: list[float]) -> dict[str, float | None]:
    """Mean, median and maximum of dwell times (0.1 s), all None when there are none."""
    return {
        "mean": round(statistics.fmean(dwell), 1) if dwell else None,
        "median": round(statistics.median(dwell), 1) if dwell else None,
        "max": round(max(dwell), 1) if dwell else None,
    }
