"""A full weighing through the scale job: pty-simulated scale, folder camera, real ONNX model, simulated printer, real Mosquitto."""

from __future__ import annotations

import asyncio
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest

from edge.demo.hq import Hq
from edge.scale.pricing import barcode
from edge.scale.errors import ScaleJobError
from tests.conftest import wait_online
from tests.edge.scale.conftest import camera_folder, clear, dataset_image, needs_dataset, place, running, scale_config, until

zxingcpp = pytest.importorskip("zxingcpp")


async def _price(app, sku: str) -> Decimal:
    return Decimal(await app.store.read(lambda db: db.execute("SELECT price FROM products WHERE sku = ?", [sku]).fetchone()[0]))


@needs_dataset
async def test_weighing_event_and_printed_label_match_the_pricing(tmp_path: Path, broker, hq_factory) -> None:
    images = [dataset_image("Banana", 3), dataset_image("Tropicana-Juice-Smooth", 0)]
    folder = await asyncio.to_thread(camera_folder, tmp_path / "cam", images)
    hq: Hq = hq_factory(broker.port)
    async with running(scale_config(tmp_path / "data", broker.url, folder)) as app:
        await asyncio.to_thread(wait_online, hq)
        job = app.jobs[0]
        station = job.stations["sc1"]
        names = station.devices.camera.source.names

        await place(station, names[0], 1235)
        shown = job.candidates("sc1")
        assert shown["phase"] == "offered" and shown["grams"] == 1235 and 1 <= len(shown["candidates"]) <= 5
        assert all(c["name"] and c["price"] for c in shown["candidates"])
        skus = [c["sku"] for c in shown["candidates"]]
        choice = skus.index("P-BANANA") + 1 if "P-BANANA" in skus else "P-BANANA"
        reply = await tap(job, choice)
        event = (await _event(hq, 1))[-1]["data"]
        assert event == {k: v for k, v in reply.items() if k != "name_en"} and reply["name_en"] == "Banana"
        price = await _price(app, "P-BANANA")
        amount = (price * 1235 / 1000).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
        assert (event["sku"], event["grams"], event["unit_price"], event["amount"]) == ("P-BANANA", 1235, f"{price:.2f}", f"{amount:.2f}")
        assert event["plu"] == 10007 and event["unit"] == "kg" and event["pieces"] is None
        assert event["rank"] == (choice if isinstance(choice, int) else None)
        assert [c["sku"] for c in event["candidates"]] == skus and all(-1 <= c["score"] <= 1 for c in event["candidates"])
        assert event["model_version"] == job.model_version
        assert event["timings"]["settle_to_candidates_ms"] >= 0 and event["timings"]["candidates_to_confirm_ms"] >= 0
        parsed = barcode.parse(event["barcode"], "price")
        assert (parsed.prefix, parsed.item, parsed.amount_fen) == (20, 10007, int(amount * 100))
        page = (await _pages(station, 1))[0]
        assert [r.text for r in zxingcpp.read_barcodes(page.image.convert("L"))] == [event["barcode"]]

        # the same item cannot be labelled twice: the platter must be cleared first
        with pytest.raises(ScaleJobError) as refused:
            await job.confirm("sc1", "P-BANANA")
        assert refused.value.code == "already_labelled"
        await clear(station)

        await place(station, names[1], 1050)
        reply = await tap(job, "P-TROPICANA-JUICE-SMOOTH", pieces=2)
        juice = await _price(app, "P-TROPICANA-JUICE-SMOOTH")
        assert reply["pieces"] == 2 and reply["grams"] is None and reply["amount"] == f"{juice * 2:.2f}"
        assert barcode.parse(reply["barcode"], "price").amount_fen == int(juice * 200)
        assert len(await _pages(station, 2)) == 2
        assert len(await _event(hq, 2)) == 2


async def tap(job, choice: str | int, pieces: int | None = None) -> dict:
    """Confirm a choice, answering yes when the screen asks whether it is right (a choice not offered, or much cheaper)."""
    try:
        return await job.confirm("sc1", choice, pieces)
    except ScaleJobError as err:
        if err.code != "needs_confirmation":
            raise
        return await job.confirm("sc1", choice, pieces, confirmed=True)


async def _event(hq: Hq, count: int) -> list[dict]:
    return await asyncio.to_thread(hq.wait, lambda _: len(hq.events("weighing")) >= count and hq.events("weighing"), 10)


async def _pages(station, count: int) -> list:
    pages = await asyncio.to_thread(station.devices.printer_sim.wait_pages, count, 10)
    assert len(pages) >= count
    return pages


@needs_dataset
async def test_learning_follows_the_rule_and_survives_a_restart(tmp_path: Path, broker) -> None:
    folder = await asyncio.to_thread(camera_folder, tmp_path / "cam", [dataset_image("Red-Delicious", 2), dataset_image("Lemon", 1)])
    config = scale_config(tmp_path / "data", broker.url, folder)
    async with running(config) as app:
        job = app.jobs[0]
        station = job.stations["sc1"]
        names = station.devices.camera.source.names
        await place(station, names[0], 640)
        top = job.candidates("sc1")["candidates"][0]["sku"]
        before = len(job.gallery.examples(top))
        learned = await job.confirm("sc1", 1)
        assert learned["learned"] is True and learned["rank"] == 1
        await until(lambda: len(job.gallery.examples(top)) == before + 1, 5, "gallery updated")
        await clear(station)

        # a product that was not offered (found by searching) does not teach the gallery
        await place(station, names[1], 300)
        offered = {c["sku"] for c in job.candidates("sc1")["candidates"]}
        found = job.search("sc1", "watermelon")["products"] + job.search("sc1", "cabbage")["products"]
        outsider = next(p["sku"] for p in found if p["sku"] not in offered)
        others = len(job.gallery.examples(outsider))
        reply = await tap(job, outsider)
        assert reply["learned"] is False and reply["rank"] is None and reply["offered"] is False
        assert reply["suspicion"] in ("not_offered", "both") and "suspicious" in reply["learning"]
        assert len(job.gallery.examples(outsider)) == others
        await clear(station)

        # too heavy to be plausible loose produce: not learned either
        await place(station, names[0], 7000)
        heavy = await job.confirm("sc1", 1)
        assert heavy["learned"] is False and "plausible" in heavy["learning"]

    async with running(config) as again:
        job = again.jobs[0]
        assert len(job.gallery.examples(top)) == before + 1
        rows = await again.store.read(lambda db: db.execute("SELECT sku, source FROM scale_gallery").fetchall())
        assert rows == [(top, "confirm")]
