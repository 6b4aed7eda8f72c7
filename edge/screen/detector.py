"""Face detection with YuNet (libfacedetection via the `yuface` wheel), single-threaded and downscaled."""

from __future__ import annotations

import os
import sys
import threading
from dataclasses import dataclass
from types import ModuleType
from typing import Protocol

import cv2
import numpy as np

from edge.screen.errors import BlankFrame, DetectorError, FrameError

MODEL_MIN_FACE_PX = 24  # smallest face width YuNet scores >= 0.85 reliably (measured: see models/faces/MODEL_CARD.md)
BLANK_STD = 2.0  # pixel standard deviation below which a frame is uniform
DEFAULT_THRESHOLD = 0.85  # chosen with the 2× pass on the synthetic choosing set (MODEL_CARD.md); wheel floor 0.20
UPSCALE_BELOW_PX = 40  # the 2× pass keeps only faces narrower than this in the analysed image
EYE_GAP_MIN = 0.08  # landmark check: eye distance at least this share of the box width
EYE_MOUTH_MIN = 0.10  # landmark check: mouth at least this share of the box height below the eyes

_load_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class Face:
    """One detected face in pixels of the analysed image; landmarks: right eye, left eye, nose, mouth corners."""

    box: tuple[int, int, int, int]
    score: float
    landmarks: tuple[tuple[int, int], ...]


class FaceDetector(Protocol):
    """What the screen job needs from a detector, so another model can replace YuNet."""

    def detect(self, image: np.ndarray) -> list[Face]:
        """Faces in a BGR uint8 image, in that image's pixels; raise `FrameError` on unusable frames."""


def load_yuface(threads: int = 1) -> ModuleType:
    """Import `yuface` with its bundled OpenMP limited to `threads`.

    libgomp reads OMP_NUM_THREADS once, when the library loads, so the variable is set just for the import
    and restored afterwards; the rest of the process keeps its environment.
    """
    with _load_lock:
        if "yuface" in sys.modules:
            return sys.modules["yuface"]
        previous = os.environ.get("OMP_NUM_THREADS")
        os.environ["OMP_NUM_THREADS"] = str(threads)
        try:
            import yuface
        finally:
            if previous is None:
                del os.environ["OMP_NUM_THREADS"]
            else:
                os.environ["OMP_NUM_THREADS"] = previous
        return yuface


def as_bgr(image: object) -> np.ndarray:
    """Check and normalise a frame to H×W×3 uint8 BGR (grey and BGRA are converted), or raise `FrameError`."""
    if not isinstance(image, np.ndarray):
        raise FrameError(f"not an image: {type(image).__name__}")
    if image.dtype != np.uint8:
        raise FrameError(f"expected uint8 pixels, got {image.dtype}")
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    elif image.ndim == 3 and image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    if image.ndim != 3 or image.shape[2] != 3:
        raise FrameError(f"expected H×W×3, got shape {image.shape}")
    if min(image.shape[:2]) < 16:
        raise FrameError(f"frame too small: {image.shape[1]}×{image.shape[0]}")
    return image


def plausible(face: Face) -> bool:
    """Landmark sanity check against false faces: eyes apart and above the nose, nose above the mouth, all in the box.

    Bounds are loose so that turned and tilted faces pass; a texture scored as a face often breaks one of them.
    """
    (rx, ry), (lx, ly), (_, ny), (_, mry), (_, mly) = face.landmarks
    x, y, w, h = face.box
    margin_x, margin_y = 0.1 * w, 0.1 * h
    inside = all(x - margin_x <= px <= x + w + margin_x and y - margin_y <= py <= y + h + margin_y
                 for px, py in face.landmarks)
    eyes_y, mouth_y = (ry + ly) / 2, (mry + mly) / 2
    return (
        inside
        and abs(lx - rx) >= EYE_GAP_MIN * w
        and eyes_y < ny < mouth_y
        and mouth_y - eyes_y >= EYE_MOUTH_MIN * h
    )


