"""Shared learning between stores: `scale.gallery.export`, `scale.gallery.import` and `scale.gallery.forget`.

One store exports what its scales learned (its own confirmed and enrolled examples of one model
version, never what it imported, so examples do not echo round the fleet); headquarters passes them
to other stores, which import them under the same bounds as local learning (32 per product,
near-duplicates skipped) plus a poisoning guard: an example closer to another product's prototype
than to its own is refused and counted, and a crop sent with it must embed to the embedding it
came with. The whole import is one SQLite transaction: after a crash nothing of it is kept.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field

from edge.scale.commands import check_image
from edge.scale.config import LearningSection
from edge.scale.recognition import stored
from edge.scale.recognition.stored import MAX_CROP_BYTES, Incoming
from edge.scale.recognition.worker import RecognitionWorker
from edge.store import Tx
from edge.sync.commands import Args, CommandError, CommandRegistry
from edge.sync.fields import Sku, StrictId, Timestamp

MAX_EXPORT = 100  # examples per export page (the reply's byte budget may cut a page shorter)
PAGE_BYTES = 768 * 1024  # a page's examples stop below this, under the 1 MiB reply limit
MAX_IMPORT = 64  # examples per import command (with crops: about 5.6 MB, under the 16 MiB request limit)
MAX_EMBEDDING_CHARS = 8192  # base64 of 1536 float32 numbers (the shipped model has 512)
MAX_CROP_CHARS = (MAX_CROP_BYTES + 2) // 3 * 4
NORM_TOLERANCE = 0.01  # |1 - norm| accepted (float16 rounding is about 1e-3)
CROP_COSINE = 0.85  # a crop must embed this close to its embedding (genuine pairs: min 0.920 fp32 in MODEL_CARD.md, 0.930 int8 over 120 photos)
REFUSALS = ("unknown_sku", "no_prototype", "closer_to_other_product", "crop_mismatch")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
Dtype = Literal["float32", "float16"]


class ExportArgs(Args):
    """`scale.gallery.export`: this store's learned examples since a time, one page after a cursor."""

    model_version: Annotated[str, Field(min_length=1, max_length=64)]
    since: Timestamp = EPOCH
    after: Annotated[int, Field(ge=0)] = 0
    limit: Annotated[int, Field(ge=1, le=MAX_EXPORT)] = MAX_EXPORT
    crops: bool = False
    dtype: Dtype = "float32"


class Example(Args):
    """One example of an import, as an export gives it."""

    sku: Sku
    embedding: Annotated[str, Field(min_length=1, max_length=MAX_EMBEDDING_CHARS)]
    learned_at: Timestamp
    source: Annotated[str, Field(max_length=16)] = "confirm"
    crop: Annotated[str, Field(max_length=MAX_CROP_CHARS)] | None = None


class ImportArgs(Args):
    """`scale.gallery.import`: examples another store exported, for the running model version."""

    model_version: Annotated[str, Field(min_length=1, max_length=64)]
    store: StrictId
    dtype: Dtype = "float32"
    examples: Annotated[list[Example], Field(min_length=1, max_length=MAX_IMPORT)]


class ForgetArgs(Args):
    """`scale.gallery.forget`: the examples imported from one store (optionally of one product)."""

    store: StrictId
    sku: Sku | None = None


def _iso(value: datetime) -> str:
    """The contract's time format, as the gallery's rows hold it."""
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _b64(data: bytes) -> str:
    """Base64 text."""
    return base64.b64encode(data).decode()


def _decode(where: str, text: str) -> bytes:
    """Bytes of a base64 field, or a refusal naming it."""
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as err:
        raise CommandError("invalid_argument", f"{where}: not base64: {err}") from err


def check_embedding(where: str, raw: bytes, dtype: str, dim: int) -> np.ndarray:
    """A unit float32 vector of `dim` numbers from the sent bytes, or a refusal saying what is wrong."""
    size = np.dtype(dtype).itemsize
    if len(raw) != dim * size:
        raise CommandError("invalid_argument", f"{where}: {len(raw)} bytes is not {dim} {dtype} numbers ({dim * size} bytes)")
    e = np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<")).astype(np.float32)
    if not np.all(np.isfinite(e)):
        raise CommandError("invalid_argument", f"{where}: holds a value that is not finite")
    norm = float(np.linalg.norm(e))
    if abs(norm - 1.0) > NORM_TOLERANCE:
        raise CommandError("invalid_argument", f"{where}: norm {norm:.4f} is not 1 (within {NORM_TOLERANCE})")
    return e / norm


def decode_import(args: ImportArgs, dim: int) -> list[Incoming]:
    """Every example decoded and checked (blocking: on a worker thread); one bad field refuses the whole command."""
    out = []
    for i, ex in enumerate(args.examples):
        raw = _decode(f"examples[{i}].embedding", ex.embedding)
        embedding = check_embedding(f"examples[{i}].embedding", raw, args.dtype, dim)
        crop = None
        if ex.crop is not None:
            crop = _decode(f"examples[{i}].crop", ex.crop)
            if len(crop) > MAX_CROP_BYTES:
                raise CommandError("invalid_argument", f"examples[{i}].crop: {len(crop)} bytes, over the limit of {MAX_CROP_BYTES}")
            check_image(f"examples[{i}].crop", crop)
        digest = hashlib.sha256(f"{args.model_version}\0{ex.sku}\0{args.dtype}\0".encode() + raw).hexdigest()
        out.append(Incoming(ex.sku, embedding, crop, _iso(ex.learned_at), digest))
    return out


