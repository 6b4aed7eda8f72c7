"""The scale job's artifact kind, `produce-model`: the embedding model, its gallery and a probe set, with the self-check.

An installed version holds `model.onnx`, `gallery.npz` (made by that model: its `model_version` is the model's
`version` metadata) and `probe.npz` (`crops`: N x 224 x 224 x 3 uint8 RGB model views, N <= MAX_PROBES; `labels`: the
gallery class each crop shows). Before a switch the candidate must load in onnxruntime, its gallery must be the
model's (version and embedding size), its embeddings finite, and its top-1 on the probes must not fall below what the
running model and gallery score on the very same probes. The probes are the artifact's set plus up to
MAX_STORE_PROBES of the crops this store kept for its newest learned examples (its own cameras and light, which
headquarters did not choose), labelled by the produce file's class of their SKU. The job runs the active version's
files while `[scale]` sets neither `model` nor `gallery`.
"""

from __future__ import annotations

import functools
import io
import sqlite3
from collections.abc import Sequence
from contextlib import closing
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from edge.artifacts.installed import active_dir
from edge.artifacts.kinds import ArtifactKind, CheckResult
from edge.scale.config import ScaleSection
from edge.scale.recognition import produce_map
from edge.scale.recognition.errors import RecognitionError
from edge.scale.recognition.gallery import Gallery
from edge.scale.recognition.model import (
    DEFAULT_GALLERY,
    DEFAULT_MODEL,
    INPUT_SIZE,
    ProduceModel,
    crop_resize,
    normalise,
)
from edge.scale.recognition.stored import MAX_CROP_BYTES

KIND = "produce-model"
MODEL, GALLERY, PROBE = "model.onnx", "gallery.npz", "probe.npz"
MAX_PROBES = 64  # about 64 x 2 inferences per check: a few seconds on one core for the int8 and fp32 ensembles
MAX_STORE_PROBES = 32  # the store's own kept crops added to them (newest learned examples first)


def kinds(config: Any, section: ScaleSection) -> Sequence[ArtifactKind]:
    """`JobSpec.artifacts`: the one kind the scale job runs from."""
    return [ArtifactKind(KIND, (MODEL, GALLERY, PROBE), functools.partial(self_check, section, database=config.database_path))]


def with_active(section: ScaleSection, data_dir: Path) -> ScaleSection:
    """The section to run with: the active version's model and gallery unless `[scale]` names its own (blocking)."""
    if section.model is not None or section.gallery is not None:
        return section
    folder = active_dir(data_dir, KIND)
    if folder is None:
        return section
    return section.model_copy(update={"model": folder / MODEL, "gallery": folder / GALLERY})


def _running(section: ScaleSection, current: Path | None) -> tuple[Path, Path | None]:
    """The model and gallery the job runs now: the active version's, else the configured or committed ones."""
    if current is not None:
        return current / MODEL, current / GALLERY
    model = section.model or DEFAULT_MODEL
    return model, section.gallery or (DEFAULT_GALLERY if model == DEFAULT_MODEL else None)


def probe_npz(photos: Sequence[Path]) -> bytes:
    """An artifact's `probe.npz` from photos in folders named by their gallery class (what HQ packs; `load_probes` reads it)."""
    crops = np.stack([crop_resize(Image.open(photo)) for photo in photos])
    out = io.BytesIO()
    np.savez_compressed(out, crops=crops, labels=np.array([photo.parent.name for photo in photos]))
    return out.getvalue()


def load_probes(path: Path) -> tuple[np.ndarray, list[str]]:
    """A probe set's crops and labels; ValueError when it is not one."""
    with np.load(path, allow_pickle=False) as z:
        crops, labels = z["crops"], [str(x) for x in z["labels"]]
    if crops.dtype != np.uint8 or crops.ndim != 4 or crops.shape[1:] != (INPUT_SIZE, INPUT_SIZE, 3):
        raise ValueError(f"crops must be N x {INPUT_SIZE} x {INPUT_SIZE} x 3 uint8, got {crops.dtype} {crops.shape}")
    if not 1 <= len(crops) <= MAX_PROBES or len(labels) != len(crops):
        raise ValueError(f"1-{MAX_PROBES} crops with one label each, got {len(crops)} crops and {len(labels)} labels")
    return crops, labels


def store_probes(database: Path, section: ScaleSection) -> tuple[list[np.ndarray], list[str]]:
    """The crops kept with the store's newest learned examples, each once, labelled with its SKU's class (blocking, read-only)."""
    if section.produce_file is None or not database.exists():
        return [], []
    classes = {sku: name for name, sku in produce_map.load(section.produce_file).skus.items()}
    with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5)) as db:
        rows = db.execute("SELECT sku, crop FROM scale_gallery WHERE crop IS NOT NULL AND length(crop) <= ? ORDER BY id DESC LIMIT ?",
                          (MAX_CROP_BYTES, 8 * MAX_STORE_PROBES)).fetchall()
    crops, labels, seen = [], [], set()
    for sku, crop in rows:
        if sku not in classes or crop in seen or len(crops) == MAX_STORE_PROBES:
            continue
        seen.add(crop)  # a re-embedded example keeps the very same crop under each model version
        try:
            view = np.asarray(Image.open(io.BytesIO(crop)).convert("RGB"))
        except (OSError, ValueError, Image.DecompressionBombError):
            continue
        if view.shape == (INPUT_SIZE, INPUT_SIZE, 3):
            crops.append(view)
            labels.append(classes[sku])
    return crops, labels


