"""Builders of scripted `Face` objects for tracker and measures tests."""

from __future__ import annotations

from edge.screen.detector import Face


def frontal_face(x: float, y: float, w: float, score: float = 0.9) -> Face:
    """A face box with frontal landmarks (eyes at 30 %/70 % of the width, nose centred)."""
    h = w * 1.25
    lm = ((x + 0.3 * w, y + 0.4 * h), (x + 0.7 * w, y + 0.4 * h), (x + 0.5 * w, y + 0.6 * h),
          (x + 0.35 * w, y + 0.8 * h), (x + 0.65 * w, y + 0.8 * h))
    return Face(box=(round(x), round(y), round(w), round(h)), score=score,
                landmarks=tuple((round(a), round(b)) for a, b in lm))


def profile_face(x: float, y: float, w: float) -> Face:
    """A face turned aside: eyes close together, nose outside them."""
    h = w * 1.25
    lm = ((x + 0.55 * w, y + 0.4 * h), (x + 0.65 * w, y + 0.4 * h), (x + 0.85 * w, y + 0.6 * h),
          (x + 0.6 * w, y + 0.8 * h), (x + 0.7 * w, y + 0.8 * h))
    return Face(box=(round(x), round(y), round(w), round(h)), score=0.9,
                landmarks=tuple((round(a), round(b)) for a, b in lm))
