"""Anonymous short-lived face tracks: IoU matching against a constant-velocity prediction, greedy assignment.

When a track ends. Time alone is not enough: a loaded CPU delays processing, so the worker may
analyse only one frame every second or two, and a shopper standing still would be "unseen" for
longer than `max_gap_s` between two analysed frames and split into two tracks (counted twice).
So a track ends only when BOTH hold: it is unseen for more than `max_gap_s` (of frame capture
time) AND the detector looked for it in at least `min_missed_frames` analysed frames since. Idle
ticks without a frame (camera stalled) do not count as looking; a track unseen for `max_stale_s`
ends whatever the frame count, so a camera that stops delivering still closes its tracks.
"""

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
    missed: int = 0  # analysed frames since the last sighting in which the detector did not find it
    missed_before: int = 0  # `missed` just before the latest sighting: 0 means nothing looked in between

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
    min_missed_frames: int = 3
    max_stale_s: float = 10.0
    min_iou: float = 0.2
    max_centre_jump: float = 1.0  # in face widths, for fast motion where boxes no longer overlap
    velocity_smoothing: float = 0.5
    tracks: list[Track] = field(default_factory=list)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    def update(self, faces: Sequence[Face], ts: float, *, looked: bool = True) -> TrackUpdate:
        """Match `faces` seen at `ts` to tracks, start new ones, end those gone (see the module docstring).

        `looked` is False for an idle tick (no frame was analysed): it ages tracks but is no missed frame.
        """
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
        if looked:
            for ti, track in enumerate(self.tracks):
                if ti not in used_t:
                    track.missed += 1
        started = []
        for fi, face in enumerate(faces):
            if fi not in used_f:
                track = Track(next(self._ids), _fbox(face.box), face, ts, ts)
                self.tracks.append(track)
                started.append(track)
        ended = [t for t in self.tracks if self._gone(t, ts)]
        self.tracks = [t for t in self.tracks if not self._gone(t, ts)]
        return TrackUpdate(seen=seen + started, started=started, ended=ended)

    def close_all(self) -> list[Track]:
        """End every open track (camera stopped, period flushed at shutdown)."""
        ended, self.tracks = self.tracks, []
        return ended

    def _gone(self, track: Track, ts: float) -> bool:
        """Whether `track` has ended at `ts`: unseen past the time gap in enough analysed frames, or stale."""
        unseen = ts - track.last_seen
        return unseen > self.max_stale_s or (unseen > self.max_gap_s and track.missed >= self.min_missed_frames)

    def _affinity(self, track: Track, face: Face, ts: float) -> float:
        """How well `face` continues `track`: the better match to the predicted box or to the last one.

        The last box counts too because a shopper who stops after walking is where they were, not
        where the velocity says, once a starved worker sees them again seconds later.
        """
        if self._gone(track, ts):
            return 0.0
        box = _fbox(face.box)
        return max(self._match(track.predict(ts), box), self._match(track.box, box))

    def _match(self, expected: Box, box: Box) -> float:
        """IoU match (1 + IoU), else a fallback on centre distance in face widths (below 1), else 0."""
        overlap = iou(expected, box)
        if overlap >= self.min_iou:
            return 1.0 + overlap
        pcx, pcy = expected[0] + expected[2] / 2, expected[1] + expected[3] / 2
        fcx, fcy = box[0] + box[2] / 2, box[1] + box[3] / 2
        width = max(expected[2], box[2], 1.0)
        jump = ((pcx - fcx) ** 2 + (pcy - fcy) ** 2) ** 0.5 / width
        size_ratio = min(expected[2], box[2]) / width
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
        track.missed_before, track.missed = track.missed, 0
        return track


def _fbox(box: tuple[int, int, int, int]) -> Box:
    """An integer box as floats."""
    return (float(box[0]), float(box[1]), float(box[2]), float(box[3]))
