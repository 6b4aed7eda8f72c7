"""Looking for faces only where they can be: a crop around each track analysed at a small size, or a moving region.

Between two full-frame detections the pipeline searches each tracked face in a crop of
`1 + 2·margin` face widths around its predicted box, shrunk so the face is about `face_px` wide.
A 60 px face at 1.2 m costs a ~190 px crop instead of the whole frame: a tenth of the pixels.
"""

from __future__ import annotations

from collections.abc import Iterable

import cv2
import numpy as np

from edge.screen.detector import Face, FaceDetector
from edge.screen.errors import FrameError
from edge.screen.tracker import Box, iou

DUPLICATE_IOU = 0.5  # two crops that overlap find the same face twice; one is kept


def crop_region(box: Box, width: int, height: int, margin: float) -> tuple[int, int, int, int]:
    """The square around `box` with `margin` face widths on every side, clipped to the frame (x0, y0, x1, y1)."""
    x, y, w, h = box
    half = max(w, h) * (0.5 + margin)
    cx, cy = x + w / 2, y + h / 2
    return (max(0, round(cx - half)), max(0, round(cy - half)), min(width, round(cx + half)), min(height, round(cy + half)))


def search_near(
    detector: FaceDetector, image: np.ndarray, boxes: Iterable[Box], *, margin: float = 1.0, face_px: float = 64.0
) -> list[Face]:
    """Faces found in the crops around `boxes`, in `image` pixels, without duplicates (best score kept)."""
    h, w = image.shape[:2]
    found: list[Face] = []
    for box in boxes:
        found += detect_in(detector, image, crop_region(box, w, h, margin), min(1.0, face_px / max(box[2], 1.0)))
    return unique(found)


def detect_in(detector: FaceDetector, image: np.ndarray, region: tuple[int, int, int, int], scale: float = 1.0) -> list[Face]:
    """Faces in `region` (x0, y0, x1, y1) of `image`, shrunk by `scale` first (never enlarged), in `image` pixels."""
    x0, y0, x1, y1 = region
    crop = image[y0:y1, x0:x1]
    if scale < 1.0:
        size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
        crop = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
    try:
        faces = detector.detect(np.ascontiguousarray(crop))
    except FrameError:  # a crop clipped to a sliver at the edge, or a uniform patch: nothing to find
        return []
    sx, sy = (x1 - x0) / crop.shape[1], (y1 - y0) / crop.shape[0]
    return [_moved(f, x0, y0, sx, sy) for f in faces]


def _moved(face: Face, x0: int, y0: int, sx: float, sy: float) -> Face:
    """A face found in a crop, mapped back to frame pixels."""
    bx, by, bw, bh = face.box
    box = (round(x0 + bx * sx), round(y0 + by * sy), round(bw * sx), round(bh * sy))
    marks = tuple((round(x0 + mx * sx), round(y0 + my * sy)) for mx, my in face.landmarks)
    return Face(box, face.score, marks)


def unique(faces: list[Face]) -> list[Face]:
    """Drop faces that overlap a better-scored one by more than `DUPLICATE_IOU`."""
    kept: list[Face] = []
    for face in sorted(faces, key=lambda f: f.score, reverse=True):
        fb = tuple(float(v) for v in face.box)
        if all(iou(fb, tuple(float(v) for v in k.box)) <= DUPLICATE_IOU for k in kept):  # type: ignore[arg-type]
            kept.append(face)
    return kept
