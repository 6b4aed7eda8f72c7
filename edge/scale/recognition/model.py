"""The produce model: image -> embedding (ONNX, CPU) -> nearest products of a gallery, with the unsure rule.

Everything here blocks (decoding, inference); the daemon calls it on the recognition worker thread.
Preprocessing is the one used in training: RGB, centre square crop, bicubic resize to 224x224, (pixel - 127) / 128.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import numpy as np
import onnxruntime as ort
from PIL import Image, UnidentifiedImageError

from edge.scale.recognition.errors import EmptyGallery, ModelMismatch, RecognitionError, UnusableFrame
from edge.scale.recognition.gallery import Gallery

INPUT_SIZE = 224
# The shipped model: models/produce/export.py writes `<MODEL_NAME>.onnx` (float32) and `<MODEL_NAME>.int8.onnx` there.
MODEL_NAME = "produce-ensemble-v2"
MODELS_DIR = Path(__file__).resolve().parents[3] / "models/produce"
DEFAULT_MODEL = MODELS_DIR / f"{MODEL_NAME}.int8.onnx"
DEFAULT_GALLERY = MODELS_DIR / "gallery.npz"
FP32_MODEL = MODELS_DIR / f"{MODEL_NAME}.onnx"
FP32_GALLERY = MODELS_DIR / "gallery-fp32.npz"

# "unsure" rule: the best product's score is below UNSURE_SCORE, or it beats the runner-up by less than UNSURE_MARGIN.
# Chosen on val (train-only gallery) by models/produce/choose_unsure.py: the fewest flagged answers such that
# >= 95 % of the answers left "sure" are right (val: 15.9 % flagged, 95.2 % right when sure, 71 % of errors flagged).
# They belong to the shipped model and gallery rule; re-run it after retraining or changing Gallery.scores.
UNSURE_SCORE = 0.65
UNSURE_MARGIN = 0.04
# "unrecognised": the item looks known below this (Recognition.known: the weakest ensemble member's best prototype
# cosine), so the screen shows no tiles ("无法识别") and offers search. Judged on prototypes alone, which what a store
# learns does not move (a learned example near a hand would lift its product's score). Chosen on val
# (`benchmarks/bench_produce.py --val-study`, train-only gallery, 20 classes left out): the most unknown items refused
# with <= 10 % of known ones refused, ties to the fewer known ones: 0.50 refuses 85.7 % / 8.7 %, hiding 0.5 % of right
# answers (the best full-embedding cosine below 0.50: 78.6 % / 9.2 %). MODEL_CARD.md, "Unknown items".
UNRECOGNISED_SCORE = 0.50
# frames whose 224x224 view has a grey-level standard deviation below this are blank (lens cap, black, white)
BLANK_STD = 6.0

ImageLike = Union[np.ndarray, Image.Image, bytes]


def square_box(width: int, height: int) -> tuple[int, int, int, int]:
    """Centre square crop box (left, top, right, bottom) of an image of the given size."""
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    return left, top, left + side, top + side


def normalise(rgb: np.ndarray) -> np.ndarray:
    """Map HxWx3 uint8 RGB to the model input 1x3xHxW float32 (pixel - 127) / 128."""
    x = (rgb.astype(np.float32) - 127.0) / 128.0
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None])


# Modes whose conversion to RGB keeps or repeats each channel: bicubic resampling treats every channel alike,
# so resizing first gives the very same pixels for a fraction of the work. Others (palette, alpha, CMYK,
# 16-bit...) convert first, as in training.
_RESIZE_FIRST = ("RGB", "L")


def _centre_view(image: Image.Image) -> Image.Image:
    """The centre square, bicubic-resized to 224x224, in the image's own mode."""
    return image.resize((INPUT_SIZE, INPUT_SIZE), Image.Resampling.BICUBIC, box=square_box(*image.size))


def crop_resize(image: Image.Image) -> np.ndarray:
    """Centre square crop, bicubic resize to 224x224, as uint8 RGB (the training-time eval view)."""
    if image.mode not in _RESIZE_FIRST:
        image = image.convert("RGB")
    return np.asarray(_centre_view(image).convert("RGB"))