class SharedLearning:
    """Export and import of learned examples between stores, guarded as local learning is."""

    def __init__(self, worker: RecognitionWorker, learning: LearningSection, store_id: str) -> None:
        """The worker holds the model and gallery; `learning` bounds stored examples; `store_id` is this store's provenance."""
        self._worker = worker
        self._learning = learning
        self._store_id = store_id

    def register(self, registry: CommandRegistry) -> None:
        """Add the three commands (import checks and guards in its effect-free prepare phase)."""
        registry.register("scale.gallery.export", ExportArgs, self._export, "Learned gallery examples of this store, one page")
        registry.register("scale.gallery.import", ImportArgs, self._import, "Import other stores' learned examples",
                          prepare=self._check)
        registry.register("scale.gallery.forget", ForgetArgs, self._forget, "Remove the examples imported from one store")

    def _export(self, tx: Tx, args: ExportArgs) -> dict[str, Any]:
        """One page of this store's own examples of the version, by id after the cursor, cut below PAGE_BYTES."""
        rows = stored.exportable(tx.db, args.model_version, _iso(args.since), args.after, args.limit)
        page, size = [], 0
        for row in rows:
            wire = row.embedding.astype(np.dtype(args.dtype).newbyteorder("<"))
            item = {"sku": row.sku, "embedding": _b64(wire.tobytes()), "learned_at": row.learned_at, "source": row.source}
            if args.crops and row.crop is not None:
                item["crop"] = _b64(row.crop)
            size += len(item["embedding"]) + len(item.get("crop", "")) + 120
            if page and size > PAGE_BYTES:
                break
            page.append((row.id, item))
        last = page[-1][0] if page else args.after
        return {
            "store": self._store_id,
            "model_version": args.model_version,
            "dtype": args.dtype,
            "examples": [item for _, item in page],
            "next_after": last,
            "more": len(page) < len(rows) or len(rows) == args.limit,
        }

    async def _check(self, args: ImportArgs) -> tuple[list[Incoming], list[str | None]]:
        """Prepare: version, fields, crops and the poisoning guard, all before the transaction."""
        version = self._worker.model_version
        if self._worker.model is None:
            raise CommandError("busy", f"recognition unavailable on this gateway: {self._worker.problem}")
        if args.model_version != version:
            raise CommandError("conflict", f"model_version: examples of {args.model_version!r} cannot be used, this store runs {version!r}")
        items = await asyncio.to_thread(decode_import, args, self._worker.dim)
        verdicts = await self._worker.guard([(i.sku, i.embedding) for i in items])
        with_crop = [n for n, i in enumerate(items) if i.crop is not None and verdicts[n] is None]
        if with_crop:
            embedded = await self._worker.embed_crops([items[n].crop or b"" for n in with_crop])
            for n, e in zip(with_crop, embedded):
                if isinstance(e, str) or float(np.dot(e, items[n].embedding)) < CROP_COSINE:
                    verdicts[n] = "crop_mismatch"
        return items, verdicts

    def _import(self, tx: Tx, args: ImportArgs, prepared: tuple[list[Incoming], list[str | None]]) -> dict[str, Any]:
        """Store the examples that passed, with provenance, in this command's transaction; count the refused by reason."""
        items, verdicts = prepared
        known = {r[0] for r in tx.conn.execute("SELECT sku FROM products")}
        refused = dict.fromkeys(REFUSALS, 0)
        accepted = []
        for item, verdict in zip(items, verdicts):
            reason = "unknown_sku" if item.sku not in known else verdict
            if reason is None:
                accepted.append(item)
            else:
                refused[reason] += 1
        version = self._worker.model_version
        added, duplicates = stored.add_imported(
            tx, version, args.store, accepted,
            max_per_product=self._learning.max_per_product, dedupe_cosine=self._learning.dedupe_cosine,
        )
        self._refresh(tx, version, {i.sku for i in accepted})
        return {"store": args.store, "model_version": version, "received": len(items), "added": added,
                "duplicates": duplicates, "refused": refused}

    def _forget(self, tx: Tx, args: ForgetArgs) -> dict[str, Any]:
        """Delete what one store's import brought (of one product, or all)."""
        before = stored.origins(tx.db, self._worker.model_version).get(args.store, 0)
        skus = stored.remove_imported(tx, args.store, args.sku)
        after = stored.origins(tx.db, self._worker.model_version).get(args.store, 0)
        self._refresh(tx, self._worker.model_version, set(skus))
        return {"store": args.store, "removed": before - after, "products": sorted(skus)}

    def _refresh(self, tx: Tx, version: str, skus: set[str]) -> None:
        """After the commit, rebuild the live gallery of each product whose stored examples changed."""
        for sku in sorted(skus):
            kept = stored.examples(tx.db, version, sku)
            tx.after_commit(lambda kept=kept, sku=sku: self._worker.schedule_rebuild(kept, sku))
        if skus:
            tx.notify("scale_gallery")
