"""Out of service is shown on the scale screen: the daemon stopped or the scale unplugged shows a banner within 3 s, taps go nowhere, and it recovers by itself."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from tests.edge.scale.conftest import camera_folder, dataset_image, running
from tests.edge.web.test_scale_screen import SCALE, TIMEOUT_MS, expected_total, kiosk, needs_dataset, web_scale_config

BANNER_S = 3.0  # item 5: the screen says so within 3 s


async def _banner(page: Any, started: float) -> float:
    """Wait for the out-of-service banner; seconds since `started`."""
    await page.wait_for_selector("#oos:not([hidden])", timeout=10_000)
    return time.monotonic() - started


async def _tap_where(page: Any, box: dict[str, float]) -> None:
    """A finger where a tile was (the banner covers it)."""
    await page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)


@needs_dataset
async def test_the_daemon_stopped_shows_out_of_service_and_the_screen_recovers(tmp_path: Path, broker: Any, browser: Any) -> None:
    folder = await asyncio.to_thread(camera_folder, tmp_path / "cam", [dataset_image("Banana", 3)])
    page = await browser.new_page(viewport={"width": 1024, "height": 600})
    page.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    taps: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.on("request", lambda r: taps.append(r.url) if r.method == "POST" else None)
    try:
        async with running(web_scale_config(tmp_path / "data", broker.url, folder)) as app:
            assert app.web is not None
            port = app.web.port
            station = app.jobs[0].stations[SCALE]
            await page.goto(f"http://127.0.0.1:{port}/scale/{SCALE}")
            await page.wait_for_selector("body[data-live='open']")
            station.devices.scale_sim.model.place(1235)
            await page.wait_for_selector("#tiles .tile[data-sku='P-BANANA']")
            box = await page.locator("#tiles .tile").first.bounding_box()
            assert box is not None
            assert await page.is_hidden("#oos")
            stopped = time.monotonic()
            app.request_stop()  # the daemon goes away (running() waits for it to end)
        waited = await _banner(page, stopped)
        assert waited <= BANNER_S, waited
        assert await page.inner_text("#oosText") == "系统无响应，请稍候或联系店员"
        assert await page.inner_text("#oosCode") == "daemon_unavailable"
        assert await page.inner_text("#grams") == "-.---"  # it no longer looks alive
        assert await page.locator("#tiles .tile").count() == 0
        await _tap_where(page, box)
        await page.click("#lang")  # the language still answers
        assert await page.inner_text("#oosText") == "The system is not answering — please wait or ask staff"
        await page.click("#lang")
        await asyncio.sleep(1.5)  # several failed reconnects and probes later: still the banner, nothing thrown
        assert await page.is_visible("#oos")
        assert taps == [] and errors == []

        # the daemon comes back on the same address: the screen recovers by itself, no reload
        async with running(web_scale_config(tmp_path / "data", broker.url, folder, listen=f"127.0.0.1:{port}")) as again:
            await page.wait_for_selector("#oos", state="hidden", timeout=15_000)
            await page.wait_for_selector("body[data-state='place_item']")
            assert await page.inner_text("#prompt") == "请放上商品"
            station = again.jobs[0].stations[SCALE]
            station.devices.scale_sim.model.place(800)
            banana = "#tiles .tile[data-sku='P-BANANA']"
            await page.wait_for_selector(banana)
            assert f"≈ ¥{expected_total('P-BANANA', grams=800)}" in await page.inner_text(banana)
        assert errors == []
    finally:
        await page.close()


@needs_dataset
async def test_an_unplugged_scale_shows_out_of_service_with_its_code(tmp_path: Path, broker: Any, browser: Any) -> None:
    async with kiosk(tmp_path, broker, browser) as k:
        taps: list[str] = []
        k.page.on("request", lambda r: taps.append(r.url) if r.method == "POST" else None)
        await k.place(1235, "banana")
        await k.offered(1235)
        box = await k.page.locator("#tiles .tile").first.bounding_box()
        assert box is not None
        sim = k.station.devices.scale_sim
        unplugged = time.monotonic()
        await asyncio.to_thread(sim.unplug)  # the scale's cable is pulled
        waited = await _banner(k.page, unplugged)
        assert waited <= BANNER_S, waited
        assert await k.page.inner_text("#oosText") == "电子秤暂停服务，请联系店员"
        assert await k.page.inner_text("#oosCode") == "scale_unavailable"
        await _tap_where(k.page, box)
        assert taps == [] and k.printed() == 0
        await asyncio.to_thread(sim.replug)  # plugged back: the screen comes back by itself
        await k.page.wait_for_selector("#oos", state="hidden", timeout=15_000)
        await k.place(900, "banana")
        await k.offered(900)
        await k.tap("#tiles .tile[data-sku='P-BANANA']")
        await k.page.wait_for_selector("#done:not([hidden])")
        await k.check_label(0, expected_total("P-BANANA", grams=900))
        k.no_script_errors()
