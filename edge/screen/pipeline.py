"""One frame through detection, tracking and measures: the blocking unit the screen job runs in an executor.

Cost. A full-frame detection is most of a frame's price, so while people are tracked the pipeline
looks for them only in small crops around where they should be (edge/screen/nearby.py), plus,
when something moved away from them (the gate, with the column under each face masked as that
person's body), in the region that moved, at the detector's own scale; the whole frame is
detected `full_every_s` after the last full detection, or when the moving region is most of the
frame. So a new face is found at once when it moves in, and within `full_every_s` at worst. A
tracked face seen in the last frame whose crop did not change at all is held as it was, not
searched again (the detector would see the same pixels). With nobody tracked, a frame the idle
gate passes for motion is searched in the region that changed; its periodic recheck is a full
detection. `full_every_s=0` detects the full frame whenever a frame is analysed.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edge.screen.camera_health import CameraHealth
from edge.screen.detector import Face, FaceDetector, as_bgr
from edge.screen.errors import BlankFrame
from edge.screen.measures import AudienceMeter
from edge.screen.motion import MotionGate, Region
from edge.screen.nearby import crop_region, detect_in, search_near, unique
from edge.screen.tracker import Box, Track, Tracker


class ScreenPipeline:
    """Camera health → detector → tracker → meter for one screen; not thread-safe, call it from one worker at a time."""

    def __init__(
        self,
        detector: FaceDetector,
        tracker: Tracker,
        meter: AudienceMeter,
        gate: MotionGate | None = None,
        health: CameraHealth | None = None,
        *,
        full_every_s: float = 1.0,
        crop_margin: float = 1.0,
        crop_face_px: float = 48.0,
        moving_pad: float = 0.1,
        max_region_share: float = 0.5,
    ) -> None:
        self.detector = detector
        self.tracker = tracker
        self.meter = meter
        self.gate = gate
        self.health = health
        self.full_every_s = full_every_s
        self.crop_margin = crop_margin
        self.crop_face_px = crop_face_px
        self.moving_pad = moving_pad  # share of the frame width added around a moving region
        self.max_region_share = max_region_share  # a moving region larger than this share of the frame: detect it all
        self.detections = 0  # full-frame detections
        self.searches = 0  # frames searched only near tracks and where something moved
        self._last_full = float("-inf")

    def process(self, image: np.ndarray, ts: float) -> list[dict[str, Any]]:
        """Analyse one frame taken at `ts`; returns `engaged` and `audience` events. Raises `FrameError`.

        A dark, blinded or covered frame raises `BlankFrame` naming the cause; a frozen camera's
        repeated picture is not searched for faces (its tracks time out rather than dwell forever).
        """
        image = as_bgr(image)
        if self.health is not None:
            problem = self.health.observe(image, ts, people=bool(self.tracker.tracks))
            if problem is not None:
                raise BlankFrame(problem)
        faces = [] if self.health is not None and self.health.frozen else self._faces(image, ts)
        update = self.tracker.update(faces, ts)
        return self.meter.observe(update, ts, image.shape[1])

    def _faces(self, image: np.ndarray, ts: float) -> list[Face]:
        """The faces of this frame: a full detection, a search near the tracks or where it moved, or none."""
        tracks, shape = self.tracker.tracks, image.shape
        if not tracks:
            if self.gate is None:
                return self._full(image, ts)
            if not self.gate.needs_detection(image, ts, tracking=False):
                return []
            moving = self.gate.moving_region(self.gate.changed, shape) if self.gate.changed is not None else None
            if self.full_every_s <= 0:
                moving = None
            return self._full(image, ts) if moving is None or self._large(moving, shape) else self._search([], moving, image)
        predicted = [t.predict(ts) for t in tracks]
        crops = [crop_region(b, shape[1], shape[0], self.crop_margin) for b in predicted]
        change = self.gate.change(image) if self.gate is not None else None
        if self.full_every_s <= 0 or ts - self._last_full >= self.full_every_s or (self.gate is not None and change is None):
            return self._full(image, ts)
        moving = None
        if self.gate is not None and change is not None:
            moving = self.gate.moving_region(change, shape, self._bodies(tracks, crops, shape))
            if moving is not None and self._large(moving, shape):
                return self._full(image, ts)
        held, search = [], []
        for track, box, crop in zip(tracks, predicted, crops):
            still = change is not None and track.missed == 0 and not self.gate.moved_inside(change, crop, shape)  # type: ignore[union-attr]
            (held if still else search).append(track.face if still else box)
        return held + self._search(search, moving, image)

    def _search(self, boxes: list[Box], moving: Region | None, image: np.ndarray) -> list[Face]:
        """Faces near `boxes` (shrunk crops) and in the `moving` region (at the detector's own scale), once each."""
        self.searches += 1
        found = search_near(self.detector, image, boxes, margin=self.crop_margin, face_px=self.crop_face_px)
        if moving is not None:
            h, w = image.shape[:2]
            pad = round(self.moving_pad * w)
            grown = (max(0, moving[0] - pad), max(0, moving[1] - pad), min(w, moving[2] + pad), min(h, moving[3] + pad))
            found += detect_in(self.detector, image, grown)
        return unique(found)

    def _large(self, region: Region, shape: tuple[int, ...]) -> bool:
        """Whether searching `region` (padded) would cost about as much as the whole frame."""
        pad = 2 * self.moving_pad * shape[1]
        return (region[2] - region[0] + pad) * (region[3] - region[1] + pad) > self.max_region_share * shape[0] * shape[1]

    def _full(self, image: np.ndarray, ts: float) -> list[Face]:
        """Detect over the whole frame."""
        self.detections += 1
        self._last_full = ts
        return self.detector.detect(image)

    def _bodies(self, tracks: list[Track], crops: list[Region], shape: tuple[int, ...]) -> list[Region]:
        """Where tracked people are and move: the crop around each face, as predicted and as last seen, down to the frame's foot."""
        h, w = shape[:2]
        regions = []
        for track, (x0, y0, x1, _) in zip(tracks, crops):
            lx0, ly0, lx1, _ = crop_region(track.box, w, h, self.crop_margin)
            regions += [(x0, y0, x1, h), (lx0, ly0, lx1, h)]
        return regions

    @property
    def camera_problem(self) -> str | None:
        """A frozen or moved camera, as the health check saw it at the last frame (None without a check)."""
        return self.health.problem if self.health is not None else None

    @property
    def people_in_view(self) -> int:
        """Open tracks right now (for a health line; never published per person)."""
        return len(self.tracker.tracks)

    def close(self, ts: float) -> list[dict[str, Any]]:
        """End all tracks and close the current period, e.g. when the job stops."""
        return self.meter.flush(ts, self.tracker.close_all())