def merge(first: list[Face], second: list[Face], below_px: float) -> list[Face]:
    """First-pass faces plus the second pass's faces narrower than `below_px` that match no first-pass face (loosely)."""
    from edge.screen.evaluation import loose_match  # not at the top: evaluation -> tracker -> this module

    extra = [f for f in second if f.box[2] < below_px and not any(loose_match(f.box, g.box) for g in first)]
    return first + extra


class YuNetDetector:
    """YuNet behind `FaceDetector`: frames are shrunk so the smallest wanted face is just what the model needs."""

    def __init__(
        self,
        *,
        score_threshold: float = DEFAULT_THRESHOLD,
        min_face_px: int = 40,
        max_side: int = 960,
        upscale: bool = False,
        check_landmarks: bool = True,
    ) -> None:
        if not 0.0 < score_threshold <= 1.0:
            raise ValueError("score_threshold must be in (0, 1]")
        self.score_threshold = score_threshold
        self.min_face_px = min_face_px
        self.max_side = max_side
        self.upscale = upscale
        self.check_landmarks = check_landmarks
        self._yuface = load_yuface(threads=1)

    def scale_for(self, width: int, height: int) -> float:
        """Downscale factor for a frame: as small as the minimum face allows, never above `max_side`, never up."""
        by_face = MODEL_MIN_FACE_PX / self.min_face_px if self.min_face_px > 0 else 1.0
        by_side = self.max_side / max(width, height)
        return min(1.0, by_face, by_side)

    def detect(self, image: np.ndarray) -> list[Face]:
        """Faces above the score threshold, boxes and landmarks mapped back to `image` pixels.

        With `upscale`, a second pass on a 2× enlargement of the analysed image adds the small faces (narrower
        than `UPSCALE_BELOW_PX` analysed pixels) that the first pass missed; it costs about 5× the first pass.
        """
        first, second, factor = self.passes(image)
        return merge(first, second, UPSCALE_BELOW_PX * factor)

    def passes(self, image: np.ndarray) -> tuple[list[Face], list[Face], float]:
        """Faces of the first and (with `upscale`) the 2× pass in `image` pixels, and image px per analysed px."""
        image = as_bgr(image)
        if float(image[::4, ::4].std()) < BLANK_STD:
            raise BlankFrame("uniform frame")
        h, w = image.shape[:2]
        scale = self.scale_for(w, h)
        small = image
        if scale < 1.0:
            size = (max(1, round(w * scale)), max(1, round(h * scale)))
            small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        first = self._pass(small, w / small.shape[1], h / small.shape[0], (w, h))
        second: list[Face] = []
        if self.upscale:
            big = cv2.resize(small, (small.shape[1] * 2, small.shape[0] * 2), interpolation=cv2.INTER_LINEAR)
            second = self._pass(big, w / big.shape[1], h / big.shape[0], (w, h))
        return first, second, w / small.shape[1]

    def _pass(self, frame: np.ndarray, sx: float, sy: float, bounds: tuple[int, int]) -> list[Face]:
        """One run of the network on `frame`; faces scaled by (sx, sy) and clipped to `bounds` (w, h)."""
        w, h = bounds
        try:
            rows = self._yuface.c_detect(np.ascontiguousarray(frame))
        except (RuntimeError, ValueError, TypeError) as err:
            raise DetectorError(f"yuface failed: {err}") from err
        faces = []
        for row in rows:
            score = float(row[0]) / 100.0
            if score < self.score_threshold:
                continue
            x, y, bw, bh = (float(v) for v in row[1:5])
            x0, y0 = max(0.0, x * sx), max(0.0, y * sy)
            x1, y1 = min(float(w), (x + bw) * sx), min(float(h), (y + bh) * sy)
            if x1 <= x0 or y1 <= y0:
                continue
            marks = tuple((round(float(row[5 + 2 * i]) * sx), round(float(row[6 + 2 * i]) * sy)) for i in range(5))
            face = Face((round(x0), round(y0), round(x1 - x0), round(y1 - y0)), score, marks)
            if not self.check_landmarks or plausible(face):
                faces.append(face)
        return faces
