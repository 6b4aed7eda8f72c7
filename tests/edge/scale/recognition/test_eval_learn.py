"""Tests for `produce eval --learn` / `--exclude-classes` and the replayed learning path, on synthetic photos (no dataset needed)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edge.cli import main as cli_main
from edge.scale.config import LearningSection
from edge.scale.recognition.gallery import Gallery
from edge.scale.recognition.model import DEFAULT_MODEL, ProduceModel
from edge.scale.recognition.teacher import Priced, Teacher

CLASSES = 4
PER_CLASS = 6


def photo(cls: int, seed: int) -> Image.Image:
    """A synthetic 'product': a class-specific colour and stripe pattern, with per-photo noise and shift."""
    rng = np.random.default_rng(1000 * cls + seed)
    y, x = np.mgrid[0:160, 0:160]
    base = np.array([(60 * cls + 40) % 256, (200 - 45 * cls) % 256, (90 + 70 * cls) % 256], np.float32)
    stripes = 60 * np.sin((x * (cls + 1) + y * (CLASSES - cls) + rng.integers(0, 20)) / 7.0)
    img = base + stripes[..., None] + rng.normal(0, 18, (160, 160, 3))
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))


@pytest.fixture(scope="module")
def model() -> ProduceModel:
    """The shipped int8 model."""
    return ProduceModel(DEFAULT_MODEL)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory, model: ProduceModel) -> tuple[Path, Path, Path]:
    """(images folder, list file, gallery .npz): 2 gallery photos and PER_CLASS listed photos of each class."""
    root = tmp_path_factory.mktemp("synthetic")
    gallery = Gallery(model_version=model.model_version, max_per_product=80)
    lines = []
    for cls in range(CLASSES):
        name = f"class-{cls}"
        gallery.meta[name] = {"fine_id": cls, "coarse_id": cls}
        for seed in range(2):
            gallery.add(name, model.embed(photo(cls, 100 + seed)))
        for seed in range(PER_CLASS):
            rel = f"test/{name}_{seed}.png"
            (root / "test").mkdir(exist_ok=True)
            photo(cls, seed).save(root / rel)
            lines.append(f"{rel}, {cls}, {cls}")
    gallery.save(root / "gallery.npz")
    (root / "list.txt").write_text("\n".join(lines) + "\n")
    return root, root / "list.txt", root / "gallery.npz"


def run_eval(capsys: pytest.CaptureFixture[str], dataset: tuple[Path, Path, Path], *extra: str) -> dict:
    """`store-edge produce eval` on the synthetic list; its JSON."""
    root, listing, gallery = dataset
    code = cli_main(["produce", "eval", "--list", str(listing), "--images", str(root), "--gallery", str(gallery), *extra])
    out = capsys.readouterr().out
    assert code == 0
    return json.loads(out)


def test_plain_eval_reports_unsure_rate_and_top1_when_sure(capsys: pytest.CaptureFixture[str], dataset) -> None:
    report = run_eval(capsys, dataset)
    assert report["n"] == CLASSES * PER_CLASS and report["errors"] == 0
    assert 0.0 <= report["unsure_rate"] <= 1.0 and 0.0 <= report["top1_when_sure"] <= 1.0
    assert "curve" not in report and "excluded_unknown" not in report


def test_learn_streams_the_list_and_reports_a_curve_per_quarter(capsys: pytest.CaptureFixture[str], dataset) -> None:
    report = run_eval(capsys, dataset, "--learn", "--seed", "3")
    n = CLASSES * PER_CLASS
    assert report["n"] == n
    assert [q["seen"] for q in report["curve"]] == [6, 12, 18, 24]
    assert all(0.0 <= q["top1"] <= q["top5"] <= 1.0 for q in report["curve"])
    # the synthetic photos of a class are near-duplicates: the first confirmation teaches, the others are skipped
    assert 0 < report["learned"] < n
    base = Gallery.load(dataset[2])
    assert report["gallery_examples"] == sum(len(base.examples(p)) for p in base.products()) + report["learned"]
    # the quarter means are the stream's: their mean is the overall figure
    assert np.mean([q["top1"] for q in report["curve"]]) == pytest.approx(report["top1"])
    assert run_eval(capsys, dataset, "--learn", "--seed", "3") == report  # the seed fixes the order


def test_exclude_classes_measures_open_set(capsys: pytest.CaptureFixture[str], dataset) -> None:
    report = run_eval(capsys, dataset, "--exclude-classes", "0,2")
    assert report["n_excluded"] == 2 * PER_CLASS and report["n"] == 2 * PER_CLASS
    assert 0.0 <= report["excluded_unknown"] <= 1.0 and 0.0 <= report["known_unknown"] <= 1.0


def test_a_refused_item_never_teaches_as_on_the_scale(capsys: pytest.CaptureFixture[str], dataset) -> None:
    # refused (无法识别): the screen shows no tiles, the customer finds the product by searching, which does not teach
    everything_refused = run_eval(capsys, dataset, "--learn", "--exclude-classes", "0", "--unrecognised-score", "1")
    assert everything_refused["known_unknown"] == 1.0 and everything_refused["excluded_unknown"] == 1.0
    assert everything_refused["learned"] == 0
    nothing_refused = run_eval(capsys, dataset, "--learn", "--exclude-classes", "0", "--unrecognised-score", "-1")
    assert nothing_refused["known_unknown"] == 0.0 and nothing_refused["learned"] > 0


@pytest.mark.parametrize("bad", ["nan", "1.5", "-2", "high"])
def test_a_bad_unrecognised_score_is_refused(capsys: pytest.CaptureFixture[str], dataset, bad: str) -> None:
    with pytest.raises(SystemExit):
        run_eval(capsys, dataset, "--unrecognised-score", bad)
    assert "from -1 to 1" in capsys.readouterr().err


def test_exclude_classes_rejects_a_bad_list(capsys: pytest.CaptureFixture[str], dataset) -> None:
    with pytest.raises(SystemExit):
        run_eval(capsys, dataset, "--exclude-classes", "3,apple")
    assert "fine class ids" in capsys.readouterr().err


def unit(seed: int, dim: int = 256) -> np.ndarray:
    """A random unit vector."""
    v = np.random.default_rng(seed).normal(size=dim).astype(np.float32)
    return v / np.linalg.norm(v)


def base_gallery() -> Gallery:
    """Two products, one example each."""
    g = Gallery(model_version="m", max_per_product=80)
    g.add("apple", unit(1))
    g.add("melon", unit(2))
    return g


def test_teacher_learns_an_offered_choice_and_rebuilds_the_product() -> None:
    teacher = Teacher(base_gallery())
    verdict = teacher.confirm([("melon", 0.8), ("apple", 0.6)], "apple", unit(3))
    assert verdict.learn and verdict.reason == "offered at rank 2"
    assert len(teacher.gallery.examples("apple")) == 2 and teacher.stored_examples() == 1


def test_teacher_never_learns_a_choice_not_offered() -> None:
    teacher = Teacher(base_gallery())
    verdict = teacher.confirm([("melon", 0.8)], "apple", unit(3))
    assert not verdict.learn and "not_offered" in verdict.reason
    assert teacher.stored_examples() == 0 and len(teacher.gallery.examples("apple")) == 1


def test_teacher_never_learns_a_suspiciously_cheaper_choice() -> None:
    prices = {"apple": Priced(True, Decimal("2.00")), "melon": Priced(True, Decimal("9.00"))}
    teacher = Teacher(base_gallery(), prices)
    verdict = teacher.confirm([("melon", 0.8), ("apple", 0.7)], "apple", unit(3))
    assert not verdict.learn and "cheaper_than_top1" in verdict.reason
    assert teacher.stored_examples() == 0


def test_teacher_skips_duplicates_and_bounds_each_product() -> None:
    teacher = Teacher(base_gallery(), rules=LearningSection(max_per_product=3))
    assert teacher.confirm([("apple", 0.9)], "apple", unit(3)).learn
    assert teacher.confirm([("apple", 0.9)], "apple", unit(3)).reason == "duplicate of a stored example"
    for seed in range(10, 16):
        teacher.confirm([("apple", 0.9)], "apple", unit(seed))
    assert teacher.stored_examples() == 3
    assert len(teacher.gallery.examples("apple")) == 1 + 3  # the base example is never bounded away
    np.testing.assert_allclose(teacher.gallery.examples("apple")[-1], unit(15), atol=1e-6)  # the newest kept


def test_teacher_refuses_a_low_scoring_choice() -> None:
    teacher = Teacher(base_gallery())
    verdict = teacher.confirm([("melon", 0.8), ("apple", 0.1)], "apple", unit(3))
    assert not verdict.learn and "scored" in verdict.reason
