"""The scale job's part of the demo story: customers weigh dataset images on a simulated self-service scale.

The scale is the pty simulator read by the production driver, the camera a folder of test_dev
images (linked, never copied), the printer the ESC/POS simulator; labels are saved as PNG files.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

from edge.demo.browser import browser, new_page
from edge.demo.story_base import DemoContext, Scene
from edge.scale.errors import ScaleJobError

# (fine class of the test_dev image, grams on the platter, pieces for by-piece goods, index of the image)
CUSTOMERS: list[tuple[str, int, int | None, int]] = [
    ("Banana", 1235, None, 3),
    ("Granny-Smith", 655, None, 1),
    ("Red-Bell-Pepper", 410, None, 2),
    ("Tropicana-Juice-Smooth", 1050, 2, 0),
    ("Pomegranate", 480, None, 4),
    ("Solid-Potato", 870, None, 3),  # the model ranks the floury potato first: the customer taps #2
]


def _job(ctx: DemoContext) -> Any:
    """The running scale job, if the demo config enables it."""
    return ctx.app.job("scale")


def _link_images(dataset: Path, target: Path) -> list[tuple[str, str, int, int | None]]:
    """Link one test_dev image per customer into the camera folder, atomically (the camera lists it once)."""
    lines = [line.split(",")[0].strip() for line in (dataset / "test_dev.txt").read_text().splitlines() if line.strip()]
    staging = target.with_name(target.name + ".tmp")
    staging.mkdir(parents=True, exist_ok=True)
    plan = []
    for number, (cls, grams, pieces, index) in enumerate(CUSTOMERS):
        matches = [p for p in lines if Path(p).parent.name == cls]
        image = dataset / matches[min(index, len(matches) - 1)]
        name = f"{number:02d}-{image.name}"
        os.symlink(image.resolve(), staging / name)
        plan.append((cls, name, grams, pieces))
    os.replace(staging, target)
    return plan


async def _until(predicate: Any, timeout: float, what: str) -> Any:
    """Poll a condition on the daemon, bounded in time."""
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"scale demo: timed out waiting for {what}")
        await asyncio.sleep(0.03)
    return value


async def scene_weighing(ctx: DemoContext) -> None:
    """Self-service scale: weigh, recognise once when stable, tap, print a priced label; the gallery learns."""
    job = _job(ctx)
    if job is None or not job.stations:
        ctx.say("(scale scenes skipped: no [scale] section with a scale in this config)")
        return
    dataset = job.cfg.demo_images
    if not (dataset / "test_dev.txt").is_file():
        ctx.say(f"(scale demo needs the Grocery Store dataset at {dataset} (test_dev.txt + images); set [scale] demo_images)")
        return
    station = next(iter(job.stations.values()))
    camera, sim, printer = station.devices.camera, station.devices.scale_sim, station.devices.printer_sim
    if camera is None or sim is None or printer is None:
        ctx.say("(scale demo needs the simulated scale, folder camera and simulated printer of config/demo.toml)")
        return
    plan = _link_images(dataset, Path(camera.source.folder))
    await _until(lambda: camera.health.ok and station.devices.driver.health.value == "connected", 10, "camera and scale")
    ctx.say(f"scale {station.id}: a simulated weighing scale speaking MT-SICS (Mettler Toledo's serial protocol) on a virtual"
            f" serial port {sim.path}, read by the same driver as a real one; its camera shows {len(plan)} photos of the Grocery"
            f" Store dataset; produce recognition model {job.model_version}")
    ctx.say("  (candidates are listed best first with the model's similarity score, 0 to 1)")
    labels = ctx.output / "labels"
    labels.mkdir(exist_ok=True)
    skus = job.produce.skus
    sold = 0
    for number, (cls, name, grams, pieces) in enumerate(plan, 1):
        camera.source.show(name)
        await asyncio.sleep(0.25)
        sim.model.place(grams)
        await _until(lambda: station.session.phase.value == "offered", 10, "candidates")
        shown = job.candidates(station.id)
        offer = ", ".join(f"{c['rank']}. {c['name']} ({c['score']:.2f})" for c in shown["candidates"][:5])
        unsure = " — unsure: the scores are close, the screen asks the customer to check" if shown["unsure"] else ""
        ctx.say(f"customer {number} puts {cls} on the scale: {shown['grams']} g, steady → {offer}{unsure}")
        truth = skus[cls]
        ranks = [c["sku"] for c in shown["candidates"]]
        choice: str | int = ranks.index(truth) + 1 if truth in ranks else truth
        if isinstance(choice, int):
            how = f"taps #{choice}"
        else:
            found = job.search(station.id, cls.replace("-", " "))["products"][0]
            how = f"not offered: searches and taps {found['name']}"
        try:
            sale = await job.confirm(station.id, choice, pieces=pieces)
        except ScaleJobError as err:
            if err.code != "needs_confirmation":
                raise
            recognised, chosen = err.details["recognised"], err.details["chosen"]
            how += f"; the screen asks 识别为 {recognised['name']}，您选择的是 {chosen['name']}，确认吗？ ({err.details['suspicion']}), the customer says yes"
            sale = await job.confirm(station.id, choice, pieces=pieces, confirmed=True)
        pages = await asyncio.to_thread(printer.wait_pages, sold + 1, 10)
        if len(pages) <= sold or pages[sold].image is None:
            raise RuntimeError("scale demo: the label did not reach the printer")
        path = labels / f"{number:02d}-{sale['sku']}.png"
        pages[sold].image.save(path)
        sold += 1
        quantity = f"{sale['pieces']} × {sale['unit_price']} 元/件" if sale["pieces"] else f"{sale['grams']} g × {sale['unit_price']} 元/{sale['unit']}"
        quantity += "" if sale["suspicion"] == "none" else f" (suspicion {sale['suspicion']}: HQ can audit it; it does not teach the gallery)"
        learned = f"the store learns this photo ({sale['learning']})" if sale["learned"] else f"nothing learned ({sale['learning']})"
        ctx.say(
            f"  {how}: {sale['name']} {quantity} = ¥{sale['amount']}; label printed with barcode {sale['barcode']} ({path.name});"
            f" candidates shown {sale['timings']['settle_to_candidates_ms']:.0f} ms after the weight settled; {learned}"
        )
        sim.model.clear()
        await _until(lambda: station.session.phase.value == "empty", 10, "empty platter")
    events = await ctx.wait(lambda _: len(ctx.hq.events("weighing")) >= sold and ctx.hq.events("weighing"))
    ctx.say(f"HQ received {len(events)} weighing events (no photo leaves the store); the printed labels are in {labels}")


async def scene_refusals(ctx: DemoContext) -> None:
    """No wrong price is ever printed: a product without a price and an item swapped after the offer are refused."""
    job = _job(ctx)
    if job is None or not job.stations or not (job.cfg.demo_images / "test_dev.txt").is_file():
        return
    station = next(iter(job.stations.values()))
    sim, printer = station.devices.scale_sim, station.devices.printer_sim
    if sim is None or printer is None:
        return
    reply = await ctx.request(
        "product.upsert", {"items": [{"sku": "DEMO-NOPRICE", "name": "待定价水果", "price": "0.00", "unit": "kg", "sale_mode": "weight", "plu": "19999"}]}
    )
    await _until(lambda: job.products.sold("DEMO-NOPRICE"), 5, "catalogue update")  # [scale] products lists it in config/demo.toml
    before = len(printer.pages)
    sim.model.place(800)
    await _until(lambda: station.session.phase.value == "offered", 10, "candidates")
    added = "accepted" if reply["ok"] else "refused"
    ctx.say(f"HQ adds a product priced 0.00 ({added}); the customer taps it: {await _refused(job, station, 'DEMO-NOPRICE')}, no label")
    shelf = next((sku for sku in job.products if sku.startswith("DEMO0") and job.products[sku]["sale_mode"] == "weight"), None)
    if shelf is not None:
        ctx.say(f"a shelf-only product ({job.products[shelf]['name']}, {shelf}) is not offered or found at the scale; a tap on it anyway:"
                f" {await _refused(job, station, shelf)}")
    sim.model.place(600)  # a second item lands on the platter after the offer
    await asyncio.sleep(0.1)
    if job.candidates(station.id)["candidates"]:
        ctx.say(f"another item lands on the scale before the tap: {await _refused(job, station, 1)}; the screen recognises the new load")
    sim.model.clear()
    await _until(lambda: station.session.phase.value == "empty", 10, "empty platter")
    ctx.say(f"labels printed during these refusals: {len(printer.pages) - before}")
    counts = await ctx.request("scale.gallery", {"sku": job.produce.skus["Banana"]})
    product = counts["result"]["products"][0]
    ctx.say(f"HQ → scale.gallery {product['sku']}: the model knows it from {product['base']} example photos shipped with it"
            f" + {product['stored']} learned in this store")


async def _refused(job: Any, station: Any, choice: str | int) -> str:
    """Tap `choice`, which must be refused: the refusal's code and staff text (the screen shows its own text for the code)."""
    try:
        await job.confirm(station.id, choice, confirmed=True)
    except ScaleJobError as err:
        return f"refused ({err.code}: {err})"
    raise RuntimeError(f"scale demo: {choice!r} was sold although it should be refused")


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


