"""Tests of the synthetic face set behind benchmarks/faces_accuracy.py: deterministic, split, truthful boxes."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks import faces_accuracy as study
from edge.screen.detector import YuNetDetector
from edge.screen.evaluation import loose_match


@pytest.fixture(scope="module")
def parts(faces_dataset) -> tuple[list[study.Sample], list[study.Sample]]:
    """A few images of each part (the shared set must be mounted)."""
    return study.build_part(0, n_images=6), study.build_part(1, n_images=6)


def test_parts_are_deterministic_and_differ(parts) -> None:
    again = study.build_part(0, n_images=6)
    assert [s.boxes for s in again] == [s.boxes for s in parts[0]]
    assert all(np.array_equal(a.image, b.image) for a, b in zip(again, parts[0], strict=True))
    assert [s.boxes for s in parts[0]] != [s.boxes for s in parts[1]]


def test_boxes_lie_in_the_frame_at_the_studied_sizes(parts) -> None:
    boxes = [b for part in parts for s in part for b in s.boxes]
    assert len(boxes) >= 12
    for x, y, w, h in boxes:
        assert 0 <= x and 0 <= y and x + w <= 640 and y + h <= 480
        assert study.SIZES_PX[0] - 1 <= w <= study.SIZES_PX[1] + 1


def test_the_pasted_large_faces_are_found_where_the_truth_says(parts) -> None:
    detector = YuNetDetector(min_face_px=24)
    large = [(s, b) for part in parts for s in part for b in s.boxes if b[2] >= 60]
    assert large
    found = sum(any(loose_match(f.box, b) for f in detector.detect(s.image)) for s, b in large)
    assert found >= 0.8 * len(large)


def test_an_option_applies_like_the_detector(parts) -> None:
    sample = parts[1][0]
    cached, _, _ = study.candidates([sample])
    option = study.Option(0.85, upscale=True, landmarks=True)
    faces = study.apply(option, *cached[sample.name])
    assert faces == YuNetDetector(min_face_px=24, score_threshold=0.85, upscale=True).detect(sample.image)
