"""One frame through detection, tracking and measures: the blocking unit the screen job runs in an executor."""

from __future__ import annotations

from typing import Any

import numpy as np

from edge.screen.camera_health import CameraHealth
from edge.screen.detector import FaceDetector, as_bgr
from edge.screen.errors import BlankFrame
from edge.screen.measures import AudienceMeter
from edge.screen.motion import MotionGate
from edge.screen.tracker import Tracker


class ScreenPipeline:
    """Camera health → detector → tracker → meter for one screen; not thread-safe, call it from one worker at a time."""

    def __init__(
        self,
        detector: FaceDetector,
        tracker: Tracker,
        meter: AudienceMeter,
        gate: MotionGate | None = None,
        health: CameraHealth | None = None,
    ) -> None:
        self.detector = detector
        self.tracker = tracker
        self.meter = meter
        self.gate = gate
        self.health = health
        self.detections = 0

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
        if self.health is not None and self.health.frozen:
            faces = []
        elif self.gate is None or self.gate.needs_detection(image, ts, tracking=bool(self.tracker.tracks)):
            faces = self.detector.detect(image)
            self.detections += 1
        else:
            faces = []
        update = self.tracker.update(faces, ts)
        return self.meter.observe(update, ts, image.shape[1])

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
