"""The recognition worker: one thread owns the produce model and the in-memory gallery, so the gallery needs no lock.

Everything that touches the model or the gallery runs on this thread: loading, rebuilding from
SQLite, recognising a frame, embedding enrolment images, encoding the crop a learned example keeps
and re-embedding kept crops after a model upgrade. A broken model, gallery or produce file
degrades the scales to search-only (`problem` says why); the daemon still starts.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np
import structlog
from PIL import Image, UnidentifiedImageError

from edge.scale.config import ScaleSection
from edge.scale.recognition import produce_map
from edge.scale.recognition.errors import (
    EmptyGallery,
    ModelMismatch,
    RecognitionError,
    UnusableFrame,
)
from edge.scale.recognition.gallery import Gallery
from edge.scale.recognition.model import (
    DEFAULT_GALLERY,
    DEFAULT_MODEL,
    INPUT_SIZE,
    UNSURE_SCORE,
    ImageLike,
    ProduceModel,
    Recognition,
    model_view,
)
from edge.scale.recognition.stored import MAX_CROP_BYTES
from edge.sync.commands import CommandError

log = structlog.get_logger("scale")

TOP_K = 5
CROP_QUALITY = 85  # JPEG quality of a kept crop: 14.7 kB mean, 20 kB max on 200 test_dev photos (MODEL_CARD.md "Model upgrades")
Examples = list[tuple[str, np.ndarray]]


class RecognitionWorker:
    """The produce model, the shipped base gallery and the live gallery, on one dedicated thread."""

    def __init__(self, cfg: ScaleSection) -> None:
        """Load the produce file, the model and the base gallery (blocking: the App is built off the loop)."""
        self.cfg = cfg
        self.problem: str | None = None
        self.model: ProduceModel | None = None
        self.model_version = ""
        self.produce = produce_map.ProduceMap({}, [])
        self.base: dict[str, np.ndarray] = {}
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="scale-recognition")
        try:
            if cfg.produce_file:
                self.produce = produce_map.load(cfg.produce_file)
            self.model = ProduceModel(cfg.model or DEFAULT_MODEL)
            self.model_version = self.model.model_version
            self.base = self._load_base_gallery()
        except (RecognitionError, produce_map.ProduceFileError, OSError, ValueError, KeyError) as err:
            self.problem = str(err)
            log.error("scale.recognition.unavailable", error=self.problem)
        self.gallery = Gallery.live(self.model_version)

    def _load_base_gallery(self) -> dict[str, np.ndarray]:
        """The shipped gallery's examples per SKU (classes without a mapped SKU are left out)."""
        path = self.cfg.gallery or (DEFAULT_GALLERY if (self.cfg.model or DEFAULT_MODEL) == DEFAULT_MODEL else None)
        if path is None or not self.produce.skus:
            return {}
        base = Gallery.load(path)
        if base.model_version and base.model_version != self.model_version:
            raise ModelMismatch(f"{path} was made by {base.model_version}, the model is {self.model_version}")
        return {self.produce.skus[c]: base.examples(c) for c in base.products() if c in self.produce.skus}

    def shutdown(self) -> None:
        """Abandon queued work (no label is printed without a confirmation, so nothing is lost)."""
        self._executor.shutdown(wait=False, cancel_futures=True)

    # ----- gallery ------------------------------------------------------------------------
    async def rebuild(self, stored: Examples, only: str | None = None) -> None:
        """Base examples plus the stored ones, for every product or just `only`."""
        await asyncio.get_running_loop().run_in_executor(self._executor, self._rebuild, stored, only)

    def schedule_rebuild(self, stored: Examples, sku: str) -> None:
        """From a commit callback on the loop: refresh one product on the worker thread, without waiting."""
        self._executor.submit(self._rebuild, stored, sku)

    def _rebuild(self, stored: Examples, only: str | None = None) -> None:
        """Worker thread: replace the examples of every product (or `only`)."""
        skus = [only] if only is not None else list(dict.fromkeys([*self.base, *(s for s, _ in stored)]))
        for sku in skus:
            self.gallery.replace(sku, self.base.get(sku, ()), (e for s, e in stored if s == sku))

    @property
    def dim(self) -> int:
        """Length of this model's embeddings (the base gallery's; 256 for the shipped models when it has none)."""
        return next((int(e.shape[1]) for e in self.base.values()), 256)

    async def guard(self, items: Sequence[tuple[str, np.ndarray]]) -> list[str | None]:
        """For each (sku, unit embedding): None when it is closest to its own product's prototype, else why it is refused."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._guard, items)

    def _guard(self, items: Sequence[tuple[str, np.ndarray]]) -> list[str | None]:
        """Worker thread: the live gallery's prototypes against each example (the rule of docs/mqtt-api/scale.md, shared learning)."""
        if not len(self.gallery):
            return ["no_prototype"] * len(items)
        ids, protos = self.gallery.prototypes()
        row = {p: i for i, p in enumerate(ids)}
        out: list[str | None] = []
        for sku, embedding in items:
            if sku not in row:
                out.append("no_prototype")
                continue
            sims = protos @ embedding
            own = float(sims[row[sku]])
            sims[row[sku]] = -np.inf
            out.append(None if len(ids) == 1 or own > float(sims.max()) else "closer_to_other_product")
        return out

    # ----- recognition --------------------------------------------------------------------
    @property
    def unsure_score(self) -> float:
        """The unsure rule's score threshold: configured, else the model card's."""
        return UNSURE_SCORE if self.cfg.unsure_score is None else self.cfg.unsure_score

    async def recognize(self, image: np.ndarray, k: int = TOP_K) -> Recognition:
        """Top-k SKUs of one frame; UnusableFrame / EmptyGallery (RecognitionError) when it cannot be done."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._recognize, image, k)

    def _recognize(self, image: np.ndarray, k: int) -> Recognition:
        """Worker thread: the model and the live gallery, with the configured unsure threshold."""
        if self.model is None:
            raise EmptyGallery(f"recognition unavailable: {self.problem}")
        return self.model.recognize(image, self.gallery, k, self.unsure_score)

    async def embed_enrolment(self, images: Sequence[tuple[str, bytes]]) -> list[np.ndarray]:
        """Embeddings of checked enrolment images (where each came from, its bytes), in order; a bad one is a CommandError naming it."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._embed_enrolment, images)

    def _embed_enrolment(self, images: Sequence[tuple[str, bytes]]) -> list[np.ndarray]:
        """Worker thread: decode and embed every image."""
        if self.model is None:
            raise CommandError("busy", f"recognition unavailable on this gateway: {self.problem}")
        embeddings = []
        for where, data in images:
            try:
                embeddings.append(self.model.embed_enrolment(data))
            except UnusableFrame as err:
                raise CommandError("invalid_argument", f"{where}: {err}") from err
            except RecognitionError as err:
                raise CommandError("internal", f"{where}: {err}") from err
        return embeddings

    # ----- kept crops ---------------------------------------------------------------------
    def keep_crop(self, image: ImageLike) -> Future[bytes]:
        """From the loop, after a recognition: queue the JPEG of the frame's model input view (the answer is not delayed)."""
        return self._executor.submit(self._crop, image)

    @staticmethod
    def _crop(image: ImageLike) -> bytes:
        """Worker thread: the model's own 224x224 input view of `image` (the platter crop), as a JPEG."""
        out = io.BytesIO()
        Image.fromarray(model_view(image)).save(out, "JPEG", quality=CROP_QUALITY)
        return out.getvalue()

    async def embed_crops(self, crops: Sequence[bytes], enrolled: Sequence[bool] = ()) -> list[np.ndarray | str]:
        """Embeddings of kept crops with this model, in order; a crop that cannot be used gives the reason instead.

        An `enrolled` crop (flags in order; none: all False) is embedded as `scale.enroll` embeds an image.
        """
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._embed_crops, crops, enrolled)

    def _embed_crops(self, crops: Sequence[bytes], enrolled: Sequence[bool]) -> list[np.ndarray | str]:
        """Worker thread: check each crop is a 224x224 JPEG of bounded size, then embed it."""
        assert self.model is not None, "re-embedding needs the model"
        out: list[np.ndarray | str] = []
        flags = list(enrolled) + [False] * (len(crops) - len(enrolled))
        for crop, enrolment in zip(crops, flags):
            if len(crop) > MAX_CROP_BYTES:
                out.append(f"crop of {len(crop)} bytes, more than {MAX_CROP_BYTES}")
                continue
            try:
                img = Image.open(io.BytesIO(crop))
                if img.format != "JPEG" or img.size != (INPUT_SIZE, INPUT_SIZE):
                    out.append(f"not a {INPUT_SIZE}x{INPUT_SIZE} JPEG ({img.format} {img.size[0]}x{img.size[1]})")
                    continue
                img.load()
                out.append(self.model.embed_enrolment(img) if enrolment else self.model.embed(img))
            except (UnidentifiedImageError, OSError, ValueError) as err:
                out.append(f"cannot decode crop: {err}")
            except RecognitionError as err:
                out.append(str(err))
        return out
