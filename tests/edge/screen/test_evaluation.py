"""Tests of ground-truth loading and the strict/loose scoring rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.screen.evaluation import GroundTruthError, load_ground_truth, loose_match, match, score, strict_match


def test_loads_boxes_and_negatives(tmp_path: Path) -> None:
    path = tmp_path / "gt.csv"
    path.write_text("image,x,y,w,h,annotation\na.jpg,1,2,3,4,consensus\na.jpg,5,6,7,8,dlib_voc\nb.jpg,,,,,negative\n")
    assert load_ground_truth(path) == {"a.jpg": [(1, 2, 3, 4), (5, 6, 7, 8)], "b.jpg": []}


@pytest.mark.parametrize(
    "text", ["image,x,y,w,h,annotation\na.jpg,1,two,3,4,x\n", "name,left\na.jpg,1\n"], ids=["bad-number", "bad-header"]
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


def test_matching_is_one_to_one() -> None:
    truth = [(0, 0, 10, 10)]
    assert match([(0, 0, 10, 10), (1, 1, 10, 10)], truth, strict_match) == 1
    result = score({"a": [(0, 0, 10, 10), (1, 1, 10, 10)], "b": []}, {"a": truth, "b": [(5, 5, 5, 5)]}, strict_match)
    assert (result.tp, result.fp, result.fn) == (1, 1, 1)
    assert result.precision == 0.5 and result.recall == 0.5


def test_empty_sets_score_perfectly() -> None:
    result = score({}, {"neg.jpg": []}, loose_match)
    assert result.precision == 1.0 and result.recall == 1.0
