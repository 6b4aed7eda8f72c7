"""Scoring a face detector against boxed ground truth, with the strict (IoU ≥ 0.5) and the loose rule."""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from edge.screen.errors import ScreenError
from edge.screen.tracker import Box, iou

Rule = Callable[[Box, Box], bool]


class GroundTruthError(ScreenError):
    """The ground-truth file is missing or malformed."""


def load_ground_truth(path: str | Path) -> dict[str, list[Box]]:
    """Read `image,x,y,w,h,annotation` rows; negatives (empty box) give an image with no faces."""
    truth: dict[str, list[Box]] = {}
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            for n, row in enumerate(csv.DictReader(fh), start=2):
                boxes = truth.setdefault(row["image"], [])
                fields = [row[k] for k in "xywh"]
                if all(f in ("", None) for f in fields):
                    continue
                try:
                    box = tuple(float(f) for f in fields)  # type: ignore[arg-type]
                except (TypeError, ValueError) as err:
                    raise GroundTruthError(f"{path}:{n}: bad box {fields}") from err
                if not all(math.isfinite(v) for v in box) or box[2] <= 0 or box[3] <= 0:
                    raise GroundTruthError(f"{path}:{n}: box needs finite values and a positive size, got {fields}")
                boxes.append(box)  # type: ignore[arg-type]
    except (OSError, KeyError, csv.Error, UnicodeDecodeError) as err:
        raise GroundTruthError(f"cannot read ground truth {path}: {err}") from err
    return truth


def strict_match(a: Box, b: Box) -> bool:
    """The usual rule: IoU ≥ 0.5."""
    return iou(a, b) >= 0.5


def _centre_inside(a: Box, b: Box) -> bool:
    """Whether the centre of `a` lies inside `b`."""
    cx, cy = a[0] + a[2] / 2, a[1] + a[3] / 2
    return b[0] <= cx <= b[0] + b[2] and b[1] <= cy <= b[1] + b[3]


def loose_match(a: Box, b: Box) -> bool:
    """The bar's loose rule for differently drawn boxes: IoU ≥ 0.3, or either box's centre inside the other."""
    return iou(a, b) >= 0.3 or _centre_inside(a, b) or _centre_inside(b, a)


@dataclass(frozen=True, slots=True)
class Score:
    """True/false positives and misses, with the derived precision and recall."""

    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float:
        """Share of detections that are faces (1.0 when nothing was detected)."""
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        """Share of faces found (1.0 when there was nothing to find)."""
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    def as_dict(self) -> dict[str, float | int]:
        """Figures for JSON output, rounded to 4 places."""
        return {"precision": round(self.precision, 4), "recall": round(self.recall, 4), "tp": self.tp,
                "fp": self.fp, "fn": self.fn}


def pairs(detections: Sequence[Box], truths: Sequence[Box], rule: Rule) -> list[tuple[int, int]]:
    """One-to-one (detection, truth) index pairs, pairing the most overlapping boxes first."""
    candidates = sorted(
        ((iou(d, t), di, ti) for di, d in enumerate(detections) for ti, t in enumerate(truths) if rule(d, t)),
        reverse=True,
    )
    used_d: set[int] = set()
    used_t: set[int] = set()
    out = []
    for _, di, ti in candidates:
        if di not in used_d and ti not in used_t:
            used_d.add(di)
            used_t.add(ti)
            out.append((di, ti))
    return out


def match(detections: Sequence[Box], truths: Sequence[Box], rule: Rule) -> int:
    """Number of one-to-one matches, pairing the most overlapping boxes first."""
    return len(pairs(detections, truths, rule))


def score(detections: Mapping[str, Sequence[Box]], truth: Mapping[str, Sequence[Box]], rule: Rule) -> Score:
    """Score detections per image against the truth of the same images."""
    tp = fp = fn = 0
    for image, truths in truth.items():
        found = detections.get(image, [])
        hits = match(found, truths, rule)
        tp, fp, fn = tp + hits, fp + len(found) - hits, fn + len(truths) - hits
    return Score(tp, fp, fn)


BANDS: tuple[tuple[str, float, float], ...] = (("<24", 0.0, 24.0), ("24-48", 24.0, 48.0), (">=48", 48.0, math.inf))


def band_of(box: Box) -> str:
    """Size band of a box by its width in pixels: `<24`, `24-48` or `>=48`."""
    return next(name for name, low, high in BANDS if low <= box[2] < high)


def by_band(
    detections: Mapping[str, Sequence[Box]], truth: Mapping[str, Sequence[Box]], rule: Rule
) -> dict[str, Score]:
    """Scores per face-width band: a hit or miss counts in its true face's band, a false face in its own band."""
    counts = {name: [0, 0, 0] for name, _, _ in BANDS}
    for image, truths in truth.items():
        found = detections.get(image, [])
        matched = pairs(found, truths, rule)
        hit_d, hit_t = {d for d, _ in matched}, {t for _, t in matched}
        for ti, box in enumerate(truths):
            counts[band_of(box)][0 if ti in hit_t else 2] += 1
        for di, box in enumerate(found):
            if di not in hit_d:
                counts[band_of(box)][1] += 1
    return {name: Score(*c) for name, c in counts.items()}
