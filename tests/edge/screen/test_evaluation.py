"""Tests of ground-truth loading and the strict/loose scoring rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.screen.evaluation import (
    GroundTruthError,
    band_of,
    by_band,
    load_ground_truth,
    loose_match,
    match,
    score,
    strict_match,
)


def test_loads_boxes_and_negatives(tmp_path: Path) -> None:
    path = tmp_path / "gt.csv"
    path.write_text("image,x,y,w,h,annotation\na.jpg,1,2,3,4,consensus\na.jpg,5,6,7,8,dlib_voc\nb.jpg,,,,,negative\n")
    assert load_ground_truth(path) == {"a.jpg": [(1, 2, 3, 4), (5, 6, 7, 8)], "b.jpg": []}


@pytest.mark.parametrize(
    "text",
    [
        "image,x,y,w,h,annotation\na.jpg,1,two,3,4,x\n",
        "name,left\na.jpg,1\n",
        "image,x,y,w,h,annotation\na.jpg,1,2,-3,4,x\n",
        "image,x,y,w,h,annotation\na.jpg,1,2,nan,4,x\n",
    ],
    ids=["bad-number", "bad-header", "negative-width", "nan-width"],
)
def test_malformed_truth_is_a_typed_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "gt.csv"
    path.write_text(text)
    with pytest.raises(GroundTruthError):
        load_ground_truth(path)


def test_missing_truth_is_a_typed_error(tmp_path: Path) -> None:
    with pytest.raises(GroundTruthError):
        load_ground_truth(tmp_path / "none.csv")


def test_loose_rule_accepts_a_tight_box_inside_a_large_one() -> None:
    tight, large = (40, 40, 37, 37), (30, 25, 58, 72)  # dlib brows-to-mouth vs YuNet forehead-to-chin
    assert not strict_match(large, tight)
    assert loose_match(large, tight)
    assert not loose_match((0, 0, 10, 10), (50, 50, 10, 10))


def test_loose_rule_accepts_either_centre_inside_the_other_box() -> None:
    small, big = (60, 60, 10, 10), (0, 0, 100, 100)  # IoU 0.01; only the small box's centre is inside the big one
    assert loose_match(small, big) and loose_match(big, small)


def test_matching_is_one_to_one() -> None:
    truth = [(0, 0, 10, 10)]
    assert match([(0, 0, 10, 10), (1, 1, 10, 10)], truth, strict_match) == 1
    result = score({"a": [(0, 0, 10, 10), (1, 1, 10, 10)], "b": []}, {"a": truth, "b": [(5, 5, 5, 5)]}, strict_match)
    assert (result.tp, result.fp, result.fn) == (1, 1, 1)
    assert result.precision == 0.5 and result.recall == 0.5


def test_empty_sets_score_perfectly() -> None:
    result = score({}, {"neg.jpg": []}, loose_match)
    assert result.precision == 1.0 and result.recall == 1.0


def test_band_edges_follow_face_width() -> None:
    assert [band_of((0, 0, w, w)) for w in (10, 23.9, 24, 47.9, 48, 300)] == [
        "<24", "<24", "24-48", "24-48", ">=48", ">=48"]


def test_bands_count_hits_and_misses_by_true_width_and_false_faces_by_their_own() -> None:
    truth = {"a": [(0, 0, 20, 20), (100, 0, 30, 30), (200, 0, 60, 60)], "b": []}
    found = {"a": [(1, 1, 20, 20), (201, 1, 60, 60)], "b": [(0, 0, 40, 40), (50, 50, 10, 10)]}
    bands = by_band(found, truth, loose_match)
    assert (bands["<24"].tp, bands["<24"].fp, bands["<24"].fn) == (1, 1, 0)
    assert (bands["24-48"].tp, bands["24-48"].fp, bands["24-48"].fn) == (0, 1, 1)
    assert (bands[">=48"].tp, bands[">=48"].fp, bands[">=48"].fn) == (1, 0, 0)
    total = score(found, truth, loose_match)
    assert sum(b.tp for b in bands.values()) == total.tp and sum(b.fp for b in bands.values()) == total.fp
