"""Motion gates: skip face detection while nobody is tracked and the picture has not changed, and
tell the pipeline when something moved away from the people it already tracks (someone new may be there)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import cv2
import numpy as np

THUMB = (32, 24)
Region = tuple[int, int, int, int]


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
    _previous: np.ndarray | None = field(default=None, repr=False)
    changed: np.ndarray | None = field(default=None, repr=False)  # the cells' change when the last decision was motion

    def needs_detection(self, image: np.ndarray, ts: float, tracking: bool) -> bool:
        """True when the frame must be analysed; remembers analysed frames as the new reference."""
        thumb = thumbnail(image)
        self._previous = thumb
        changed = self._reference is None or int(np.abs(thumb - self._reference).max()) >= self.threshold
        self.changed = np.abs(thumb - self._reference) if changed and self._reference is not None else None
        if tracking or changed or ts - self._last_check >= self.recheck_s:
            self._reference, self._last_check = thumb, ts
            return True
        return False

    def change(self, image: np.ndarray) -> np.ndarray | None:
        """Per-cell grey change of the thumbnail since the previous frame given here (None for the first)."""
        thumb = thumbnail(image)
        previous, self._previous = self._previous, thumb
        if previous is None or previous.shape != thumb.shape:
            return None
        return np.abs(thumb - previous)

    def moved_inside(self, change: np.ndarray, region: Region, shape: tuple[int, ...]) -> bool:
        """Whether a cell within `region` (x0, y0, x1, y1 in frame pixels of a frame of `shape`) changed."""
        return int(change[_cells(region, shape)].max(initial=0)) >= self.threshold

    def moved_outside(self, change: np.ndarray, regions: Iterable[Region], shape: tuple[int, ...]) -> bool:
        """Whether any cell outside all `regions` changed: something moved away from them."""
        rest = change.copy()
        for region in regions:
            rest[_cells(region, shape)] = 0
        return int(rest.max()) >= self.threshold

    def moving_region(self, change: np.ndarray, shape: tuple[int, ...], ignore: Iterable[Region] = ()) -> Region | None:
        """The frame region (x0, y0, x1, y1) covering every changed cell outside `ignore`, None if none changed."""
        rest = change.copy()
        for region in ignore:
            rest[_cells(region, shape)] = 0
        rows, cols = np.nonzero(rest >= self.threshold)
        if rows.size == 0:
            return None
        cw, ch = shape[1] / THUMB[0], shape[0] / THUMB[1]
        return (round(cols.min() * cw), round(rows.min() * ch), round((cols.max() + 1) * cw), round((rows.max() + 1) * ch))


def _cells(region: Region, shape: tuple[int, ...]) -> tuple[slice, slice]:
    """The thumbnail cells that cover `region` of a frame of `shape`."""
    x0, y0, x1, y1 = region
    sx, sy = THUMB[0] / shape[1], THUMB[1] / shape[0]
    return slice(math.floor(y0 * sy), math.ceil(y1 * sy)), slice(math.floor(x0 * sx), math.ceil(x1 * sx))
