"""Scripted customers on the scale's touch screen in headless Chromium: taps and seconds from stable weight to printed label, and settle → tiles painted.

Run: .venv/bin/python benchmarks/bench_scale_screen.py [--customers 40] [--think-s 0]
Prints one JSON object. Needs Playwright, /usr/bin/chromium and the Grocery Store dataset beside the
repository (test_dev images, iconic pictures). The daemon runs in-process with the demo's produce file,
a simulated MT-SICS scale, a folder camera and the simulated printer; each customer's item is put on
the scale with `POST /api/sim/scale/<id>/place` (a test_dev photo and a weight).

Each customer knows what they weighed (the photo's class) and acts like this on the screen: the product
is the first tile → tap it; a tile at rank 2-5 → tap it; not offered → "都不是 · 搜索", then the pinyin
initials of its name on the letter pad, one letter at a time, until its tile is in view, and tap it.
A question ("识别为 X，您选择的是 Y，确认吗？") is answered yes; a by-piece product is counted "2" + OK.
Every customer's photo is then weighed a second time by a customer who goes to the keyboard at once
("keyboard, chosen"). Taps are counted on the screen; seconds run from the daemon seeing the stable
weight (its session leaves `placing`, polled every 2 ms) to the label leaving the simulated printer.
With --think-s 0 the customer taps as soon as the screen has drawn: machine and page time only; a
shopper's reading and reaction time is --think-s per tap on top (not modelled by default).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from playwright.async_api import Page, async_playwright

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from edge.app import App  # noqa: E402
from edge.config import parse_config  # noqa: E402
from edge.demo.broker import Mosquitto  # noqa: E402
from edge.demo.browser import BROWSER_ARGS, CHROMIUM  # noqa: E402
from edge.scale.search import Keys  # noqa: E402

DATASET = REPO.parent / "shared" / "datasets" / "grocerystore"
PRODUCE = REPO / "config" / "scale-produce.json"
SCALE = "sc1"
# Resolves at the frame after the tiles of a weighing later than `after` are drawn (or the screen says it recognised nothing).
PAINTED = """(after) => new Promise((resolve) => {
  const ready = () => Number(document.body.dataset.weighing || 0) > after
    && ((document.body.dataset.state === 'choose' && document.querySelector('#tiles .tile')) || document.body.dataset.state === 'unrecognised');
  const done = () => requestAnimationFrame(() => resolve(Date.now()));
  if (ready()) return done();
  new MutationObserver((_, obs) => { if (ready()) { obs.disconnect(); done(); } })
    .observe(document.body, {attributes: true, childList: true, subtree: true});
})"""
PICTURES = """() => new Promise((resolve) => {
  const ok = () => document.body.dataset.pictures === 'loaded';
  const done = () => requestAnimationFrame(() => resolve(Date.now()));
  if (ok()) return done();
  new MutationObserver((_, obs) => { if (ok()) { obs.disconnect(); done(); } }).observe(document.body, {attributes: true});
})"""
IN_VIEW = """(sku) => {
  const tile = document.querySelector(`#results .tile[data-sku="${sku}"]`);
  if (!tile) return false;
  const list = document.getElementById('results').getBoundingClientRect(), box = tile.getBoundingClientRect();
  return box.top >= list.top - 1 && box.bottom <= list.bottom + 1;
}"""


def _pct(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (None for no values)."""
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))], 2)


