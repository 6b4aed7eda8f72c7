"""A full weighing on the scale's touch screen in a real browser: simulated scale, folder camera, real model, simulated printer."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from edge.config import parse_config
from tests.edge.scale.conftest import PRODUCE, camera_folder, dataset_image, needs_dataset, running, until

zxingcpp = pytest.importorskip("zxingcpp")

TIMEOUT_MS = 15_000


def web_scale_config(data: Path, broker_url: str, camera: Path | None) -> Any:
    """One simulated scale with the demo produce, the web server on a free port and no token (the scale screen is public)."""
    return parse_config(
        {"store": {"id": "s1"}, "data": {"dir": str(data)}, "broker": {"url": broker_url}, "http": {"listen": "127.0.0.1:0"},
         "log": {"level": "warning"},
         "scale": {"produce_file": str(PRODUCE), "seed_products": True,
                   "scales": [{"id": "sc1", "port": "simulated:mt-sics", **({"camera": f"folder:{camera}"} if camera else {})}]}},
        env={},
    )


def _free_product(tx: Any) -> None:
    """A by-weight product whose price is zero: the scale must refuse to label it."""
    revision = tx.conn.execute("SELECT coalesce(max(revision), 0) + 1 FROM products").fetchone()[0]
    tx.db["products"].insert({"sku": "P-FREEBIE", "name": "赠品", "name_en": "Freebie", "price": "0.00", "unit": "kg",
                              "sale_mode": "weight", "plu": "10999", "revision": revision})
    tx.notify("catalog")


@needs_dataset
async def test_full_weighing_on_the_touch_screen(tmp_path: Path, broker: Any, browser: Any) -> None:
    folder = await asyncio.to_thread(camera_folder, tmp_path / "cam", [dataset_image("Banana", 3)])
    async with running(web_scale_config(tmp_path / "data", broker.url, folder)) as app:
        job = app.jobs[0]
        station = job.stations["sc1"]
        assert app.web is not None
        page = await browser.new_page(viewport={"width": 1024, "height": 600})
        page.set_default_timeout(TIMEOUT_MS)
        await page.goto(f"http://127.0.0.1:{app.web.port}/scale/sc1")
        await page.wait_for_selector("body[data-live='open']")
        await page.wait_for_selector("body[data-phase='empty']")
        assert await page.locator(".tile").count() == 0

        station.devices.camera.source.show(station.devices.camera.source.names[0])
        await asyncio.sleep(0.25)
        station.devices.scale_sim.model.place(1235)
        await page.wait_for_selector("body[data-phase='offered']")
        await page.wait_for_selector(".tile")
        assert await page.inner_text("#grams") == "1.235"
        offered = job.candidates("sc1")["candidates"]
        tiles = page.locator(".tile")
        assert await tiles.count() == len(offered)
        assert [await tiles.nth(i).get_attribute("data-sku") for i in range(len(offered))] == [c["sku"] for c in offered]
        assert f"¥{offered[0]['price']}" in await tiles.nth(0).inner_text()
        banana = page.locator(".tile[data-sku='P-BANANA'] img")
        if await banana.count():  # the dataset's iconic picture, served by the daemon
            await page.wait_for_function("(img) => img.complete && img.naturalWidth > 0", arg=await banana.element_handle())
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
            async with http.get(f"http://127.0.0.1:{app.web.port}/api/scale/sc1/picture/P-BANANA") as r:
                assert r.status == 200 and r.content_type == "image/jpeg"
            async with http.get(f"http://127.0.0.1:{app.web.port}/api/scale/sc1/picture/P-NOPE") as r:
                assert r.status == 404
        box = await tiles.nth(0).bounding_box()
        assert box is not None and box["height"] >= 100 and box["width"] >= 150  # a finger-sized target at 1024x600

        # English toggle, then back
        await page.click("#lang")
        assert await page.inner_text("#none") == "None of these · Search"
        await page.click("#lang")

        # "none of these" -> search by pinyin initials, tap the banana (香蕉: xj)
        await page.click("#none")
        await page.fill("#search", "xj")
        await page.wait_for_selector(".tile[data-sku='P-BANANA']")
        await page.click(".tile[data-sku='P-BANANA']")
        await page.wait_for_selector("body[data-barcode]")
        shown = await page.get_attribute("body", "data-barcode")
        pages = await asyncio.to_thread(station.devices.printer_sim.wait_pages, 1, 10)
        printed = [r.text for r in zxingcpp.read_barcodes(pages[0].image.convert("L"))]
        assert printed == [shown]
        assert "prompt done" in (await page.get_attribute("#prompt", "class") or "")

        # a second tap on the same item is refused with a message, no second label
        await page.click("#none")
        await page.fill("#search", "xj")
        await page.click(".tile[data-sku='P-BANANA']")
        await page.wait_for_selector("#prompt.error")
        assert len(station.devices.printer_sim.pages) == 1

        # a new item: a product whose price is missing is refused with a message
        station.devices.scale_sim.model.clear()
        await page.wait_for_selector("body[data-phase='empty']")
        await app.store.write(_free_product)
        await until(lambda: "P-FREEBIE" in job.products, 5, "catalogue refresh")
        station.devices.scale_sim.model.place(800)
        await page.wait_for_selector("body[data-phase='offered']")
        await page.click("#none")
        await page.fill("#search", "zp")
        await page.click(".tile[data-sku='P-FREEBIE']")
        await page.wait_for_selector("#prompt.error")
        assert "price" in await page.inner_text("#prompt")
        assert len(station.devices.printer_sim.pages) == 1

        # a by-piece product asks for a count (1280x800 this time)
        await page.set_viewport_size({"width": 1280, "height": 800})
        await page.fill("#search", "tropicana juice smooth")
        await page.click(".tile[data-sku='P-TROPICANA-JUICE-SMOOTH']")
        await page.wait_for_selector("#count:not([hidden])")
        await page.click("#pad [data-k='C']")
        await page.click("#pad [data-k='3']")
        await page.click("#countOk")
        await page.wait_for_selector("#prompt.done")
        pages = await asyncio.to_thread(station.devices.printer_sim.wait_pages, 2, 10)
        sale = job.candidates("sc1")
        assert sale["phase"] == "confirmed"
        printed = [r.text for r in zxingcpp.read_barcodes(pages[1].image.convert("L"))]
        assert printed == [await page.get_attribute("body", "data-barcode")]
        price = job.products["P-TROPICANA-JUICE-SMOOTH"]["price"]
        assert f"¥{Decimal(price) * 3:.2f}" in await page.inner_text("#prompt")
        await page.close()


async def test_scale_api_refuses_bad_taps_with_a_reason(tmp_path: Path, broker: Any) -> None:
    async with running(web_scale_config(tmp_path / "data", broker.url, None), gallery=False) as app:
        assert app.web is not None
        base = f"http://127.0.0.1:{app.web.port}"
        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            async with http.get(f"{base}/scale/nope") as r:
                assert r.status == 404
            async with http.get(f"{base}/api/scale/sc1") as r:
                state = await r.json()
                assert state["scale_id"] == "sc1" and state["phase"] == "empty" and state["candidates"] == []
            bad = [b"not json", b'{"rank": true}', b'{"sku": "P-BANANA", "pieces": 0}', b'{"sku": "P-BANANA", "extra": 1}', b"[1]"]
            for body in bad:
                async with http.post(f"{base}/api/scale/sc1/confirm", data=body) as r:
                    reply = await r.json()
                    assert r.status == 400 and reply["code"] == "invalid_argument" and reply["error"], body
            async with http.post(f"{base}/api/scale/sc1/confirm", json={"sku": "P-NOPE"}) as r:
                assert r.status == 404 and (await r.json())["code"] == "not_found"
            async with http.post(f"{base}/api/scale/sc1/confirm", json={"sku": "P-BANANA"}) as r:
                assert r.status == 409 and (await r.json())["code"] == "not_ready"  # nothing on the platter
            async with http.get(f"{base}/api/scale/sc1/search", params={"q": "xj"}) as r:
                assert "P-BANANA" in [p["sku"] for p in (await r.json())["products"]]
            async with http.get(f"{base}/api/scale/sc1/search", params={"q": "x" * 65}) as r:
                assert r.status == 400
