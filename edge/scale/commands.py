"""Headquarters' commands of the scale job: `scale.enroll` (teach a product from example images) and `scale.gallery`.

Enrolment images come in the command (base64) or as regular files under the one folder
`[scale] enroll_dir` names. Both are bounded before anything decodes them: at most
MAX_ENROLL_IMAGES per command, MAX_IMAGE_BYTES each, MAX_IMAGE_PIXELS decoded; a file is
checked with lstat and realpath (a regular file inside the folder, no FIFO, device or symlink
leading out), opened without following links or blocking, and read with a bound, off the loop.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import io
import os
import stat
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from PIL import Image
from pydantic import Field, model_validator

from edge.scale.config import LearningSection
from edge.scale.recognition import stored
from edge.scale.recognition.worker import RecognitionWorker
from edge.store import Tx
from edge.sync.commands import Args, CommandError, CommandRegistry
from edge.sync.fields import Sku
from edge.sync.requests import clip

MAX_ENROLL_IMAGES = 16
MAX_IMAGE_BYTES = 3 * 1024 * 1024  # one encoded JPEG/PNG image
MAX_BASE64_CHARS = (MAX_IMAGE_BYTES + 2) // 3 * 4
MAX_IMAGE_PIXELS = 24_000_000  # a 6000 x 4000 photo; decoded RGB is 72 MB
MAX_PATH_CHARS = 1024
IMAGE_FORMATS = ("JPEG", "PNG")  # PIL opens a phone camera's MPO through its JPEG plugin


class EnrollArgs(Args):
    """`scale.enroll`: example images of one product (base64 JPEG/PNG, or files under `[scale] enroll_dir`)."""

    sku: Sku
    images: Annotated[list[Annotated[str, Field(max_length=MAX_BASE64_CHARS)]], Field(max_length=MAX_ENROLL_IMAGES)] = []
    paths: Annotated[list[Annotated[str, Field(min_length=1, max_length=MAX_PATH_CHARS)]], Field(max_length=MAX_ENROLL_IMAGES)] = []

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

    sku: Sku | None = None


def _refuse(where: str, problem: str) -> CommandError:
    """An `invalid_argument` naming the image."""
    return CommandError("invalid_argument", f"{where}: {problem}")


def _decode_base64(where: str, text: str) -> bytes:
    """The image bytes of a base64 argument."""
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as err:
        raise _refuse(where, f"not base64: {err}") from err
    if len(data) > MAX_IMAGE_BYTES:
        raise _refuse(where, f"image of {len(data)} bytes is over the limit of {MAX_IMAGE_BYTES}")
    return data


def _read_file(where: str, value: str, folder: Path | None) -> bytes:
    """A regular file inside `folder`, read with a bound; anything else is refused before it is opened."""
    shown = repr(clip(value, 200))
    if folder is None:
        raise _refuse(where, "reading image files on the gateway is off (set [scale] enroll_dir)")
    if "\0" in value:
        raise _refuse(where, "a path cannot contain NUL")
    root = os.path.realpath(folder)
    path = os.path.realpath(os.path.join(root, value))
    if os.path.commonpath([root, path]) != root or path == root:
        raise _refuse(where, f"{shown} is not inside the enroll folder {str(folder)!r}")
    return read_bounded(where, path, shown)


def read_bounded(where: str, path: str, shown: str) -> bytes:
    """A regular file (no FIFO, device or directory; no link followed) of at most MAX_IMAGE_BYTES, read without blocking on it."""
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            raise _refuse(where, f"{shown} is not a regular file")
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as err:
        raise _refuse(where, f"cannot read {shown}: {err.strerror or err}") from err
    with os.fdopen(fd, "rb") as file:
        info = os.fstat(file.fileno())
        if not stat.S_ISREG(info.st_mode):  # swapped since the lstat
            raise _refuse(where, f"{shown} is not a regular file")
        if info.st_size > MAX_IMAGE_BYTES:
            raise _refuse(where, f"{shown} has {info.st_size} bytes, over the limit of {MAX_IMAGE_BYTES}")
        data = file.read(MAX_IMAGE_BYTES + 1)
    if len(data) > MAX_IMAGE_BYTES:
        raise _refuse(where, f"{shown} grew over the limit of {MAX_IMAGE_BYTES} bytes while read")
    return data


def check_image(where: str, data: bytes) -> None:
    """Decode once, bounded: a JPEG or PNG of at most MAX_IMAGE_PIXELS (a decompression bomb is refused by its header)."""
    try:
        with Image.open(io.BytesIO(data), formats=IMAGE_FORMATS) as image:
            width, height = image.size
            if width * height > MAX_IMAGE_PIXELS:
                raise _refuse(where, f"{width}x{height} pixels is over the limit of {MAX_IMAGE_PIXELS}")
            image.load()
    except CommandError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise _refuse(where, f"over the limit of {MAX_IMAGE_PIXELS} pixels") from err
    except Exception as err:  # noqa: BLE001 - untrusted bytes: whatever the decoder raises means "not an image we take"
        raise _refuse(where, f"cannot decode image: {type(err).__name__}: {clip(str(err), 120)}") from err


def load_images(args: EnrollArgs, folder: Path | None) -> list[tuple[str, bytes]]:
    """Every image of the command as (name, bytes), checked; blocking, so it runs on a worker thread."""
    loaded = []
    for index, text in enumerate(args.images):
        where = f"images[{index}]"
        loaded.append((where, _decode_base64(where, text)))
    for index, value in enumerate(args.paths):
        where = f"paths[{index}]"
        loaded.append((where, _read_file(where, value, folder)))
    for where, data in loaded:
        check_image(where, data)
    return loaded


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

    async def _embed(self, args: EnrollArgs) -> tuple[list[np.ndarray], list[bytes]]:
        """Prepare: load and check every image off the loop, then embed them and keep their model crops on the worker thread.

        The crops are what a model upgrade re-embeds (edge/scale/recognition/upgrade.py), as for learned examples.
        """
        loaded = await asyncio.to_thread(load_images, args, self._worker.cfg.enroll_dir)
        embeddings = await self._worker.embed_enrolment(loaded)
        crops = [await asyncio.wrap_future(self._worker.keep_crop(data)) for _, data in loaded]
        return embeddings, crops

    def _enroll(self, tx: Tx, args: EnrollArgs, prepared: tuple[list[np.ndarray], list[bytes]]) -> dict[str, Any]:
        """Store the prepared embeddings, each with its crop, as the product's examples (no retraining)."""
        embeddings, crops = prepared
        if tx.conn.execute("SELECT 1 FROM products WHERE sku = ?", (args.sku,)).fetchone() is None:
            raise CommandError("not_found", f"sku: unknown product {args.sku!r}")
        version = self._worker.model_version
        added = stored.add(
            tx, args.sku, version, embeddings, source="enroll",
            max_per_product=self._learning.max_per_product, dedupe_cosine=self._learning.dedupe_cosine, crops=crops,
        )
        kept = stored.examples(tx.db, version, args.sku)
        tx.notify("scale_gallery")  # an enrolled product is sold at the scales (edge/scale/products.py)
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
        """Examples per product: shipped (base) and learned/enrolled/imported (stored); imported ones per store they came from."""
        version, base = self._worker.model_version, self._worker.base
        counted = stored.counts(tx.db, version)
        skus = [args.sku] if args.sku else sorted({*base, *counted})
        if args.sku and args.sku not in base and args.sku not in counted:
            if tx.conn.execute("SELECT 1 FROM products WHERE sku = ?", (args.sku,)).fetchone() is None:
                raise CommandError("not_found", f"sku: unknown product {args.sku!r}")
        names = {r[0]: r[1] for r in tx.conn.execute("SELECT sku, name FROM products")}
        return {
            "model_version": version,
            "imported": stored.origins(tx.db, version),
            "products": [{"sku": s, "name": names.get(s), "base": len(base.get(s, ())), "stored": counted.get(s, 0)} for s in skus],
        }