def _photos(count: int) -> list[tuple[str, Path]]:
    """`count` test_dev photos spread over the list (class, path)."""
    lines = [line.split(",")[0].strip() for line in (DATASET / "test_dev.txt").read_text().splitlines() if line.strip()]
    step = max(1, len(lines) // count)
    return [(Path(p).parent.name, DATASET / p) for p in lines[::step][:count]]


def _letters(row: dict[str, Any]) -> str:
    """What a customer types on the letter pad: the initials of the product's name (letters only)."""
    keys = Keys.of(row["name"], row.get("name_en"), row.get("plu"))
    return "".join(c for c in keys.initials.upper() if "A" <= c <= "Z")


class Customer:
    """One scripted shopper at the screen: taps counted, an optional think time before each."""

    def __init__(self, page: Page, think_s: float) -> None:
        """No taps yet."""
        self.page = page
        self.think_s = think_s
        self.taps = 0
        self.asked = False

    async def tap(self, selector: str) -> None:
        """One finger on the screen."""
        if self.think_s:
            await asyncio.sleep(self.think_s)
        self.taps += 1
        await self.page.click(selector)

    async def choose(self, sku: str, piece: bool, tile: str) -> None:
        """Tap a product's tile, count it when by piece, answer a question yes."""
        await self.tap(tile)
        if piece:
            await self.page.wait_for_selector("#count:not([hidden])")
            await self.tap("#pad [data-k='2']")
            await self.page.wait_for_selector("#countOk:not([disabled])")
            await self.tap("#countOk")
        await self.page.wait_for_selector("#ask:not([hidden]), #done:not([hidden])")
        if await self.page.is_visible("#ask"):
            self.asked = True
            await self.tap("#askYes")

    async def search(self, sku: str, letters: str) -> bool:
        """"None of these", then letters until the product is in view; False when it never shows."""
        if await self.page.is_visible("#none") and await self.page.is_hidden("#search"):
            await self.tap("#none")
        await self.page.wait_for_selector("#search:not([hidden])")
        for letter in letters:
            await self.tap(f"#keys [data-k='{letter}']")
            typed = await self.page.inner_text("#query")
            await self.page.wait_for_function("(q) => document.body.dataset.results === q + '|'", arg=typed)
            if await self.page.evaluate(IN_VIEW, sku):
                return True
        return False


async def run(customers: int, think_s: float) -> dict[str, Any]:
    """Start the daemon and the browser, weigh every customer's photo twice (natural, then keyboard), gather the figures."""
    produce = {p["sku"]: p for p in json.loads(PRODUCE.read_text(encoding="utf-8"))["products"]}
    sku_of = {p["class"]: p["sku"] for p in produce.values()}
    photos = _photos(customers)
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        (tmp_path / "cam").mkdir()
        (tmp_path / "cam" / "00.jpg").symlink_to(photos[0][1])
        broker = Mosquitto(tmp_path / "broker").start()
        config = parse_config(
            {"store": {"id": "bench"}, "data": {"dir": str(tmp_path / "data")}, "broker": {"url": broker.url},
             "http": {"listen": "127.0.0.1:0"}, "log": {"level": "error"},
             "scale": {"produce_file": str(PRODUCE), "seed_products": True, "demo_images": str(DATASET),
                       "scales": [{"id": SCALE, "port": "simulated:mt-sics", "camera": f"folder:{tmp_path / 'cam'}"}]}},
            env={},
        )
        app = await App.create(config)
        task = asyncio.create_task(app.run())
        records: list[dict[str, Any]] = []
        try:
            job = app.jobs[0]
            station = job.stations[SCALE]
            await _until(lambda: len(job.gallery) > 0 and station.devices.driver.health.value == "connected" and station.devices.camera.health.ok, 60)
            assert app.web is not None
            base = f"http://127.0.0.1:{app.web.port}"
            async with async_playwright() as p, aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
                browser = await p.chromium.launch(executable_path=str(CHROMIUM), args=BROWSER_ARGS)
                page = await browser.new_page(viewport={"width": 1024, "height": 600})
                page.set_default_timeout(15_000)
                await page.goto(f"{base}/scale/{SCALE}")
                await page.wait_for_selector("body[data-state='place_item']")
                for i, (cls, photo) in enumerate(photos):
                    sku = sku_of[cls]
                    grams = 1050 if produce[sku]["sale_mode"] == "piece" else 300 + (137 * i) % 1200
                    for keyboard in (False, True):
                        records.append(await _customer(page, http, base, station, sku, produce[sku], grams, photo, keyboard, think_s))
                await browser.close()
        finally:
            app.request_stop()
            await asyncio.wait_for(task, 20)
            broker.stop()
    return _summary(records, customers, think_s)


async def _customer(page: Page, http: aiohttp.ClientSession, base: str, station: Any, sku: str, row: dict[str, Any], grams: int,
                    photo: Path, keyboard: bool, think_s: float) -> dict[str, Any]:
    """One weighing from an empty platter to the label (or to giving up), timed and counted."""
    async with http.post(f"{base}/api/sim/scale/{SCALE}/remove") as r:
        assert r.status == 200
    await page.wait_for_selector("body[data-state='place_item']")  # the last summary may still show: the next item replaces it
    before = int(await page.get_attribute("body", "data-weighing") or 0)
    labels = len(station.devices.printer_sim.pages)
    painted = asyncio.create_task(page.evaluate(PAINTED, before))
    async with http.post(f"{base}/api/sim/scale/{SCALE}/place", json={"grams": grams, "image": str(photo)}) as r:
        assert r.status == 200, await r.text()
    settled = await _until(lambda: station.session.phase.value in ("stable", "offered") and time.time() * 1000, 10, 0.002)
    drawn = await asyncio.wait_for(painted, 10)
    pictures = await asyncio.wait_for(page.evaluate(PICTURES), 10)
    ranks = [await t.get_attribute("data-sku") for t in await page.locator("#tiles .tile").all()]
    rank = ranks.index(sku) + 1 if sku in ranks else None
    customer = Customer(page, think_s)
    piece = row["sale_mode"] == "piece"
    if keyboard or rank is None:
        path = "keyboard, chosen" if keyboard else "keyboard, not offered"
        found = await customer.search(sku, _letters(row))
        if not found:
            return {"path": path, "rank": rank, "found": False, "taps": customer.taps}
        await customer.choose(sku, piece, f"#results .tile[data-sku='{sku}']")
    else:
        path = "top-1" if rank == 1 else "rank 2-5"
        await customer.choose(sku, piece, f"#tiles .tile[data-sku='{sku}']")
    printed = await _until(lambda: len(station.devices.printer_sim.pages) > labels and time.time() * 1000, 20, 0.002)
    await page.wait_for_selector("#done:not([hidden])")
    return {"path": path, "rank": rank, "found": True, "taps": customer.taps, "asked": customer.asked, "piece": piece,
            "stable_to_label_s": (printed - settled) / 1000, "settle_to_tiles_ms": drawn - settled, "settle_to_pictures_ms": pictures - settled}


def _summary(records: list[dict[str, Any]], customers: int, think_s: float) -> dict[str, Any]:
    """Per path: customers, taps, seconds from stable weight to label; settle → tiles and pictures painted over every weighing."""
    paths: dict[str, Any] = {}
    for path in ("top-1", "rank 2-5", "keyboard, not offered", "keyboard, chosen"):
        done = [r for r in records if r["path"] == path and r["found"]]
        taps = [float(r["taps"]) for r in done]
        seconds = [r["stable_to_label_s"] for r in done]
        paths[path] = {
            "customers": len(done), "not_found_by_letters": sum(1 for r in records if r["path"] == path and not r["found"]),
            "taps_p50": _pct(taps, 0.5), "taps_max": max(taps) if taps else None,
            "taps_mean": round(sum(taps) / len(taps), 2) if taps else None,
            "taps_p50_by_weight": _pct([float(r["taps"]) for r in done if not r["piece"]], 0.5),
            "taps_p50_by_piece": _pct([float(r["taps"]) for r in done if r["piece"]], 0.5),
            "questions_answered": sum(1 for r in done if r["asked"]), "by_piece": sum(1 for r in done if r["piece"]),
            "stable_to_label_s": {"p50": _pct(seconds, 0.5), "p95": _pct(seconds, 0.95)},
        }
    tiles = [r["settle_to_tiles_ms"] for r in records if "settle_to_tiles_ms" in r]
    pictures = [r["settle_to_pictures_ms"] for r in records if "settle_to_pictures_ms" in r]
    return {
        "customers": customers, "weighings": len(records), "think_s_per_tap": think_s, "viewport": "1024x600", "paths": paths,
        "settle_to_tiles_painted_ms": {"p50": _pct(tiles, 0.5), "p95": _pct(tiles, 0.95), "max": round(max(tiles), 1) if tiles else None},
        "settle_to_pictures_painted_ms": {"p50": _pct(pictures, 0.5), "p95": _pct(pictures, 0.95)},
    }


async def _until(predicate: Any, timeout: float, step: float = 0.02) -> Any:
    """Poll until truthy, bounded in time."""
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise TimeoutError("bench_scale_screen: condition not met in time")
        await asyncio.sleep(step)
    return value


async def main() -> None:
    """Parse the options, run, print one JSON object."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=40)
    parser.add_argument("--think-s", type=float, default=0.0, help="a shopper's pause before each tap (default 0: machine and page time only)")
    args = parser.parse_args()
    print(json.dumps(await run(args.customers, args.think_s), indent=2, ensure_ascii=False))


if __name__ == "__main__":
    asyncio.run(main())