def _frame_view(frame: np.ndarray) -> np.ndarray:
    """A camera frame (uint8 BGR or grey) -> its 224x224 RGB view, resized as it lies and reordered only at 224x224."""
    if frame.dtype != np.uint8 or frame.ndim not in (2, 3) or min(frame.shape[:2]) < 16:
        raise UnusableFrame(f"expected a uint8 HxW or HxWx3 frame of 16 px or more, got {frame.dtype} {frame.shape}")
    if frame.ndim == 2:
        return crop_resize(Image.fromarray(frame))
    if frame.shape[2] != 3:
        raise UnusableFrame(f"expected 3 channels (BGR), got {frame.shape[2]}")
    height, width = frame.shape[:2]
    # One copy into Pillow with the bytes in their camera order (B, G, R read as R, G, B), no full-size reorder.
    as_is = Image.frombuffer("RGB", (width, height), np.ascontiguousarray(frame), "raw", "RGB", 0, 1)
    return np.asarray(_centre_view(as_is))[:, :, ::-1]


def _decoded(data: bytes | bytearray | memoryview) -> Image.Image:
    """Encoded image bytes (JPEG, PNG...) -> a loaded PIL image; UnusableFrame when they do not decode."""
    try:
        img = Image.open(io.BytesIO(bytes(data)))
        img.load()
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError) as err:
        raise UnusableFrame(f"cannot decode image: {err}") from err
    return img


def _rgb_view(image: ImageLike) -> np.ndarray:
    """A BGR or grey numpy frame, a PIL image or encoded bytes -> the 224x224 uint8 RGB view; UnusableFrame when unreadable."""
    if isinstance(image, np.ndarray):
        return _frame_view(image)
    if isinstance(image, (bytes, bytearray, memoryview)):
        image = _decoded(image)
    if not isinstance(image, Image.Image):
        raise UnusableFrame(f"unsupported image type {type(image).__name__}")
    try:
        return crop_resize(image)
    except (OSError, ValueError) as err:
        raise UnusableFrame(f"cannot decode image: {err}") from err


def _grey_std(rgb: np.ndarray) -> float:
    """Standard deviation of the grey level (the channel mean), equal to float32 `mean(axis=2).std()` without its 3-channel float copy."""
    total = rgb[..., 0].astype(np.uint16) + rgb[..., 1] + rgb[..., 2]  # exact; so is its float32 form, / 3 rounds as mean does
    return float((total.astype(np.float32) / np.float32(3)).std())


def model_view(image: ImageLike) -> np.ndarray:
    """Image -> the 224x224 uint8 RGB view the model sees; UnusableFrame when corrupt or blank."""
    rgb = _rgb_view(image)
    if _grey_std(rgb) < BLANK_STD:
        raise UnusableFrame("blank frame (no texture)")
    return rgb


def preprocess(image: ImageLike) -> np.ndarray:
    """Image -> model input 1x3x224x224 float32; UnusableFrame when corrupt or blank."""
    return normalise(model_view(image))


# An enrolment photo is one of only a few of its product, competing with products known from dozens: its example is
# the mean embedding of these views of its 224x224 view (mirrored; 80 % crops at the centre, towards the top left and
# towards the bottom right, resized back), which is steadier than the one view. Chosen on val with the hold-out model
# (MODEL_CARD.md, "Onboarding"). Each is a function of the 224x224 view alone, so a kept crop re-embeds the same way.
ENROL_CROP = 0.8
ENROL_CROP_AT = ((0.5, 0.5), (0.1, 0.1), (0.9, 0.9))  # where each crop's top-left corner lies in the room left


def enrolment_views(rgb: np.ndarray) -> list[np.ndarray]:
    """The 224x224 RGB view, its mirror and its three 80 % crops resized back to 224x224 (bicubic)."""
    side = int(INPUT_SIZE * ENROL_CROP)
    room = INPUT_SIZE - side
    views = [rgb, np.ascontiguousarray(rgb[:, ::-1])]
    for fx, fy in ENROL_CROP_AT:
        x, y = int(room * fx), int(room * fy)
        crop = Image.fromarray(rgb[y : y + side, x : x + side])
        views.append(np.asarray(crop.resize((INPUT_SIZE, INPUT_SIZE), Image.Resampling.BICUBIC)))
    return views


@dataclass(frozen=True)
class Recognition:
    """Top-k products for one frame, best first, with cosine scores, an unsure flag, stage timings (ms) and the embedding."""

    candidates: list[tuple[str, float]]
    unsure: bool
    model_version: str
    timings: dict[str, float]
    embedding: np.ndarray
    known: float  # how known the item looks (Gallery.scores: prototypes only, the weakest member): what "unrecognised" is judged on


