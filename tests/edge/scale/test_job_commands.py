"""HQ's scale commands over real Mosquitto (`scale.enroll`, `scale.gallery`), bad frames, preset tare, a scale that stops answering."""

from __future__ import annotations

import asyncio
import base64
import io
import os
import struct
import zlib
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edge.demo.hq import Hq
from edge.scale.commands import EnrollArgs, load_images
from edge.scale.errors import ScaleJobError
from edge.scale.pricing import barcode
from edge.sync.commands import CommandError
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
    config = scale_config(tmp_path / "data", broker.url, None, scales=[], enroll_dir=str(tmp_path))
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
        crops = await app.store.read(lambda db: [r[0] for r in db.execute(
            "SELECT crop FROM scale_gallery WHERE sku = 'P-BANANA' AND source = 'enroll'")])
        assert len(crops) == 2 and all(Image.open(io.BytesIO(c)).size == (224, 224) for c in crops)  # kept for upgrades
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
        assert refused.value.code == "scale_unavailable"
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
        assert (shown["state"], shown["code"]) == ("unrecognised", "unrecognised")  # no confident wrong tiles
        found = job.search("sc1", "xj")["products"]  # pinyin initials of 香蕉
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


def _png(width: int, height: int) -> bytes:
    """A genuine greyscale PNG of zeros, compressed as a decompression bomb is (built in a stream, never held decoded)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    packer = zlib.compressobj(9)
    row = b"\0" * (width + 1)  # filter byte + pixels
    body = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


def _enroll_folder(tmp_path: Path) -> Path:
    """The enroll folder with one good photo and every kind of thing that is not one."""
    folder = tmp_path / "enroll"
    folder.mkdir()
    outside = tmp_path / "outside.jpg"
    outside.write_bytes(_jpeg(_textured(5)))
    (folder / "good.jpg").write_bytes(_jpeg(_textured(6)))
    os.mkfifo(folder / "pipe.jpg")
    (folder / "zero.jpg").symlink_to("/dev/zero")
    (folder / "escape.jpg").symlink_to(outside)
    (folder / "alias.jpg").symlink_to(folder / "good.jpg")  # a link that stays inside is fine
    (folder / "album").mkdir()
    with open(folder / "huge.jpg", "wb") as sparse:
        sparse.truncate(50 * 1024 * 1024)
    return folder


async def test_enroll_refuses_bombs_and_anything_but_regular_files_in_its_folder(tmp_path: Path, broker, hq_factory) -> None:
    hq: Hq = hq_factory(broker.port)
    folder = await asyncio.to_thread(_enroll_folder, tmp_path)
    bomb = base64.b64encode(await asyncio.to_thread(_png, 20_000, 20_000)).decode()  # 400 Mpx, PIL's DecompressionBombError
    big = base64.b64encode(await asyncio.to_thread(_png, 6_000, 5_000)).decode()  # 30 Mpx: PIL would decode it, we do not
    good = base64.b64encode(_jpeg(_textured(7))).decode()
    config = scale_config(tmp_path / "data", broker.url, None, scales=[], enroll_dir=str(folder))
    async with running(config):
        await asyncio.to_thread(wait_online, hq)
        cases = {
            "bomb": ({"images": [good, bomb]}, "images[1]: over the limit of 24000000 pixels"),
            "30 Mpx": ({"images": [big]}, "images[0]: 6000x5000 pixels is over the limit of 24000000"),
            "fifo": ({"paths": ["pipe.jpg"]}, "paths[0]: 'pipe.jpg' is not a regular file"),
            "device": ({"paths": ["zero.jpg"]}, "paths[0]: 'zero.jpg' is not inside the enroll folder"),
            "symlink out": ({"paths": ["escape.jpg"]}, "paths[0]: 'escape.jpg' is not inside the enroll folder"),
            "dot-dot": ({"paths": ["../outside.jpg"]}, "paths[0]: '../outside.jpg' is not inside the enroll folder"),
            "absolute out": ({"paths": ["/etc/hostname"]}, "paths[0]: '/etc/hostname' is not inside the enroll folder"),
            "folder": ({"paths": ["album"]}, "paths[0]: 'album' is not a regular file"),
            "the folder itself": ({"paths": ["."]}, "paths[0]: '.' is not inside the enroll folder"),
            "50 MB": ({"paths": ["huge.jpg"]}, "paths[0]: 'huge.jpg' has 52428800 bytes, over the limit of 3145728"),
            "17 images": ({"images": [good] * 17}, "images: List should have at most 16 items"),
            "too long": ({"images": ["A" * 5_000_000]}, "images[0]: String should have at most 4194304 characters"),
        }
        for name, (body, words) in cases.items():
            reply = await asyncio.wait_for(_ask(hq, "scale.enroll", {"sku": "P-BANANA", **body}), 20)
            assert reply["ok"] is False and reply["error"]["code"] == "invalid_argument", (name, reply)
            assert reply["error"]["message"].startswith(words), (name, reply["error"]["message"])
        ok = await _ask(hq, "scale.enroll", {"sku": "P-BANANA", "paths": ["good.jpg", "alias.jpg", str(folder / "good.jpg")]})
        assert ok["ok"] and ok["result"]["received"] == 3 and ok["result"]["added"] == 1, ok
        assert (await _ask(hq, "ping", {}))["ok"]


def test_enroll_paths_are_refused_without_a_folder() -> None:
    args = EnrollArgs.model_validate({"sku": "P-BANANA", "paths": ["/tmp/x.jpg"]})
    with pytest.raises(CommandError, match=r"paths\[0\]: reading image files on the gateway is off \(set \[scale\] enroll_dir\)"):
        load_images(args, None)
