"""Headquarters' commands of the scale job: `scale.enroll` (teach a product from example images) and `scale.gallery`."""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np
from pydantic import Field, model_validator

from edge.catalog import SKU_PATTERN
from edge.scale.config import LearningSection
from edge.scale.recognition import stored
from edge.scale.recognition.worker import RecognitionWorker
from edge.store import Tx
from edge.sync.commands import Args, CommandError, CommandRegistry

MAX_ENROLL_IMAGES = 16


class EnrollArgs(Args):
    """`scale.enroll`: example images of one product (base64 JPEG/PNG, or files on the gateway)."""

    sku: Annotated[str, Field(pattern=SKU_PATTERN)]
    images: Annotated[list[Annotated[str, Field(max_length=4_000_000)]], Field(max_length=MAX_ENROLL_IMAGES)] = []
    paths: Annotated[list[str], Field(max_length=MAX_ENROLL_IMAGES)] = []

    @model_validator(mode="after")
    def _some(self) -> EnrollArgs:
        """At least one image, and not more than a command may carry."""
        count = len(self.images) + len(self.paths)
        if count == 0:
            raise ValueError("give at least one of images (base64) or paths")
        if count > MAX_ENROLL_IMAGES:
            raise ValueError(f"at most {MAX_ENROLL_IMAGES} images per command")
        return self


class GalleryArgs(Args):
    """`scale.gallery`: optionally one product."""

    sku: Annotated[str, Field(pattern=SKU_PATTERN)] | None = None


class GalleryCommands:
    """The gallery as headquarters manages it: enrolled examples go to SQLite, then to the live gallery."""

    def __init__(self, worker: RecognitionWorker, learning: LearningSection) -> None:
        """The worker embeds and holds the gallery; `learning` bounds and de-duplicates stored examples."""
        self._worker = worker
        self._learning = learning

    def register(self, registry: CommandRegistry) -> None:
        """Add `scale.enroll` (embedding in the effect-free prepare phase) and `scale.gallery`."""
        registry.register("scale.enroll", EnrollArgs, self._enroll, "Enrol example images of a product into the scales' gallery",
                          prepare=self._embed)
        registry.register("scale.gallery", GalleryArgs, self._counts, "Gallery examples per product")

    async def _embed(self, args: EnrollArgs) -> list[np.ndarray]:
        """Prepare: decode and embed every image on the worker thread, before the transaction."""
        return await self._worker.embed(args.images, args.paths)

    def _enroll(self, tx: Tx, args: EnrollArgs, embeddings: list[np.ndarray]) -> dict[str, Any]:
        """Store the prepared embeddings as the product's examples (no retraining)."""
        if tx.conn.execute("SELECT 1 FROM products WHERE sku = ?", (args.sku,)).fetchone() is None:
            raise CommandError("not_found", f"sku: unknown product {args.sku!r}")
        version = self._worker.model_version
        added = stored.add(
            tx, args.sku, version, embeddings, source="enroll",
            max_per_product=self._learning.max_per_product, dedupe_cosine=self._learning.dedupe_cosine,
        )
        kept = stored.examples(tx.db, version, args.sku)
        tx.after_commit(lambda: self._worker.schedule_rebuild(kept, args.sku))
        return {
            "sku": args.sku,
            "received": len(embeddings),
            "added": added,
            "duplicates": len(embeddings) - added,
            "examples": len(kept),
            "model_version": version,
        }

    def _counts(self, tx: Tx, args: GalleryArgs) -> dict[str, Any]:
        """Examples per product: shipped (base) and learned/enrolled (stored)."""
        version, base = self._worker.model_version, self._worker.base
        counted = stored.counts(tx.db, version)
        skus = [args.sku] if args.sku else sorted({*base, *counted})
        if args.sku and args.sku not in base and args.sku not in counted:
            if tx.conn.execute("SELECT 1 FROM products WHERE sku = ?", (args.sku,)).fetchone() is None:
                raise CommandError("not_found", f"sku: unknown product {args.sku!r}")
        names = {r[0]: r[1] for r in tx.conn.execute("SELECT sku, name FROM products")}
        return {
            "model_version": version,
            "products": [{"sku": s, "name": names.get(s), "base": len(base.get(s, ())), "stored": counted.get(s, 0)} for s in skus],
        }
