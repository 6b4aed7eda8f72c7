"""Tests of `store-edge faces detect` and `faces eval` on synthetic images (and the shared set when present)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import pytest

from devices.camera.scene import Keyframe, Scene, shop_background
from edge.cli import main
from edge.screen.detector import DEFAULT_THRESHOLD
from edge.screen.evaluation import loose_match
from tests.conftest import SHARED

FACES_DIR = SHARED / "datasets" / "faces"


@pytest.fixture
def photo_set(tmp_path: Path) -> tuple[Path, Path, dict[str, list]]:
    """Synthetic photos (one face, two faces, none) with a ground-truth CSV in the shared set's format."""
    images = tmp_path / "images"
    images.mkdir()
    scenes = {
        "one.jpg": Scene([[Keyframe(0, 320, 240, 90)]], seed=1),
        "two.png": Scene([[Keyframe(0, 180, 200, 60)], [Keyframe(0, 470, 260, 70)]], seed=2),
    }
    truth: dict[str, list] = {}
    for name, scene in scenes.items():
        image, truth[name] = scene.render(0)
        cv2.imwrite(str(images / name), image)
    cv2.imwrite(str(images / "shelf.jpg"), shop_background(640, 480, seed=3))
    truth["shelf.jpg"] = []
    gt = tmp_path / "ground_truth.csv"
    with open(gt, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["image", "x", "y", "w", "h", "annotation"])
        for name, boxes in truth.items():
            for box in boxes:
                writer.writerow([name, *box, "synthetic"])
            if not boxes:
                writer.writerow([name, "", "", "", "", "negative"])
    return gt, images, truth


def test_detect_prints_one_json_line_per_image(photo_set, capsys) -> None:
    _, images, truth = photo_set
    paths = [str(images / n) for n in ("one.jpg", "two.png", "shelf.jpg")]
    assert main(["faces", "detect", *paths]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["image"] for line in lines] == paths
    for line in lines:
        expected = truth[Path(line["image"]).name]
        assert len(line["faces"]) == len(expected)
        for x, y, w, h, score in line["faces"]:
            assert any(loose_match((x, y, w, h), t) for t in expected) and DEFAULT_THRESHOLD <= score <= 1.0


def test_unreadable_images_get_an_error_line_and_a_failing_exit(photo_set, capsys, tmp_path: Path) -> None:
    _, images, _ = photo_set
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"not a jpeg")
    paths = [str(junk), str(tmp_path / "missing.jpg"), str(images / "one.jpg")]
    assert main(["faces", "detect", *paths]) == 1
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [("error" in line) for line in lines] == [True, True, False]
    assert len(lines[2]["faces"]) == 1  # later images are still processed


def test_eval_scores_both_rules(photo_set, capsys) -> None:
    gt, images, _ = photo_set
    assert main(["faces", "eval", "--truth", str(gt), "--images", str(images)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["n_images"] == 3 and result["n_faces"] == 3
    assert result["strict"]["tp"] == 3 and result["loose"]["fp"] == 0
    assert result["precision"] == result["loose"]["precision"] == 1.0
    assert result["recall"] == result["loose"]["recall"] == 1.0
    assert result["top_level_rule"] == "loose" and result["mean_ms"] > 0


def test_eval_reports_missing_images(photo_set, capsys) -> None:
    gt, images, _ = photo_set
    (images / "two.png").unlink()
    assert main(["faces", "eval", "--truth", str(gt), "--images", str(images)]) == 1
    result = json.loads(capsys.readouterr().out)
    assert result["n_images"] == 2 and list(result["errors"]) == ["two.png"]


def test_eval_on_a_bad_truth_file(tmp_path: Path, capsys) -> None:
    assert main(["faces", "eval", "--truth", str(tmp_path / "none.csv"), "--images", str(tmp_path)]) == 2
    assert "error" in json.loads(capsys.readouterr().out)


def test_eval_on_the_shared_face_set(capsys) -> None:
    if not (FACES_DIR / "ground_truth.csv").is_file():
        pytest.skip("face data set not available")
    assert main(["faces", "eval", "--truth", str(FACES_DIR / "ground_truth.csv"), "--images", str(FACES_DIR / "images")]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["n_images"] == 32
    assert result["loose"]["precision"] >= 0.95 and result["loose"]["recall"] >= 0.9


def test_eval_reports_precision_and_recall_by_face_size(photo_set, capsys) -> None:
    gt, images, _ = photo_set
    image, small = Scene([[Keyframe(0, 200, 200, 18)], [Keyframe(0, 420, 260, 34)]], seed=4).render(0)
    cv2.imwrite(str(images / "small.png"), image)
    with open(gt, "a", newline="") as fh:
        csv.writer(fh).writerows(["small.png", *box, "synthetic"] for box in small)
    assert main(["faces", "eval", "--truth", str(gt), "--images", str(images)]) == 0
    result = json.loads(capsys.readouterr().out)
    bands = result["bands"]
    assert list(bands) == ["<24", "24-48", ">=48"]
    assert (bands["<24"]["tp"], bands["<24"]["fn"]) == (1, 0)  # the 18 px face: found by the 2x pass
    assert (bands["24-48"]["tp"], bands[">=48"]["tp"]) == (1, 3)
    assert sum(b["tp"] for b in bands.values()) == result["loose"]["tp"] and result["upscale"] is True


def test_eval_without_the_2x_pass_misses_the_smallest_face(photo_set, capsys) -> None:
    gt, images, _ = photo_set
    image, small = Scene([[Keyframe(0, 200, 200, 16)]], seed=4).render(0)
    cv2.imwrite(str(images / "small.png"), image)
    with open(gt, "a", newline="") as fh:
        csv.writer(fh).writerow(["small.png", *small[0], "synthetic"])
    assert main(["faces", "eval", "--no-upscale", "--threshold", "0.85", "--truth", str(gt), "--images", str(images)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["upscale"] is False and result["bands"]["<24"]["fn"] == 1


@pytest.mark.parametrize("value", ["0", "1.5", "nan", "high"])
def test_a_bad_threshold_is_a_usage_error(photo_set, capsys, value: str) -> None:
    _, images, _ = photo_set
    with pytest.raises(SystemExit) as exc:
        main(["faces", "detect", "--threshold", value, str(images / "one.jpg")])
    assert exc.value.code == 2 and "(0, 1]" in capsys.readouterr().err
