"""An idle gate: skip face detection while nobody is tracked and the picture has not changed."""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

THUMB = (32, 24)


def thumbnail(image: np.ndarray) -> np.ndarray:
    """A tiny grey, area-averaged copy: sensor noise averages out, a person walking in does not."""
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    return cv2.resize(grey, THUMB, interpolation=cv2.INTER_AREA).astype(np.int16)


@dataclass
class MotionGate:
    """Says whether a frame needs the detector: always while tracks are open, else on change or every `recheck_s`."""

    threshold: float = 8.0  # grey-level change of any thumbnail cell (20×20 px at 640×480) that counts as motion
    recheck_s: float = 2.0
    _reference: np.ndarray | None = field(default=None, repr=False)
    _last_check: float = float("-inf")

    def needs_detection(self, image: np.ndarray, ts: float, tracking: bool) -> bool:
        """True when the frame must be analysed; remembers analysed frames as the new reference."""
        thumb = thumbnail(image)
        changed = self._reference is None or int(np.abs(thumb - self._reference).max()) >= self.threshold
        if tracking or changed or ts - self._last_check >= self.recheck_s:
            self._reference, self._last_check = thumb, ts
            return True
        return False