def is_unsure(scores: list[float], min_score: float = UNSURE_SCORE) -> bool:
    """The documented rule: top score below `min_score` (default UNSURE_SCORE), or top-1 minus top-2 below UNSURE_MARGIN."""
    if not scores:
        return True
    second = scores[1] if len(scores) > 1 else -1.0
    return scores[0] < min_score or scores[0] - second < UNSURE_MARGIN


def is_unrecognised(found: Recognition, threshold: float = UNRECOGNISED_SCORE) -> bool:
    """The scale screen's "无法识别": no candidate, or nothing's prototype within `threshold` (default UNRECOGNISED_SCORE)."""
    return not found.candidates or found.known < threshold


MAX_MEMBERS = 16  # far more than a 50 ms budget could run; a larger count is a damaged or foreign file


def _member_count(text: str, model_path: Path) -> int:
    """The 'members' metadata as a count of 1 to MAX_MEMBERS; RecognitionError for anything else."""
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_MEMBERS:
        raise RecognitionError(f"model {model_path} has an unusable 'members' metadata value {text[:40]!r}")
    return int(text)


class ProduceModel:
    """The embedding model on onnxruntime (CPU, one intra-op thread, sequential execution)."""

    def __init__(self, model_path: Path = DEFAULT_MODEL, threads: int = 1) -> None:
        """Load the ONNX model; its 'version' metadata names the embeddings it makes."""
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        try:
            self._session = ort.InferenceSession(str(model_path), opts, providers=["CPUExecutionProvider"])
        except Exception as err:  # onnxruntime raises its own untyped errors for missing/bad files
            raise RecognitionError(f"cannot load model {model_path}: {err}") from err
        meta = self._session.get_modelmeta().custom_metadata_map
        self.model_version = meta.get("version", Path(model_path).stem)
        # an ensemble's embedding is its members' side by side (models/produce/export.py writes the count)
        self.members = _member_count(meta.get("members", "1"), model_path)
        self._input = self._session.get_inputs()[0].name

    def run(self, x: np.ndarray) -> np.ndarray:
        """Model alone: a preprocessed 1x3x224x224 input -> its L2-normalised embedding.

        Normalised here as well as in the graph: an int8 ensemble's averaged output is off unit length by the
        quantisation error (up to 0.2 %), which would scale every cosine of that query.
        """
        out = self._session.run(None, {self._input: x})[0][0]
        return out / max(float(np.linalg.norm(out)), 1e-12)

    def embed(self, image: ImageLike) -> np.ndarray:
        """Image (BGR numpy frame, PIL image or encoded bytes) -> L2-normalised embedding."""
        return self.run(preprocess(image))

    def embed_enrolment(self, image: ImageLike) -> np.ndarray:
        """An enrolment image's example: the normalised mean embedding of its enrolment_views (five model calls)."""
        total = np.sum([self.run(normalise(v)) for v in enrolment_views(model_view(image))], axis=0)
        return total / max(float(np.linalg.norm(total)), 1e-12)

    def recognize(self, image: ImageLike, gallery: Gallery, k: int = 5, min_score: float = UNSURE_SCORE) -> Recognition:
        """Best k products of the gallery by its score (Gallery.scores), with the unsure flag (`min_score`: its threshold)."""
        if not len(gallery):
            raise EmptyGallery("the gallery has no products")
        if gallery.model_version and gallery.model_version != self.model_version:
            raise ModelMismatch(f"gallery made by {gallery.model_version}, querying with {self.model_version}")
        t0 = time.perf_counter()
        x = preprocess(image)
        t1 = time.perf_counter()
        emb = self.run(x)
        if emb.shape[0] % self.members:
            raise RecognitionError(f"a {emb.shape[0]}-d embedding does not split into {self.members} members")
        t2 = time.perf_counter()
        ids, sims, known = gallery.scores(emb, self.members)
        top = np.argsort(-sims)[:k]
        candidates = [(ids[i], float(sims[i])) for i in top]
        t3 = time.perf_counter()
        timings = {"preprocess_ms": (t1 - t0) * 1e3, "model_ms": (t2 - t1) * 1e3, "search_ms": (t3 - t2) * 1e3}
        return Recognition(candidates, is_unsure([s for _, s in candidates], min_score), self.model_version, timings, emb, known)
