"""Anonymous short-lived face tracks: IoU matching against a constant-velocity prediction, greedy assignment."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

from edge.screen.detector import Face

Box = tuple[float, float, float, float]


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two (x, y, w, h) boxes."""
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


@dataclass(slots=True)
class Track:
    """One face followed over time; the id is a small counter, meaningless outside this process run."""

    id: int
    box: Box
    face: Face
    first_seen: float
    last_seen: float
    velocity: tuple[float, float] = (0.0, 0.0)  # px/s of the box centre
    hits: int = 1

    def predict(self, ts: float) -> Box:
        """Where the box should be at `ts`, moving at the last velocity."""
        dt = ts - self.last_seen
        x, y, w, h = self.box
        return (x + self.velocity[0] * dt, y + self.velocity[1] * dt, w, h)

    @property
    def age(self) -> float:
        """Seconds between the first and the last sighting."""
        return self.last_seen - self.first_seen


@dataclass(frozen=True, slots=True)
class TrackUpdate:
    """Result of one frame: tracks seen in it, tracks that just started, and tracks that just ended."""

    seen: list[Track]
    started: list[Track]
    ended: list[Track]


@dataclass
class Tracker:
    """Frame-to-frame tracker; pure: feed it detections with timestamps, it never looks at a clock."""

    max_gap_s: float = 1.0
    min_iou: float = 0.2
    max_centre_jump: float = 1.0  # in face widths, for fast motion where boxes no longer overlap
    velocity_smoothing: float = 0.5
    tracks: list[Track] = field(default_factory=list)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    def update(self, faces: Sequence[Face], ts: float) -> TrackUpdate:
        """Match `faces` seen at `ts` to tracks, start new ones, end those gone longer than `max_gap_s`."""
        pairs = sorted(
            ((self._affinity(t, f, ts), ti, fi) for ti, t in enumerate(self.tracks) for fi, f in enumerate(faces)),
            reverse=True,
        )
        used_t: set[int] = set()
        used_f: set[int] = set()
        seen: list[Track] = []
        for score, ti, fi in pairs:
            if score <= 0.0 or ti in used_t or fi in used_f:
                continue
            used_t.add(ti)
            used_f.add(fi)
            seen.append(self._advance(self.tracks[ti], faces[fi], ts))
        started = []
        for fi, face in enumerate(faces):
            if fi not in used_f:
                track = Track(next(self._ids), _fbox(face.box), face, ts, ts)
                self.tracks.append(track)
                started.append(track)
        ended = [t for t in self.tracks if ts - t.last_seen > self.max_gap_s]
        self.tracks = [t for t in self.tracks if ts - t.last_seen <= self.max_gap_s]
        return TrackUpdate(seen=seen + started, started=started, ended=ended)

    def close_all(self) -> list[Track]:
        """End every open track (camera stopped, period flushed at shutdown)."""
        ended, self.tracks = self.tracks, []
        return ended

    def _affinity(self, track: Track, face: Face, ts: float) -> float:
        """How well `face` continues `track`: IoU with the prediction, or a fallback on centre distance."""
        if ts - track.last_seen > self.max_gap_s:
            return 0.0
        predicted = track.predict(ts)
        box = _fbox(face.box)
        overlap = iou(predicted, box)
        if overlap >= self.min_iou:
            return 1.0 + overlap
        pcx, pcy = predicted[0] + predicted[2] / 2, predicted[1] + predicted[3] / 2
        fcx, fcy = box[0] + box[2] / 2, box[1] + box[3] / 2
        width = max(predicted[2], box[2], 1.0)
        jump = ((pcx - fcx) ** 2 + (pcy - fcy) ** 2) ** 0.5 / width
        size_ratio = min(predicted[2], box[2]) / width
        if jump > self.max_centre_jump or size_ratio < 0.5:
            return 0.0
        return 1.0 - jump / self.max_centre_jump  # always below any IoU match

    def _advance(self, track: Track, face: Face, ts: float) -> Track:
        """Move the track onto its new detection and blend the measured velocity into the old one."""
        box = _fbox(face.box)
        dt = ts - track.last_seen
        if dt > 0:
            vx = (box[0] + box[2] / 2 - track.box[0] - track.box[2] / 2) / dt
            vy = (box[1] + box[3] / 2 - track.box[1] - track.box[3] / 2) / dt
            a = self.velocity_smoothing if track.hits > 1 else 1.0
            track.velocity = (a * vx + (1 - a) * track.velocity[0], a * vy + (1 - a) * track.velocity[1])
        track.box, track.face, track.last_seen = box, face, ts
        track.hits += 1
        return track


def _fbox(box: tuple[int, int, int, int]) -> Box:
    """An integer box as floats."""
    return (float(box[0]), float(box[1]), float(box[2]), float(box[3]))
