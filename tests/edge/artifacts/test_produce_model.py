"""The produce-model kind's self-check with real onnxruntime loads: a re-exported model passes, broken or worse ones fail."""

from __future__ import annotations

import asyncio
import io
import random
import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edge.scale import artifacts
from edge.scale.config import ScaleSection
from edge.scale.recognition import produce_map
from edge.scale.recognition.gallery import Gallery
from edge.scale.recognition.model import (
    DEFAULT_GALLERY,
    DEFAULT_MODEL,
    FP32_GALLERY,
    FP32_MODEL,
    crop_resize,
)
from edge.scale.schema import STEPS
from edge.store import Store
from tests.edge.artifacts.onnx_wire import scrambled
from tests.edge.scale.conftest import PRODUCE

DATASET = Path(__file__).resolve().parents[3] / "../shared/datasets/grocerystore/test"


def probe_set(n: int = 32, seed: int = 1) -> bytes:
    """A probe.npz of `n` test photos (not in the gallery), as HQ would ship it."""
    files = sorted(DATASET.rglob("*.jpg"))
    random.Random(seed).shuffle(files)
    return artifacts.probe_npz(files[:n])


@pytest.fixture(scope="module")
def probes() -> bytes:
    """One probe set for the module (decoding 32 photos takes a moment)."""
    return probe_set()


def candidate(folder: Path, model: Path | bytes, gallery: Path, probe: bytes) -> Path:
    """A version folder as an install leaves it."""
    folder.mkdir()
    if isinstance(model, bytes):
        (folder / "model.onnx").write_bytes(model)
    else:
        shutil.copy(model, folder / "model.onnx")
    shutil.copy(gallery, folder / "gallery.npz")
    (folder / "probe.npz").write_bytes(probe)
    return folder


def test_the_fp32_export_passes_against_the_int8_model_running(tmp_path: Path, probes: bytes) -> None:
    result = artifacts.self_check(ScaleSection(), candidate(tmp_path / "v2-fp32", FP32_MODEL, FP32_GALLERY, probes), None)
    assert result.passed, result
    assert result.figures["model_version"] == "produce-ensemble-v2-fp32" and result.figures["probes"] == 32
    assert result.figures["top1"] >= 28 and result.figures["running_top1"] >= 28  # both near 30/32: one probe apart by chance


def test_a_model_that_does_not_load_fails(tmp_path: Path, probes: bytes) -> None:
    garbage = DEFAULT_MODEL.read_bytes()[:100_000]  # truncated: right hash and signature, not a model
    result = artifacts.self_check(ScaleSection(), candidate(tmp_path / "broken", garbage, DEFAULT_GALLERY, probes), None)
    assert not result.passed and result.reasons[0].startswith("cannot load model ")


def test_a_gallery_of_another_model_or_dimension_fails(tmp_path: Path, probes: bytes) -> None:
    other = artifacts.self_check(ScaleSection(), candidate(tmp_path / "a", FP32_MODEL, DEFAULT_GALLERY, probes), None)
    assert other.reasons == ["gallery.npz was made by produce-ensemble-v2-int8, the model is produce-ensemble-v2-fp32"]
    small = Gallery(model_version="produce-ensemble-v2-fp32")
    for i in range(3):
        small.add(f"class-{i}", np.random.default_rng(i).normal(size=128))
    small.save(tmp_path / "g128.npz")
    dim = artifacts.self_check(ScaleSection(), candidate(tmp_path / "b", FP32_MODEL, tmp_path / "g128.npz", probes), None)
    assert dim.reasons == ["gallery.npz holds 128-d embeddings, the model makes 512-d ones"]


def test_a_model_that_scores_worse_on_the_probes_fails(tmp_path: Path, probes: bytes) -> None:
    worse = scrambled(DEFAULT_MODEL.read_bytes())  # int8 weights shuffled: loads and runs, recognises nothing
    result = artifacts.self_check(ScaleSection(), candidate(tmp_path / "worse", worse, DEFAULT_GALLERY, probes), None)
    assert not result.passed and result.figures["top1"] < result.figures["running_top1"]
    [reason] = result.reasons
    assert reason.startswith(f"probe top-1 {result.figures['top1']}/32 is worse than the running model's {result.figures['running_top1']}/32 (wrong on ")


