"""After a model upgrade: re-embed the crops the store's learned examples kept, so what it learned is not lost.

Embeddings are only comparable within one model version, so a daemon started with another model
finds the stored examples unusable. Each confirmed example keeps the model's 224x224 input crop
(edge/scale/recognition/stored.py); here every kept crop of another version is embedded again on
the recognition worker's thread, in bounded batches, and written under the running version with
the row it came from (so a crash half-way resumes and adds nothing twice). The other version's rows
stay until every crop is done, then go; examples without a crop (learned before crops were kept,
or enrolled) are counted as dropped, never mixed in. One `scale.gallery.reembedded` line says how many.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import structlog

from edge.scale.recognition import stored
from edge.scale.recognition.worker import RecognitionWorker
from edge.store import Store

log = structlog.get_logger("scale")

BATCH = 32  # crops per worker-thread call (about 0.5-1 s of inference): recognitions queue behind one batch at most


@dataclass(frozen=True, slots=True)
class Upgrade:
    """What one upgrade did: re-embedded crops, unusable crops (skipped, logged), examples without a crop (dropped)."""

    reembedded: int
    unusable: int
    dropped: int
    versions: tuple[str, ...]


async def step(store: Store, worker: RecognitionWorker, after: int = 0, batch: int = BATCH) -> int | None:
    """Re-embed one batch of pending crops with id > `after` and write it; the last id seen, or None when none is pending."""
    version = worker.model_version
    rows = await store.read(lambda db: stored.pending(db, version, after, batch))
    if not rows:
        return None
    results = await worker.embed_crops([r.crop for r in rows], [r.source == "enroll" for r in rows])
    done: list[tuple[stored.Kept, np.ndarray]] = []
    for row, result in zip(rows, results):
        if isinstance(result, str):
            log.warning("scale.gallery.crop_unusable", id=row.id, sku=row.sku, reason=result)
        else:
            done.append((row, result))
    if done:
        await store.write(lambda tx: stored.put_reembedded(tx, version, done))
    return rows[-1].id


async def reembed(store: Store, worker: RecognitionWorker, batch: int = BATCH) -> Upgrade | None:
    """Bring the stored examples of other model versions to the running one (resuming any earlier run); None if there were none."""
    version = worker.model_version
    if worker.model is None:
        return None
    others = await store.read(lambda db: stored.other_versions(db, version))
    if not others:
        return None
    after: int | None = 0
    while after is not None:
        after = await step(store, worker, after, batch)
    summary = await store.write(lambda tx: stored.finish_reembed(tx, version))
    await worker.rebuild(await store.read(lambda db: stored.examples(db, version)))
    upgrade = Upgrade(**summary, versions=tuple(sorted(others)))
    log.info("scale.gallery.reembedded", model=version, previous=list(upgrade.versions), reembedded=upgrade.reembedded,
             unusable=upgrade.unusable, dropped=upgrade.dropped)
    return upgrade