def top1(model: ProduceModel, gallery: Gallery, crops: np.ndarray, labels: list[str]) -> tuple[np.ndarray, int]:
    """(whether each probe's top-1 answer is right, how many embeddings were not finite) of a model and its gallery."""
    right, bad = np.zeros(len(crops), bool), 0
    for n, (crop, label) in enumerate(zip(crops, labels)):
        emb = model.run(normalise(crop))
        if not np.all(np.isfinite(emb)):
            bad += 1
            continue
        ids, sims, _ = gallery.scores(emb, model.members)
        right[n] = ids[int(np.argmax(sims))] == label
    return right, bad


WORSE_Z = 1.645  # one-sided 95 %: the candidate's losses beat its gains by more than chance on this many probes allows


def worse(candidate: np.ndarray, running: np.ndarray) -> tuple[bool, int, int]:
    """Whether the candidate is worse on the same probes: (verdict, probes only the running model gets right, only the candidate).

    A paired (McNemar) test, not a plain comparison of counts: two equally good models (the same network in int8 and
    float32) differ by a probe or two of 32 by chance, and a strict "not below" refused one of them at random.
    """
    lost = int(np.sum(running & ~candidate))
    gained = int(np.sum(candidate & ~running))
    return lost - gained > WORSE_Z * (lost + gained) ** 0.5, lost, gained


def _load(model_path: Path, gallery_path: Path | None) -> tuple[ProduceModel, Gallery | None]:
    """A model and its gallery, checked to belong together (version, embedding size)."""
    model = ProduceModel(model_path)
    if gallery_path is None:
        return model, None
    try:
        gallery = Gallery.load(gallery_path)
    except (OSError, ValueError, KeyError) as err:
        raise RecognitionError(f"{gallery_path.name} does not load ({err})") from err
    if gallery.model_version != model.model_version:
        raise RecognitionError(f"{gallery_path.name} was made by {gallery.model_version or 'an unnamed model'}, "
                               f"the model is {model.model_version}")
    dim = model.run(np.zeros((1, 3, INPUT_SIZE, INPUT_SIZE), np.float32)).shape[0]
    if not len(gallery) or gallery.prototypes()[1].shape[1] != dim:
        raise RecognitionError(f"{gallery_path.name} holds {gallery.prototypes()[1].shape[1] if len(gallery) else 0}-d "
                               f"embeddings, the model makes {dim}-d ones")
    return model, gallery


def self_check(section: ScaleSection, candidate: Path, current: Path | None, database: Path | None = None) -> CheckResult:
    """The candidate loads, its gallery is its own, and its probe top-1 is not worse than the running model's (`worse`; blocking)."""
    if section.model is not None or section.gallery is not None:
        return CheckResult(False, ["[scale] sets model or gallery, so the job would not run an installed version; remove them first"])
    try:
        crops, labels = load_probes(candidate / PROBE)
    except (OSError, ValueError, KeyError) as err:
        return CheckResult(False, [f"{PROBE}: not a probe set ({err})"])
    try:
        own, own_labels = store_probes(database, section) if database is not None else ([], [])
    except (sqlite3.Error, produce_map.ProduceFileError, OSError) as err:
        return CheckResult(False, [f"the store's kept crops cannot be read ({err})"])
    if own:
        crops, labels = np.concatenate([crops, np.stack(own)]), labels + own_labels
    try:
        model, gallery = _load(candidate / MODEL, candidate / GALLERY)
    except RecognitionError as err:
        return CheckResult(False, [str(err)])
    assert gallery is not None
    right, bad = top1(model, gallery, crops, labels)
    figures: dict[str, Any] = {"model_version": model.model_version, "probes": len(crops), "store_probes": len(own),
                               "top1": int(right.sum())}
    reasons = [f"{bad} of {len(crops)} probe embeddings are not finite"] if bad else []
    try:
        running_model, running_gallery = _load(*_running(section, current))
    except RecognitionError as err:  # nothing usable runs now: the candidate is measured alone
        figures["running_top1"] = None
        figures["running_problem"] = str(err)
    else:
        if running_gallery is not None:
            before = top1(running_model, running_gallery, crops, labels)[0]
            figures["running_top1"] = int(before.sum())
            verdict, lost, gained = worse(right, before)
            if verdict:
                reasons.append(f"probe top-1 {int(right.sum())}/{len(crops)} is worse than the running model's "
                               f"{int(before.sum())}/{len(crops)} (wrong on {lost} probes it gets right, right on {gained} it gets wrong)")
    return CheckResult(not reasons, reasons, figures)
