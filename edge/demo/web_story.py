"""Demo scene of the web pages: print the status page and scale screen addresses, screenshot both when Chromium is present."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from edge.demo.story_base import DemoContext, Scene

CHROMIUM = Path("/usr/bin/chromium")
BROWSER_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
TIMEOUT_MS = 10_000


async def _offer(station: Any) -> bool:
    """Put an item on the simulated scale and wait for candidates (False without a simulated scale or camera)."""
    sim, camera = station.devices.scale_sim, station.devices.camera
    if sim is None or camera is None or not camera.source.names:
        return False
    camera.source.show(camera.source.names[0])
    await asyncio.sleep(0.25)
    sim.model.place(1180)
    deadline = time.monotonic() + 10
    while station.session.phase.value != "offered":
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


async def scene_pages(ctx: DemoContext) -> None:
    """The store status page and the scale's touch screen, served by the daemon itself."""
    if ctx.app.web is None:
        ctx.say("(web pages skipped: [http] is disabled)")
        return
    base = f"http://127.0.0.1:{ctx.app.web.port}"
    scale = next((j for j in ctx.app.jobs if j.name == "scale"), None)
    stations = list(getattr(scale, "stations", {}).values())
    ctx.say(f"status page: {base}/")
    for station in stations:
        ctx.say(f"scale screen: {base}/scale/{station.id}")
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        ctx.say("(screenshots skipped: Playwright is not installed)")
        return
    if not CHROMIUM.exists():
        ctx.say("(screenshots skipped: no /usr/bin/chromium)")
        return
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=str(CHROMIUM), args=BROWSER_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 800})
            page.set_default_timeout(TIMEOUT_MS)
            token_file = ctx.app.config.http.token_file
            await page.goto(base + "/" + (f"?token={token_file.read_text().strip()}" if token_file else ""))
            await page.wait_for_selector("body[data-loaded='1']")
            await page.wait_for_selector("#live.ok")
            path = ctx.output / "status-page.png"
            await page.screenshot(path=str(path), full_page=True)
            ctx.say(f"screenshot of the status page: {path}")
            if stations:
                station = stations[0]
                page = await browser.new_page(viewport={"width": 1024, "height": 600})
                page.set_default_timeout(TIMEOUT_MS)
                await page.goto(f"{base}/scale/{station.id}")
                await page.wait_for_selector("body[data-live='open']")
                if await _offer(station):
                    await page.wait_for_selector(".tile")
                path = ctx.output / "scale-screen.png"
                await page.screenshot(path=str(path))
                ctx.say(f"screenshot of the scale screen ({await page.locator('.tile').count()} candidate tiles): {path}")
                if station.devices.scale_sim is not None:
                    station.devices.scale_sim.model.clear()
        finally:
            await browser.close()


SCENES: list[Scene] = [scene_pages]