async def scene_touch_screen(ctx: DemoContext) -> None:
    """The scale's touch screen, served by the daemon itself (no token: customers use it)."""
    job = _job(ctx)
    if job is None or ctx.app.web is None:
        return
    base = f"http://127.0.0.1:{ctx.app.web.port}"
    stations = list(job.stations.values())
    for station in stations:
        ctx.say(f"scale screen: {base}/scale/{station.id}")
    async with browser(ctx.say) as launched:
        if launched is None or not stations:
            return
        station = stations[0]
        page = await new_page(launched, 1024, 600)
        await page.goto(f"{base}/scale/{station.id}")
        await page.wait_for_selector("body[data-live='open']")
        if await _offer(station):
            await page.wait_for_selector(".tile")
            from playwright.async_api import (
                TimeoutError as PlaywrightTimeout,  # present: the browser was launched
            )

            try:  # the screenshot shows the product pictures, not the tiles waiting for them
                await page.wait_for_function(
                    "() => [...document.querySelectorAll('.tile img')].every((img) => img.complete && img.naturalWidth > 0)", timeout=10_000
                )
            except PlaywrightTimeout:
                ctx.say("(the product pictures did not load within 10 s; the screenshot shows the tiles without them)")
        path = ctx.output / "scale-screen.png"
        await page.screenshot(path=str(path))
        ctx.say(f"screenshot of the scale screen ({await page.locator('.tile').count()} candidate tiles): {path}")
        if station.devices.scale_sim is not None:
            station.devices.scale_sim.model.clear()


SCENES: list[Scene] = [scene_weighing, scene_refusals, scene_touch_screen]