@pytest.mark.parametrize(
    ("candidate_right", "running_right", "is_worse"),
    [
        (29, 30, False),  # the same network in float32 against int8: one probe apart by chance
        (30, 32, False),  # two lost, none gained: 2 <= 1.645 * sqrt(2)
        (29, 32, True),  # three lost, none gained: 3 > 1.645 * sqrt(3)
        (0, 30, True),  # recognises nothing
        (32, 0, False),
    ],
)
def test_worse_is_a_paired_test_not_a_strict_comparison(candidate_right: int, running_right: int, is_worse: bool) -> None:
    candidate, running = np.arange(32) < candidate_right, np.arange(32) < running_right
    verdict, lost, gained = artifacts.worse(candidate, running)
    assert verdict is is_worse
    assert (lost, gained) == (max(0, running_right - candidate_right), max(0, candidate_right - running_right))
    # losses and gains on different probes cancel: 5 lost and 5 gained is no worse, 8 lost and 1 gained is
    ours, theirs = np.arange(32) < 27, (np.arange(32) >= 5) & (np.arange(32) < 32)
    assert artifacts.worse(ours, theirs) == (False, 5, 5)
    assert artifacts.worse(np.arange(32) < 20, (np.arange(32) >= 1) & (np.arange(32) < 28)) == (True, 8, 1)


def test_bad_probe_sets_and_an_explicit_model_fail(tmp_path: Path, probes: bytes) -> None:
    bad = io.BytesIO()
    np.savez(bad, crops=np.zeros((2, 10, 10, 3), np.uint8), labels=np.array(["a", "b"]))
    result = artifacts.self_check(ScaleSection(), candidate(tmp_path / "p", FP32_MODEL, FP32_GALLERY, bad.getvalue()), None)
    assert not result.passed and result.reasons[0].startswith("probe.npz: not a probe set (crops must be N x 224 x 224 x 3")
    pinned = artifacts.self_check(ScaleSection(model=DEFAULT_MODEL), tmp_path / "p", None)
    assert not pinned.passed and "[scale] sets model or gallery" in pinned.reasons[0]


def test_the_job_runs_the_active_version_unless_the_section_names_its_files(tmp_path: Path) -> None:
    from edge.artifacts.installed import Pointer, set_pointer

    assert artifacts.with_active(ScaleSection(), tmp_path) == ScaleSection()
    set_pointer(tmp_path / "artifacts", artifacts.KIND, Pointer("v2-fp32"))
    active = artifacts.with_active(ScaleSection(), tmp_path)
    assert active.model == tmp_path / "artifacts/produce-model/v2-fp32/model.onnx"
    assert active.gallery == tmp_path / "artifacts/produce-model/v2-fp32/gallery.npz"
    assert artifacts.with_active(ScaleSection(model=DEFAULT_MODEL), tmp_path).model == DEFAULT_MODEL



def _keep_crops(database: Path) -> None:
    """Five learned examples with their crops, one of them re-embedded under a second version (the same crop twice)."""
    skus = produce_map.load(PRODUCE).skus
    with closing(sqlite3.connect(database)) as db, db:
        for i, f in enumerate(sorted(DATASET.rglob("*.jpg"))[::97][:5]):
            out = io.BytesIO()
            Image.fromarray(crop_resize(Image.open(f))).save(out, "JPEG", quality=85)
            for version in ("produce-ensemble-v2-int8", "produce-ensemble-v2-fp32")[: 2 if i == 0 else 1]:
                db.execute("INSERT INTO scale_gallery (sku, model_version, source, embedding, created_at, crop) "
                           "VALUES (?, ?, 'learned', ?, '2026-12-01T00:00:00Z', ?)",
                           (skus[f.parent.name], version, np.ones(512, np.float32).tobytes(), out.getvalue()))


async def test_the_stores_own_kept_crops_are_probes_too(tmp_path: Path, probes: bytes) -> None:
    store = await asyncio.to_thread(Store, tmp_path / "s.db", schemas={"scale": STEPS})
    await store.aclose()
    await asyncio.to_thread(_keep_crops, tmp_path / "s.db")
    folder = await asyncio.to_thread(candidate, tmp_path / "v2-fp32", FP32_MODEL, FP32_GALLERY, probes)
    result = await asyncio.to_thread(artifacts.self_check, ScaleSection(produce_file=PRODUCE), folder, None, database=tmp_path / "s.db")
    assert result.passed, result
    assert (result.figures["probes"], result.figures["store_probes"]) == (37, 5)  # the re-embedded crop counted once
