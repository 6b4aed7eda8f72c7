"""The recognition worker: one thread owns the produce model and the in-memory gallery, so the gallery needs no lock.

Everything that touches the model or the gallery runs on this thread: loading, rebuilding from
SQLite, recognising a frame, embedding enrolment images. A broken model, gallery or produce file
degrades the scales to search-only (`problem` says why); the daemon still starts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import structlog

from edge.scale.config import ScaleSection
from edge.scale.recognition import produce_map
from edge.scale.recognition.errors import EmptyGallery, ModelMismatch, RecognitionError, UnusableFrame
from edge.scale.recognition.gallery import Gallery
from edge.scale.recognition.model import DEFAULT_GALLERY, DEFAULT_MODEL, UNSURE_SCORE, ProduceModel, Recognition
from edge.sync.commands import CommandError

log = structlog.get_logger("scale")

TOP_K = 5
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

    async def embed(self, images: Sequence[tuple[str, bytes]]) -> list[np.ndarray]:
        """Embeddings of checked enrolment images (where each came from, its bytes), in order; a bad one is a CommandError naming it."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._embed, images)

    def _embed(self, images: Sequence[tuple[str, bytes]]) -> list[np.ndarray]:
        """Worker thread: decode and embed every image."""
        if self.model is None:
            raise CommandError("busy", f"recognition unavailable on this gateway: {self.problem}")
        embeddings = []
        for where, data in images:
            try:
                embeddings.append(self.model.embed(data))
            except UnusableFrame as err:
                raise CommandError("invalid_argument", f"{where}: {err}") from err
            except RecognitionError as err:
                raise CommandError("internal", f"{where}: {err}") from err
        return embeddings
