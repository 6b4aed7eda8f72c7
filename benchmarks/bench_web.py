"""Web benchmark in headless Chromium: weight settled → candidate tiles drawn (p50/p95), status page at 10,000 labels and 150 fridges.

Run: .venv/bin/python benchmarks/bench_web.py [--weighings 20] [--labels 10000] [--sections 150]
Prints one JSON object. Needs Playwright and /usr/bin/chromium; the scale part uses the Grocery Store
test images beside the repository when present, else synthetic frames (recognition runs either way).
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

import numpy as np
from PIL import Image
from playwright.async_api import Browser, async_playwright

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from edge.app import App  # noqa: E402
from edge.config import parse_config  # noqa: E402
from edge.demo.broker import Mosquitto  # noqa: E402
from edge.demo.browser import BROWSER_ARGS, CHROMIUM  # noqa: E402
from edge.jobs import schemas  # noqa: E402
from edge.store import Store  # noqa: E402
from edge.esl.web.routes import status_part
from edge.web import Sources, WebServer, build_app  # noqa: E402

DATASET = REPO.parent / "shared" / "datasets" / "grocerystore"
# The frame after the candidate tiles are drawn, or after the screen says it recognised nothing (no tiles below the model's threshold).
DRAWN = """() => new Promise((resolve) => {
  const ready = () => document.querySelector('#tiles .tile') || document.body.dataset.state === 'unrecognised';
  const done = () => requestAnimationFrame(() => resolve(Date.now()));
  if (ready()) return done();
  new MutationObserver((_, obs) => { if (ready()) { obs.disconnect(); done(); } })
    .observe(document.body, {attributes: true, childList: true, subtree: true});
})"""


def _pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))], 1)


def _camera_images(folder: Path, count: int) -> str:
    """Test images of the dataset when present, else synthetic produce-coloured frames; returns which."""
    folder.mkdir(parents=True)
    listing = DATASET / "test_dev.txt"
    if listing.is_file():
        paths = [DATASET / line.split(",")[0] for line in listing.read_text().splitlines()[:: 50]][:count]
        for i, p in enumerate(paths):
            (folder / f"{i:02d}-{p.name}").symlink_to(p)
        return "grocerystore test_dev"
    rng = np.random.default_rng(1)
    for i in range(count):
        colour = rng.integers(0, 255, 3)
        frame = np.clip(rng.normal(colour, 30, (480, 640, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(frame).save(folder / f"{i:02d}.png")
    return "synthetic"


async def bench_scale(browser: Browser, weighings: int) -> dict[str, Any]:
    """Weight settled (session stable, seen on the daemon) → tiles painted in the browser, per weighing."""
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        source = _camera_images(tmp_path / "cam", min(weighings, 20))
        broker = Mosquitto(tmp_path / "broker").start()
        config = parse_config(
            {"store": {"id": "bench"}, "data": {"dir": str(tmp_path / "data")}, "broker": {"url": broker.url},
             "http": {"listen": "127.0.0.1:0"}, "log": {"level": "error"},
             "scale": {"produce_file": str(REPO / "config/scale-produce.json"), "seed_products": True,
                       "scales": [{"id": "sc1", "port": "simulated:mt-sics", "camera": f"folder:{tmp_path / 'cam'}"}]}},
            env={},
        )
        app = await App.create(config)
        task = asyncio.create_task(app.run())
        try:
            job = app.jobs[0]
            station = job.stations["sc1"]
            await _until(lambda: len(job.gallery) > 0 and station.devices.driver.health.value == "connected" and station.devices.camera.health.ok, 60)
            page = await browser.new_page(viewport={"width": 1024, "height": 600})
            await page.goto(f"http://127.0.0.1:{app.web.port}/scale/sc1")
            await page.wait_for_selector("body[data-phase='empty']", timeout=10_000)
            names = station.devices.camera.source.names
            latencies: list[float] = []
            for i in range(weighings):
                station.devices.camera.source.show(names[i % len(names)])
                await asyncio.sleep(0.25)
                drawn = asyncio.create_task(page.evaluate(DRAWN))
                station.devices.scale_sim.model.place(500 + 37 * i)
                settled = await _until(lambda: station.session.phase.value in ("stable", "offered") and time.time() * 1000, 10, 0.002)
                painted = await asyncio.wait_for(drawn, 10)
                latencies.append(painted - settled)
                station.devices.scale_sim.model.clear()
                await _until(lambda: station.session.phase.value == "empty", 10)
                await page.wait_for_selector(".tile", state="detached", timeout=10_000)
            await page.close()
        finally:
            app.request_stop()
            await asyncio.wait_for(task, 20)
            broker.stop()
    return {"images": source, "weighings": weighings, "settled_to_tiles_painted_ms": {"p50": _pct(latencies, 0.5), "p95": _pct(latencies, 0.95), "max": round(max(latencies), 1)}}


async def _until(predicate: Any, timeout: float, step: float = 0.02) -> Any:
    """Poll until truthy, bounded in time."""
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise TimeoutError("bench_web: condition not met in time")
        await asyncio.sleep(step)
    return value


def _seed(store: Store, labels: int, sections: int) -> int:
    """Labels (2 % failed), `sections` fridge sections with a reading every 5 min for 24 h, 20 active pick orders."""
    now = time.time()

    def fill(tx: Any) -> int:
        """All rows in one transaction."""
        tx.db["esl_labels"].insert_all(
            ({"id": f"L{i:05d}", "esl_group": 1, "esl_id": i, "state": "failed" if i % 50 == 0 else "ok", "sku": f"SKU{i}"} for i in range(labels)),
            batch_size=2000,
        )
        rows = ({"section": f"F{s:03d}", "label": f"L{s:05d}", "ts": now - 300 * k, "temp_c": 3 + (k % 12) / 4} for s in range(sections) for k in range(288))
        tx.db["esl_readings"].insert_all(rows, batch_size=5000)
        tx.db["esl_alerts"].insert_all({"section": f"F{s:03d}", "raised_at": now - 600, "peak_c": 11.0, "reason": "bench"} for s in range(0, sections, 30))
        tx.db["esl_pick_orders"].insert_all({"order_id": f"o{i}", "color": "blue", "status": "active", "started_at": "x", "started_ts": now, "expires_at": now + 600} for i in range(20))
        return sections * 288

    return store.submit(fill).result(120)


async def bench_status(browser: Browser, labels: int, sections: int) -> dict[str, Any]:
    """Status page load time with a large store, the live summary's cost, and updates per second in the browser."""
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "edge.db", schemas=schemas())
        readings = _seed(store, labels, sections)

        async def status() -> dict[str, Any]:
            """A daemon status of App.status()'s shape."""
            return {"store_id": "bench", "link": {"state": "connected", "outbox_depth": 0, "last_sync": None}, "components": {}}

        configured = [{"id": f"F{s:03d}", "name": f"冷柜 {s}", "min_c": 0.0, "max_c": 6.0} for s in range(sections)]
        server = WebServer(build_app(Sources(status, store, [status_part(store, configured)]), None, live_interval_s=0.1), "127.0.0.1", 0)
        await server.start()
        base = f"http://127.0.0.1:{server.port}"
        try:
            loads = []
            page = await browser.new_page(viewport={"width": 1280, "height": 800})
            for _ in range(5):
                start = time.perf_counter()
                await page.goto(base + "/")
                await page.wait_for_selector("body[data-loaded='1']", timeout=30_000)
                loads.append((time.perf_counter() - start) * 1000)
            fridges = await page.evaluate("() => fetch('/api/fridges').then(r => r.text()).then(t => t.length)")
            await page.wait_for_selector("body[data-updates]", timeout=10_000)

            async def churn() -> None:
                """A new reading every 50 ms so every live summary differs."""
                t = 0
                while True:
                    t += 1
                    await store.write(lambda tx, t=t: tx.db["esl_readings"].insert({"section": "F000", "label": "L0", "ts": time.time(), "temp_c": 4 + t / 100}))
                    await asyncio.sleep(0.05)

            writer = asyncio.create_task(churn())
            before = int(await page.get_attribute("body", "data-updates") or 0)
            start = time.perf_counter()
            await asyncio.sleep(10)
            after = int(await page.get_attribute("body", "data-updates") or 0)
            rate = (after - before) / (time.perf_counter() - start)
            writer.cancel()
            summary_ms = []
            for _ in range(10):
                t0 = time.perf_counter()
                await page.evaluate("() => fetch('/api/labels?limit=0').then(r => r.json())")
                summary_ms.append((time.perf_counter() - t0) * 1000)
            await page.close()
        finally:
            await server.stop()
            store.close()
    return {
        "labels": labels, "sections": sections, "readings_24h": readings,
        "page_load_ms": {"p50": _pct(loads, 0.5), "max": round(max(loads), 1)},
        "fridges_json_bytes": fridges,
        "live_updates_per_s_at_0.1s_interval": round(rate, 1),
        "label_counts_api_ms_p50": _pct(summary_ms, 0.5),
    }


async def main() -> None:
    """Both parts, one JSON object."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--weighings", type=int, default=20)
    parser.add_argument("--labels", type=int, default=10_000)
    parser.add_argument("--sections", type=int, default=150)
    args = parser.parse_args()
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=str(CHROMIUM), args=BROWSER_ARGS)
        try:
            result = {"status_page": await bench_status(browser, args.labels, args.sections), "scale_screen": await bench_scale(browser, args.weighings)}
        finally:
            await browser.close()
    print(json.dumps(result, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    asyncio.run(main())
