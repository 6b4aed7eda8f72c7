"""Model upgrades keep what a store learned: kept crops are re-embedded by the new model (real SQLite store, real ONNX models)."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import numpy as np
from PIL import Image
from structlog.testing import capture_logs

from edge.scale import schema
from edge.scale.config import ScaleSection
from edge.scale.recognition import stored, upgrade
from edge.scale.recognition.errors import ModelMismatch
from edge.scale.recognition.gallery import Gallery
from edge.scale.recognition.model import DEFAULT_MODEL, FP32_GALLERY
from edge.scale.recognition.model import FP32_MODEL as FP32
from edge.scale.recognition.worker import RecognitionWorker
from edge.store import Store
from tests.edge.scale.conftest import (
    PRODUCE,
    camera_folder,
    dataset_image,
    needs_dataset,
    place,
    running,
    scale_config,
    until,
)

CLASSES = ["Banana", "Lemon", "Red-Delicious", "Cucumber", "Carrots"]


def _worker(model: Path) -> RecognitionWorker:
    """A recognition worker with the shipped int8 model or the fp32 one (and its gallery)."""
    return RecognitionWorker(ScaleSection(produce_file=PRODUCE, model=model, gallery=FP32_GALLERY if model == FP32 else None))


async def _learned(tmp_path: Path) -> tuple[Store, RecognitionWorker, list[tuple[str, bytes, bytes]]]:
    """A store where the int8 model learned one example (with its crop) of each class; (store, int8 worker, (sku, photo, crop))."""
    old = await asyncio.to_thread(_worker, DEFAULT_MODEL)
    assert old.problem is None and old.model_version.endswith("int8")
    photos = [await asyncio.to_thread(dataset_image(c, 1).read_bytes) for c in CLASSES]
    crops = [await asyncio.wrap_future(old.keep_crop(p)) for p in photos]
    embeddings = await old.embed_enrolment([(c, p) for c, p in zip(CLASSES, photos)])
    rows = [(old.produce.skus[c], p, crop) for c, p, crop in zip(CLASSES, photos, crops)]
    store = await asyncio.to_thread(Store, tmp_path / "edge.db", schemas={"scale": schema.STEPS})
    for (sku, _, crop), e in zip(rows, embeddings):
        await store.write(lambda tx, sku=sku, e=e, crop=crop: stored.add(
            tx, sku, old.model_version, [e], source="confirm", max_per_product=32, dedupe_cosine=0.98, crops=[crop]))
    return store, old, rows


def _rows(db, version: str) -> list[tuple]:
    return db.execute("SELECT sku, from_id, crop IS NOT NULL FROM scale_gallery WHERE model_version = ? ORDER BY id", [version]).fetchall()


@needs_dataset
async def test_a_start_with_another_model_reembeds_every_kept_crop(tmp_path: Path) -> None:
    store, old, rows = await _learned(tmp_path)
    new = await asyncio.to_thread(_worker, FP32)
    try:
        assert new.model_version != old.model_version
        for _, _, crop in rows:  # a bounded crop: the model's 224x224 view as a JPEG of a few kB
            assert len(crop) < 32_000
            img = Image.open(io.BytesIO(crop))
            assert (img.format, img.size) == ("JPEG", (224, 224))
        # an example learned before crops were kept, and one whose crop is damaged
        lemon = np.frombuffer(rows[1][2], np.uint8)
        await store.write(lambda tx: stored.add(tx, "P-OLD", old.model_version, [np.ones(256)], source="confirm",
                                                max_per_product=32, dedupe_cosine=0.98))
        await store.write(lambda tx: stored.add(tx, "P-BROKEN", old.model_version, [-np.ones(256)], source="confirm",
                                                max_per_product=32, dedupe_cosine=0.98, crops=[bytes(lemon[: len(lemon) // 3])]))
        await new.rebuild([])  # as the job starts: base examples, and no stored one of this version yet
        before = {sku: await new.recognize(photo, len(new.base)) for sku, photo, _ in rows}
        with capture_logs() as logs:
            done = await upgrade.reembed(store, new, batch=2)
        assert done == upgrade.Upgrade(reembedded=5, unusable=1, dropped=1, versions=(old.model_version,))
        assert [e for e in logs if e["event"] == "scale.gallery.reembedded"] == [
            {"event": "scale.gallery.reembedded", "log_level": "info", "model": new.model_version,
             "previous": [old.model_version], "reembedded": 5, "unusable": 1, "dropped": 1}]
        unusable = [e for e in logs if e["event"] == "scale.gallery.crop_unusable"]
        assert [e["sku"] for e in unusable] == ["P-BROKEN"] and "crop" in unusable[0]["reason"]
        assert await store.read(lambda db: _rows(db, old.model_version)) == []  # the old rows go once all are done
        kept = await store.read(lambda db: stored.examples(db, new.model_version))
        assert [s for s, _ in kept] == [s for s, _, _ in rows]  # never mixed: the crop-less row is not carried over
        again = await new.embed_crops([c for _, _, c in rows])
        assert all(np.allclose(k, a, atol=1e-6) for (_, k), a in zip(kept, again))  # the new model's embeddings
        fresh = await new.embed_enrolment([(s, p) for s, p, _ in rows])
        assert min(float(k @ f) for (_, k), f in zip(kept, fresh)) > 0.95  # the JPEG crop stands for the frame
        # recognition with the new model uses them: each photo now scores its learned example (~1), above its prototype
        for sku, photo, _ in rows:
            assert new.gallery.learned(sku) == 1
            after = dict((await new.recognize(photo, len(new.base))).candidates)[sku]
            assert after > 0.95 and after > dict(before[sku].candidates)[sku]
        assert await upgrade.reembed(store, new) is None  # nothing left to do
        # the recogniser still refuses a gallery made by another model
        with_old = Gallery.live(old.model_version)
        with_old.add(rows[0][0], kept[0][1])
        try:
            new.model.recognize(rows[0][1], with_old)
        except ModelMismatch:
            pass
        else:
            raise AssertionError("a gallery of another model was accepted")
    finally:
        old.shutdown()
        new.shutdown()
        await store.aclose()


@needs_dataset
async def test_a_crash_half_way_resumes_without_duplicates(tmp_path: Path) -> None:
    store, old, rows = await _learned(tmp_path)
    first = await asyncio.to_thread(_worker, FP32)
    try:
        last = await upgrade.step(store, first, 0, batch=2)  # one batch, then the daemon "dies"
        assert last is not None
        half = await store.read(lambda db: _rows(db, first.model_version))
        assert len(half) == 2
        assert len(await store.read(lambda db: _rows(db, old.model_version))) == 5  # the old rows stay until all are done
        batch = await store.read(lambda db: stored.pending(db, first.model_version, 0, 2))
        assert [r.id for r in batch] != [f for _, f, _ in half]  # what was done is no longer pending
    finally:
        first.shutdown()
    restarted = await asyncio.to_thread(_worker, FP32)
    try:
        done = await upgrade.reembed(store, restarted, batch=2)
        assert done is not None and (done.reembedded, done.unusable, done.dropped) == (5, 0, 0)
        after = await store.read(lambda db: _rows(db, restarted.model_version))
        assert len(after) == 5 and len({f for _, f, _ in after}) == 5 and all(c for _, _, c in after)
        assert [s for s, _, _ in after] == [s for s, _, _ in rows]
        assert await store.read(lambda db: _rows(db, old.model_version)) == []
    finally:
        old.shutdown()
        restarted.shutdown()
        await store.aclose()


@needs_dataset
async def test_the_daemon_keeps_the_crop_and_reembeds_it_when_started_with_another_model(tmp_path: Path, broker) -> None:
    folder = await asyncio.to_thread(camera_folder, tmp_path / "cam", [dataset_image("Red-Delicious", 2)])
    config = scale_config(tmp_path / "data", broker.url, folder)
    async with running(config) as app:
        job = app.jobs[0]
        station = job.stations["sc1"]
        await place(station, station.devices.camera.source.names[0], 640)
        learned = await job.confirm("sc1", 1)
        assert learned["learned"] is True
        (sku, version, crop), = await app.store.read(lambda db: db.execute(
            "SELECT sku, model_version, crop FROM scale_gallery").fetchall())
        assert sku == learned["sku"] and version == job.model_version and len(crop) < 32_000
        img = Image.open(io.BytesIO(crop))
        assert (img.format, img.size) == ("JPEG", (224, 224))
    upgraded = scale_config(tmp_path / "data", broker.url, folder, model=str(FP32), gallery=str(FP32_GALLERY))
    with capture_logs() as logs:
        async with running(upgraded) as again:
            job = again.jobs[0]
            # the gallery is rebuilt just before the summary line is logged: wait for both
            await until(lambda: job.gallery.learned(sku) == 1 and any(e["event"] == "scale.gallery.reembedded" for e in logs),
                        30, "re-embedded example in the gallery and logged")
            rows = await again.store.read(lambda db: db.execute("SELECT sku, model_version, crop FROM scale_gallery").fetchall())
            assert rows == [(sku, job.model_version, crop)] and job.model_version != version
    assert [(e["reembedded"], e["dropped"]) for e in logs if e["event"] == "scale.gallery.reembedded"] == [(1, 0)]


@needs_dataset
async def test_an_enrolled_example_is_reembedded_as_enrolment_embeds_it(tmp_path: Path) -> None:
    # scale.enroll's example is the mean of five views of the image; after an upgrade its kept crop must be embedded
    # the same way (a confirmed example: the one view), or the upgraded store would hold a different kind of example
    old = await asyncio.to_thread(_worker, DEFAULT_MODEL)
    new = await asyncio.to_thread(_worker, FP32)
    try:
        photo = await asyncio.to_thread(dataset_image("Kiwi", 2).read_bytes)
        crop = await asyncio.wrap_future(old.keep_crop(photo))
        [enrolled] = await old.embed_enrolment([("kiwi", photo)])
        store = await asyncio.to_thread(Store, tmp_path / "edge.db", schemas={"scale": schema.STEPS})
        for sku, source in (("P-A", "enroll"), ("P-B", "confirm")):
            await store.write(lambda tx, sku=sku, source=source: stored.add(
                tx, sku, old.model_version, [enrolled], source=source, max_per_product=32, dedupe_cosine=0.98, crops=[crop]))
        await new.rebuild([])
        assert (await upgrade.reembed(store, new)).reembedded == 2
        kept = dict(await store.read(lambda db: stored.examples(db, new.model_version)))
        img = Image.open(io.BytesIO(crop))
        as_enrolled, as_confirmed = await asyncio.to_thread(lambda: (new.model.embed_enrolment(img), new.model.embed(img)))
        np.testing.assert_allclose(kept["P-A"], as_enrolled, atol=1e-6)
        np.testing.assert_allclose(kept["P-B"], as_confirmed, atol=1e-6)
        assert float(kept["P-A"] @ kept["P-B"]) < 0.999  # the two ways differ
    finally:
        old.shutdown()
        new.shutdown()
