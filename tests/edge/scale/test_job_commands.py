"""HQ's scale commands over real Mosquitto (`scale.enroll`, `scale.gallery`), bad frames, preset tare, a scale that stops answering."""

from __future__ import annotations

import asyncio
import base64
import io
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edge.demo.hq import Hq
from edge.scale.pricing import barcode
from edge.scale.errors import ScaleJobError
from tests.conftest import wait_online
from tests.edge.scale.conftest import camera_folder, clear, dataset_image, needs_dataset, place, running, scale_config, until


def _jpeg(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


def _textured(seed: int) -> Image.Image:
    """A colourful random texture (the recognizer refuses blank frames)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, size=(12, 12, 3), dtype=np.uint8)
    return Image.fromarray(small).resize((256, 256), Image.Resampling.BICUBIC)


async def _ask(hq: Hq, name: str, body: dict) -> dict:
    return await asyncio.to_thread(hq.request, name, body, None, 15.0)


async def test_enroll_validates_and_adds_examples(tmp_path: Path, broker, hq_factory) -> None:
    hq: Hq = hq_factory(broker.port)
    config = scale_config(tmp_path / "data", broker.url, None, scales=[])
    good = base64.b64encode(_jpeg(_textured(1))).decode()
    async with running(config) as app:
        await asyncio.to_thread(wait_online, hq)
        job = app.jobs[0]
        errors = {
            "unknown sku": await _ask(hq, "scale.enroll", {"sku": "NO-SUCH", "images": [good]}),
            "no images": await _ask(hq, "scale.enroll", {"sku": "P-BANANA"}),
            "not base64": await _ask(hq, "scale.enroll", {"sku": "P-BANANA", "images": [good, "%%%not base64"]}),
            "corrupt": await _ask(hq, "scale.enroll", {"sku": "P-BANANA", "images": [base64.b64encode(b"\xff\xd8\xff garbage").decode()]}),
            "blank": await _ask(hq, "scale.enroll", {"sku": "P-BANANA", "images": [base64.b64encode(_jpeg(Image.new("RGB", (200, 200), "white"))).decode()]}),
            "missing file": await _ask(hq, "scale.enroll", {"sku": "P-BANANA", "paths": [str(tmp_path / "nope.jpg")]}),
        }
        codes = {k: (v["ok"], v["error"]["code"]) for k, v in errors.items()}
        assert codes == {
            "unknown sku": (False, "not_found"),
            "no images": (False, "invalid_argument"),
            "not base64": (False, "invalid_argument"),
            "corrupt": (False, "invalid_argument"),
            "blank": (False, "invalid_argument"),
            "missing file": (False, "invalid_argument"),
        }
        assert errors["not base64"]["error"]["message"].startswith("images[1]:")
        assert "decode" in errors["corrupt"]["error"]["message"] and "blank" in errors["blank"]["error"]["message"]
        assert errors["missing file"]["error"]["message"].startswith("paths[0]:")
        counts = await _ask(hq, "scale.gallery", {"sku": "P-BANANA"})
        assert counts["result"]["products"][0]["stored"] == 0  # a refused command stored nothing

        base = len(job.gallery.examples("P-BANANA"))
        path = tmp_path / "banana.jpg"
        path.write_bytes(_jpeg(_textured(2)))
        ok = await _ask(hq, "scale.enroll", {"sku": "P-BANANA", "images": [good], "paths": [str(path)]})
        assert ok["ok"] and ok["result"]["added"] == 2 and ok["result"]["examples"] == 2
        again = await _ask(hq, "scale.enroll", {"sku": "P-BANANA", "images": [good]})
        assert again["result"]["added"] == 0 and again["result"]["duplicates"] == 1
        await until(lambda: len(job.gallery.examples("P-BANANA")) == base + 2, 5, "gallery refreshed")
        counts = await _ask(hq, "scale.gallery", {"sku": "P-BANANA"})
        assert counts["result"]["products"] == [{"sku": "P-BANANA", "name": "香蕉", "base": base, "stored": 2}]
        everything = await _ask(hq, "scale.gallery", {})
        assert len(everything["result"]["products"]) == 81 and everything["result"]["model_version"] == job.model_version
        assert (await _ask(hq, "scale.gallery", {"sku": "NO-SUCH"}))["error"]["code"] == "not_found"


@needs_dataset
async def test_silent_scale_is_unhealthy_and_prints_nothing(tmp_path: Path, broker) -> None:
    folder = await asyncio.to_thread(camera_folder, tmp_path / "cam", [dataset_image("Kiwi", 0)])
    async with running(scale_config(tmp_path / "data", broker.url, folder)) as app:
        job = app.jobs[0]
        station = job.stations["sc1"]
        await place(station, None, 500)
        assert job.healthy
        station.devices.scale_sim.silent = True
        await until(lambda: not job.healthy, 5, "unhealthy")
        assert job.health()["scales"]["sc1"]["scale"] == "unhealthy"
        with pytest.raises(ScaleJobError) as refused:
            await asyncio.wait_for(job.confirm("sc1", 1), 10)
        assert refused.value.code in ("not_ready", "device")
        assert station.devices.printer_sim.pages == []
        rows = await app.store.read(lambda db: db.execute("SELECT count(*) FROM scale_weighings").fetchone()[0])
        assert rows == 0
        station.devices.scale_sim.silent = False
        await until(lambda: job.healthy, 5, "healthy again")


@pytest.mark.parametrize("protocol", ["mt-sics", "toledo-8217"])
async def test_black_frame_offers_nothing_but_search_still_sells(tmp_path: Path, broker, hq_factory, protocol: str) -> None:
    folder = tmp_path / "cam"
    folder.mkdir()
    Image.new("RGB", (320, 240), "black").save(folder / "black.png")
    config = scale_config(tmp_path / "data", broker.url, folder, scales=[{"id": "sc1", "port": f"simulated:{protocol}", "camera": f"folder:{folder}"}])
    async with running(config) as app:
        job = app.jobs[0]
        station = job.stations["sc1"]
        await place(station, None, 820)
        shown = job.candidates("sc1")
        assert shown["candidates"] == [] and "blank" in shown["problem"]
        found = job.search("xj")  # pinyin initials of 香蕉
        assert [p["sku"] for p in found] == ["P-BANANA"]
        sale = await job.confirm("sc1", found[0]["sku"])
        assert sale["rank"] is None and sale["candidates"] == [] and sale["learned"] is False and sale["sale_id"] == 1
        price = Decimal(job.products["P-BANANA"]["price"])
        assert sale["grams"] == 820 and sale["amount"] == f"{(price * 820 / 1000).quantize(Decimal('0.01'), ROUND_HALF_UP):.2f}"
        assert len(await asyncio.to_thread(station.devices.printer_sim.wait_pages, 1, 10)) == 1
        await clear(station)

        # a product with a container tare: the scale applies it (preset tare), the host never subtracts
        hq: Hq = hq_factory(broker.port)
        await asyncio.to_thread(wait_online, hq)
        row = job.products["P-BANANA"]
        upsert = {k: row[k] for k in ("sku", "name", "price", "unit", "sale_mode", "plu")} | {"tare_g": 15}
        assert (await _ask(hq, "product.upsert", {"items": [upsert]}))["ok"]
        await until(lambda: job.products["P-BANANA"]["tare_g"] == 15, 5, "catalogue update")
        await place(station, None, 1000)
        tared = await job.confirm("sc1", "P-BANANA")
        assert (tared["grams"], tared["tare_g"], tared["scale_grams"]) == (985, 15, 985)
        assert tared["amount"] == f"{(price * 985 / 1000).quantize(Decimal('0.01'), ROUND_HALF_UP):.2f}"
        assert barcode.parse(tared["barcode"], "price").amount_fen == int(Decimal(tared["amount"]) * 100)
        assert station.devices.scale_sim.model.sample().tare == 0  # cleared after the label
        assert len(await asyncio.to_thread(station.devices.printer_sim.wait_pages, 2, 10)) == 2


async def test_broken_model_degrades_to_search_only(tmp_path: Path, broker, hq_factory) -> None:
    folder = tmp_path / "cam"
    folder.mkdir()
    _textured(3).save(folder / "item.png")
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"not a model")
    async with running(scale_config(tmp_path / "data", broker.url, folder, model=str(bad)), gallery=False) as app:
        job = app.jobs[0]
        assert not job.healthy and "broken.onnx" in job.health()["problem"]
        station = job.stations["sc1"]
        await until(lambda: "P-BANANA" in job.products, 5, "catalogue")
        await place(station, None, 500)
        assert job.candidates("sc1")["candidates"] == [] and "unavailable" in job.candidates("sc1")["problem"]
        sale = await job.confirm("sc1", "P-BANANA")
        assert sale["grams"] == 500 and sale["learned"] is False
        hq: Hq = hq_factory(broker.port)
        await asyncio.to_thread(wait_online, hq)
        refused = await _ask(hq, "scale.enroll", {"sku": "P-BANANA", "images": [base64.b64encode(_jpeg(_textured(4))).decode()]})
        assert refused["error"]["code"] == "busy"
