"""Tests for the shipped produce model files, galleries and the bag/glare augmentation."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from PIL import Image

from edge.scale.recognition.model import DEFAULT_GALLERY, DEFAULT_MODEL, ProduceModel
from edge.scale.recognition.model import FP32_MODEL as FP32
from edge.scale.recognition.gallery import Gallery

PRODUCE = DEFAULT_MODEL.parent
DATA = Path(__file__).resolve().parents[3] / "shared/datasets/grocerystore"


def load_bagaug():  # noqa: ANN201 - a script module outside the package
    """Import models/produce/bagaug.py by path (models/ is not a Python package)."""
    spec = importlib.util.spec_from_file_location("bagaug", PRODUCE / "bagaug.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("path", [DEFAULT_MODEL, FP32], ids=["int8", "fp32"])
def test_model_runs_and_outputs_normalised_embeddings(path: Path) -> None:
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (inp,) = sess.get_inputs()
    assert inp.shape == [1, 3, 224, 224]
    x = np.random.default_rng(0).uniform(-1, 1, (1, 3, 224, 224)).astype(np.float32)
    (emb,) = sess.run(None, {inp.name: x})
    assert emb.shape[0] == 1 and emb.shape[1] >= 64
    assert np.linalg.norm(emb[0]) == pytest.approx(1.0, abs=1e-3)
    assert "version" in sess.get_modelmeta().custom_metadata_map


@pytest.mark.parametrize(
    ("model", "gallery"),
    [(DEFAULT_MODEL, DEFAULT_GALLERY), (FP32, PRODUCE / "gallery-fp32.npz")],
    ids=["int8", "fp32"],
)
def test_gallery_matches_its_model_and_covers_all_classes(model: Path, gallery: Path) -> None:
    rec, g = ProduceModel(model), Gallery.load(gallery)
    assert g.model_version == rec.model_version
    assert len(g) == 81
    assert sorted(m["fine_id"] for m in g.meta.values()) == list(range(81))
    assert {m["coarse_id"] for m in g.meta.values()} == set(range(43))
    _, protos = g.prototypes()
    frame = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    assert protos.shape == (81, rec.embed(frame).shape[0])
    np.testing.assert_allclose(np.linalg.norm(protos, axis=1), 1.0, atol=1e-5)


@pytest.mark.skipif(not (DATA / "test_dev.txt").exists(), reason="dataset ../shared absent")
def test_int8_and_fp32_agree_on_real_images() -> None:
    int8, fp32 = ProduceModel(DEFAULT_MODEL), ProduceModel(FP32)
    paths = [line.split(",")[0] for line in (DATA / "test_dev.txt").read_text().splitlines()][::250]
    for rel in paths:
        with Image.open(DATA / rel) as im:
            assert float(int8.embed(im) @ fp32.embed(im)) > 0.95


def test_bag_glare_is_reproducible_and_changes_the_image() -> None:
    bag_glare = load_bagaug().bag_glare
    img = np.random.default_rng(0).integers(0, 256, (120, 160, 3), dtype=np.uint8)
    a = bag_glare(img, np.random.default_rng(7))
    b = bag_glare(img, np.random.default_rng(7))
    c = bag_glare(img, np.random.default_rng(8))
    assert a.shape == img.shape and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert float(np.abs(a.astype(int) - img).mean()) > 5
    assert a.mean() > img.mean()  # a milky veil and highlights brighten on average


@pytest.mark.parametrize("path", [DEFAULT_MODEL, FP32], ids=["int8", "fp32"])
def test_the_shipped_ensemble_says_how_many_members_it_has(path: Path) -> None:
    # the unrecognised rule reads each member's slice of the embedding (Gallery.scores), so the count must be right
    rec = ProduceModel(path)
    assert rec.members == 2
    frame = np.random.default_rng(3).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    emb = rec.embed(frame)
    halves = emb.reshape(2, -1)
    np.testing.assert_allclose(np.linalg.norm(halves, axis=1), 2 ** -0.5, atol=1e-2)  # each member unit, / sqrt(2) (int8: ±0.3 %)
