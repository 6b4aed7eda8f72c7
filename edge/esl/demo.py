"""The esl job's part of the demo story: price push with a progress bar, prices a store can prove (a lawful 原价, unlawful
promotions refused, a stale label caught by the shelf = catalogue proof), two pick orders, a fridge warming up."""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import io
import json
import shutil
import time
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from devices.esl import framebuffer
from devices.esl.led import LedColor
from edge.demo.story import DemoCheckFailed
from edge.demo.story_base import DemoContext, Scene
from edge.demo.words import clock
from edge.esl.job import EslJob
from edge.esl.map.picture import from_db
from edge.esl.map.storemap import Place
from edge.esl.prices.demo_store import catalogue

WARMING_SECTION = "dairy-1"
SAMPLE_LABELS = 12
#: The demo's price scenes use products from here on (the earlier ones are the pick and map scenes' samples).
PRICE_SCENE_FIRST = 10
#: A whole-store proof of the demo's 306 labels answers within this (the command itself allows 30 s).
PROOF_TIMEOUT_S = 60.0


def _job(ctx: DemoContext) -> EslJob | None:
    """The running esl job (None when the config has no simulated `[esl]`)."""
    job = ctx.app.job("esl")
    return job if isinstance(job, EslJob) and job.fleet is not None else None


def _bar(push: dict[str, Any], total: int) -> str:
    """A text progress bar of a refresh."""
    done = push["done"] + push["skipped"] + push["failed"]
    filled = round(30 * min(done, total) / max(total, 1))
    return (f"[{'#' * filled}{'.' * (30 - filled)}] {done}/{total} labels updated, {push['in_flight']} being sent, "
            f"{push['queued']} waiting, {push['failed']} failed")


async def _until_idle(ctx: DemoContext, job: EslJob, total: int, timeout: float = 60) -> None:
    """Print the progress bar every second, and once more when no push work is left."""
    deadline = time.monotonic() + timeout
    last, shown = 0.0, ""
    await asyncio.sleep(0.3)
    while time.monotonic() < deadline:
        push = job.health()["push"]
        idle = push["queued"] == 0 and push["in_flight"] == 0
        bar = _bar(push, total)
        if (time.monotonic() - last >= 1.0 or idle) and bar != shown:
            ctx.say("  " + bar)
            last, shown = time.monotonic(), bar
        if idle:
            return
        await asyncio.sleep(0.2)
    raise TimeoutError("the label refresh did not finish in time")


def _where(where: dict[str, Any]) -> str:
    """A place on the map in words: `shelf run A09L, bay 6, level 5` or `endcap E01, level 2`."""
    if "endcap" in where:
        return f"endcap {where['endcap']}" + (f", level {where['level']}" if "level" in where else "")
    return f"shelf run {where['run']}, bay {where['bay']}" + (f", level {where['level']}" if "level" in where else "")


def _colour_name(colour: LedColor | None) -> str:
    """A readable name for what an LED shows."""
    if colour is None:
        return "dark"
    names = {(0, 3, 0): "green", (0, 0, 3): "blue", (3, 0, 3): "magenta", (0, 3, 3): "cyan", (3, 3, 0): "yellow", (3, 0, 0): "red"}
    return names.get((colour.red, colour.green, colour.blue), str(colour))


async def store_comes_up(ctx: DemoContext) -> None:
    """Shelf labels: the simulated store loads its catalogue and brings every label up to date."""
    job = _job(ctx)
    if job is None:
        ctx.say("no simulated [esl] section in this config: skipping the shelf-label scenes")
        return
    deadline = time.monotonic() + 60
    while not job.healthy:  # the job loads the demo catalogue and binds the labels before it follows the catalogue
        if time.monotonic() > deadline:
            raise TimeoutError("the shelf-label job did not start in time")
        await asyncio.sleep(0.1)
    total = len(job.backend.labels)
    at_once = job.backend.pushes_at_once or job.config.connections
    ctx.say(f"{total} simulated shelf labels, up to {at_once} updated at once by radio; waiting until every"
            " label shows its product and price (the start-up refresh)")
    await _until_idle(ctx, job, total)
    listed = (await ctx.request("label.list", {"state": "ok", "limit": 3}))["result"]
    ctx.say(f"HQ → label.list: {listed['total']} labels show their product, e.g. "
            + ", ".join(f"label {x['id']} shows {x['sku']}" for x in listed["labels"]))


async def price_push(ctx: DemoContext) -> None:
    """Shelf labels: headquarters marks down every demo product by 10 %; the labels follow."""
    job = _job(ctx)
    if job is None:
        return
    items = catalogue(job.config.demo_store.products, job.config.demo_store.seed)
    changes = [{"sku": i["sku"], "price": f"{(Decimal(i['price']) * Decimal('0.9')):.2f}"} for i in items]
    before = len(ctx.hq.events("label.updated"))
    reply = await ctx.request("price.update", {"items": changes})
    ctx.say(f"HQ → price.update: 10 % off {len(changes)} products; the store applied {reply['result']['applied']} and redraws their labels")
    bound = sum(1 for r in job.backend.labels)
    await _until_idle(ctx, job, bound)
    events = {e["id"]: e for e in ctx.hq.events("label.updated")[before:]}
    sample = changes[0]
    shown = [e["data"] for e in events.values() if e["data"]["sku"] == sample["sku"]]
    price = shown[0]["price"] if shown else "?"
    ctx.say(f"HQ received {len(events)} label.updated events (one per redrawn label); {sample['sku']}'s label now shows ¥{price}"
            + (" as sent" if price == sample["price"] else f", not the ¥{sample['price']} sent"))


async def pick_orders(ctx: DemoContext) -> None:
    """Pick lights: two online orders flash their labels in their own colours; a shared label alternates."""
    job = _job(ctx)
    if job is None:
        return
    rows = await ctx.app.store.read(lambda db: db.execute(
        "SELECT sku, min(id) FROM esl_labels WHERE leds > 0 AND sku IS NOT NULL GROUP BY sku ORDER BY sku LIMIT 5").fetchall())
    skus = [r[0] for r in rows]
    label_of = dict(rows)
    first = (await ctx.request("pick.start", {"order_id": "WEB-1001", "items": [{"sku": s, "qty": 1} for s in skus[:3]]}))["result"]
    second = (await ctx.request("pick.start", {"order_id": "WEB-1002", "items": [{"sku": s, "qty": 2} for s in skus[2:5]]}))["result"]
    ctx.say(f"HQ → pick.start for two online orders: the labels of WEB-1001's products flash {first['color']}, WEB-1002's"
            f" {second['color']}, so the picker finds them; {skus[2]} is in both orders")
    shared = job.fleet.label(label_of[skus[2]])  # type: ignore[union-attr]
    seen: set[str] = set()
    deadline = time.monotonic() + 8
    while time.monotonic() < deadline and len(seen) < 2:
        run = shared.led(0)
        if run is not None:
            seen.add(_colour_name(run.color))
        await asyncio.sleep(0.1)
    ctx.say(f"{skus[2]}'s label ({shared.address}) takes turns: {' and '.join(sorted(seen))}")
    for sku in skus[:3]:
        await ctx.request("pick.done", {"order_id": "WEB-1001", "sku": sku})
    await ctx.request("pick.cancel", {"order_id": "WEB-1002"})
    done = await ctx.wait(lambda _: len(ctx.hq.events("pick.completed")) >= 2 and ctx.hq.events("pick.completed"))
    ctx.say("the picker confirms WEB-1001's items and HQ cancels WEB-1002; pick.completed: "
            + ", ".join(f"{e['data']['order_id']} {e['data']['outcome']} after {e['data']['duration_ms'] / 1000:.1f} s" for e in done)
            + "; their lights go dark")


async def fridge_warms(ctx: DemoContext) -> None:
    """Cold chain: a dairy fridge fails and warms up; the section raises temperature.alert."""
    job = _job(ctx)
    if job is None or not job.config.coldchain.sections:
        return
    section = next((s for s in job.config.coldchain.sections if s.id == WARMING_SECTION), job.config.coldchain.sections[0])
    fleet = job.fleet
    assert fleet is not None
    label = fleet.label(section.labels[-1])
    assert label.fridge is not None
    label.fridge = dataclasses.replace(label.fridge, fail_at_s=fleet.clock(), warm_rate_c_per_h=1800, door_opens_per_h=0)
    ctx.say(f"{section.name}: the compressor of {label.address} stops (limit {section.max_c:g} °C, "
            f"{section.min_duration_s:g} s out of range raises an alert)")
    alert = await ctx.wait(lambda _: [e for e in ctx.hq.events("temperature.alert") if e["data"]["section"] == section.id], timeout=40)
    data = alert[0]["data"]
    ctx.say(f"temperature.alert {data['state']}: {data['temp_c']} °C, {data['reason']}, out of range since"
            f" {clock(data['since'], ZoneInfo(ctx.app.config.store.timezone))}")


async def write_outputs(ctx: DemoContext) -> None:
    """Shelf labels: write a sample of rendered labels (PNG) and the temperature report into the output folder."""
    job = _job(ctx)
    if job is None:
        return
    folder = ctx.output / "esl"
    (folder / "labels").mkdir(parents=True, exist_ok=True)
    written = 0
    for label in list(job.fleet.labels.values()):  # type: ignore[union-attr]
        image = label.displayed_image(0)
        if image is None:
            continue
        image.convert("RGB").save(folder / "labels" / f"{label.address.replace(':', '')}.png")
        written += 1
        if written == SAMPLE_LABELS:
            break
    ctx.say(f"{written} rendered labels (as the simulated labels display them): {folder / 'labels'}")
    if not job.config.coldchain.sections:
        return
    before = len(ctx.hq.events("report.ready"))
    await ctx.request("temperature.report", {})
    ready = (await ctx.wait(lambda _: ctx.hq.events("report.ready")[before:]))[0]["data"]
    for key in ("html", "csv"):
        shutil.copy(ready[key], folder)
    ctx.say(f"temperature report: {folder / (ready['html'].rsplit('/', 1)[-1])} (and .csv); "
            + "; ".join(f"{s['section']} max {s['max_c']} °C, {s['alerts']} alert{'' if s['alerts'] == 1 else 's'}" for s in ready["sections"]))


async def store_map(ctx: DemoContext) -> None:
    """Where every product is: anchors locate the labels, a planogram check, one walk for three orders, the map picture."""
    job = _job(ctx)
    if job is None or job.locating is None or job.map is None:
        return
    locating, total = job.locating, len(job.backend.labels)
    shelves = list(job.map.shelves.values())
    ctx.say(f"store map: {sum(s.kind == 'run' for s in shelves)} shelf runs, {sum(s.kind == 'endcap' for s in shelves)} endcaps"
            f" (the short shelves at the aisle ends) and {len(job.map.anchors)} anchors (radio receivers on the shelves that hear"
            " the labels); waiting until they have located every label")
    located = await ctx.wait(lambda _: (n := locating.health()["located"]) >= 0.95 * total and n, timeout=40)
    rows = await ctx.app.store.read(lambda db: db.execute(
        "SELECT l.sku, min(l.id) FROM esl_labels l JOIN esl_positions p ON p.label = l.id WHERE l.sku IS NOT NULL"
        " GROUP BY l.sku HAVING count(*) = 1 ORDER BY l.sku LIMIT 100").fetchall())
    fridge = {label for section in job.config.coldchain.sections for label in section.labels}
    rows = [r for r in rows if r[1] not in fridge][:40]
    right = sum(locating.truth[label].spot == _place(job, label) for _, label in rows)
    ctx.say(f"{located}/{total} labels located; of {len(rows)} sampled products, {right} are on the bay where the simulator put them")
    where = (await ctx.request("locate", {"sku": rows[0][0]}))["result"]
    ctx.say(f"HQ → locate {rows[0][0]}: {_where(where['position'])} (confidence {where['confidence']:g} of 1)")
    plan = [{"sku": sku, **locating.truth[label].spot.as_dict()} for sku, label in rows]
    endcap = next(s.id for s in shelves if s.kind == "endcap" and all(p.get("endcap") != s.id for p in plan))
    wrong_sku, wrong_label = rows[1]
    plan[1] = {"sku": wrong_sku, "endcap": endcap}  # headquarters planned this product for a promotion endcap
    reply = (await ctx.request("planogram.set", {"items": plan}))["result"]
    summary = (await ctx.request("planogram.compliance", {"limit": 3}))["result"]
    found = ", ".join(f"{n} {kind.replace('_', ' ')}" for kind, n in summary["by_kind"].items() if n) or "none"
    ctx.say(f"HQ → planogram.set: where {reply['planned']} products belong (one of them planned for a promotion endcap);"
            f" {summary['compliant']}/{summary['planned']} are where planned; deviations: {found}")
    locating.move(wrong_label, Place(endcap=endcap, level=2))
    ctx.say(f"staff move {wrong_sku}'s label to endcap {endcap}")
    await ctx.wait(lambda _: [e for e in ctx.hq.events("planogram.deviation")
                              if e["data"]["sku"] == wrong_sku and e["data"]["state"] == "cleared"], timeout=30)
    summary = (await ctx.request("planogram.compliance", {}))["result"]
    ctx.say(f"the store sees the label arrive: planogram.deviation cleared for {wrong_sku};"
            f" {summary['compliant']}/{summary['planned']} are where planned")
    skus = [sku for sku, _ in rows]
    orders = {f"WEB-20{n:02d}": skus[2 + n * 6: 2 + n * 6 + 6] for n in range(3)}
    for order_id, items in orders.items():
        await ctx.request("pick.start", {"order_id": order_id, "items": [{"sku": s} for s in items]})
    batch = (await ctx.request("pick.route", {"order_ids": list(orders)}))["result"]
    stops = [s for s in batch["route"] if s["located"]]
    how = "the shortest possible" if batch["exact"] else "the shortest the planner found"
    unlocated = "every product located" if not batch["unlocated"] else f"{batch['unlocated']} products not located"
    ctx.say(f"HQ → pick.route for {len(orders)} orders: one walk of {len(stops)} stops, {batch['total_m']} m ({how}), {unlocated}")
    svg = await ctx.app.store.read(lambda db: from_db(db, job.map, batch["route"], f"Pick walk {', '.join(orders)}"))  # type: ignore[arg-type]
    path = ctx.output / "esl" / "store-map.svg"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(svg, encoding="utf-8")
    assert svg.count("<circle") >= len(stops), "every stop is drawn"
    ctx.say(f"map with the walk written to {path}")
    for order_id in orders:
        await ctx.request("pick.cancel", {"order_id": order_id})


async def _quiet_until_idle(job: EslJob, timeout: float = 30) -> None:
    """Wait, without a progress bar, until no push work is queued or in flight."""
    deadline = time.monotonic() + timeout
    await asyncio.sleep(0.3)
    while (push := job.health()["push"])["queued"] or push["in_flight"]:
        if time.monotonic() > deadline:
            raise TimeoutError("the label pushes did not finish in time")
        await asyncio.sleep(0.1)


async def _prices(ctx: DemoContext, skus: list[str]) -> dict[str, Decimal]:
    """The regular price of each of `skus` in the catalogue now."""
    marks = ",".join("?" * len(skus))
    rows = await ctx.app.store.read(lambda db: db.execute(f"SELECT sku, price FROM products WHERE sku IN ({marks})", skus).fetchall())
    return {sku: Decimal(price) for sku, price in rows}


async def _labels_of(ctx: DemoContext, sku: str) -> list[str]:
    """The labels bound to `sku`."""
    return [r[0] for r in await ctx.app.store.read(lambda db: db.execute("SELECT id FROM esl_labels WHERE sku = ? ORDER BY id", (sku,)).fetchall())]


def _refused_rules(result: dict[str, Any]) -> dict[int, dict[str, Any]]:
    """The refused items of a reply by index."""
    return {r["index"]: r for r in result.get("refused", [])}


async def lawful_promotions(ctx: DemoContext) -> None:
    """Prices a store can prove: a promotion's 原价 comes from the price history; unlawful promotions are refused, the rest applied."""
    job = _job(ctx)
    if job is None:
        return
    days = ctx.app.config.prices.lookback_days
    items = catalogue(job.config.demo_store.products, job.config.demo_store.seed)[PRICE_SCENE_FIRST:]
    promoted = next(i["sku"] for i in items if "promo_price" in i)  # on promotion when the store opened, then marked down
    plain = [i["sku"] for i in items if "promo_price" not in i][:2]
    history = (await ctx.request("price.history", {"sku": promoted}))["result"]["intervals"]
    lowest = min(history, key=lambda i: Decimal(i["charged"]))
    now = await _prices(ctx, [promoted, *plain])
    base = Decimal(lowest["charged"])
    offer = (base * Decimal("0.9")).quantize(Decimal("0.01"))
    before = len(ctx.hq.events("label.updated"))
    batch = [
        {"sku": promoted, "price": f"{now[promoted]:.2f}", "promo_price": f"{offer:.2f}"},
        {"sku": plain[0], "price": f"{now[plain[0]]:.2f}", "promo_price": f"{now[plain[0]] * Decimal('0.8'):.2f}",
         "promo_base": f"{now[plain[0]] / Decimal('0.9'):.2f}"},  # the price before the markdown: no longer the lowest
        {"sku": plain[1], "price": f"{now[plain[1]]:.2f}", "promo_price": f"{now[plain[1]]:.2f}"},  # a "promotion" at the regular price
    ]
    result = (await ctx.request("price.update", {"items": batch, "sender": "hq-pricing"}, request_id="demo-promotions"))["result"]
    refused = _refused_rules(result)
    if result["applied"] != 1 or {n: r["rule"] for n, r in refused.items()} != {1: "base_above_history", 2: "no_reduction"}:
        raise DemoCheckFailed(f"the promotion batch was not judged as the rules say: {result}")
    ctx.say(f"HQ → price.update (sender hq-pricing) with three promotions; the store applied {result['applied']} and refused"
            f" {result['refused_count']}, each with its rule and field:")
    product = (await ctx.request("price.history", {"sku": promoted}))["result"]["intervals"][-1]
    if product["promo_base"] != f"{base:.2f}":
        raise DemoCheckFailed(f"{promoted}'s 原价 is {product['promo_base']}, not the lowest price in force, {base:.2f}")
    whence = "its promotion price when the store opened" if lowest["promo_price"] else "its regular price"
    ctx.say(f"  (a) {promoted}: ¥{offer:.2f} instead of ¥{now[promoted]:.2f}; HQ sent no 原价, the store computed it from its price"
            f" history: ¥{base:.2f}, the lowest price in force in the {days} days before ({whence}, not simply today's"
            f" ¥{now[promoted]:.2f}), and its label strikes ¥{base:.2f} through")
    ctx.say(f"  (a) {plain[0]}: HQ states 原价 ¥{batch[1]['promo_base']} (its price before the markdown): refused,"
            f" {refused[1]['rule']}: {refused[1]['message']}")
    ctx.say(f"  (b) {plain[1]}: a \u201cpromotion\u201d at ¥{batch[2]['promo_price']}, its regular price: refused,"
            f" {refused[2]['rule']}: {refused[2]['message']}; the rest of the batch was applied")
    labels = await _labels_of(ctx, promoted)
    shown = await ctx.wait(lambda _: [e["data"] for e in ctx.hq.events("label.updated")[before:]
                                      if e["data"]["sku"] == promoted and e["data"]["promo_price"] == f"{offer:.2f}"], timeout=30)
    picture = ctx.output / "esl" / f"promotion-{promoted}.png"
    picture.parent.mkdir(parents=True, exist_ok=True)
    image = job.fleet.label(labels[0]).displayed_image(0)  # type: ignore[union-attr]
    if image is None:
        raise DemoCheckFailed(f"label {labels[0]} shows nothing")
    image.convert("RGB").save(picture)
    page = (await ctx.request("price.audit.export", {"label": shown[0]["label"], "limit": 500}))["result"]
    audited = list(csv.DictReader(io.StringIO(page["csv"])))[-1]  # the label's newest row: this promotion
    checks = json.loads(audited["checks"])
    if (audited["promo_base"], audited["request_id"], audited["sender"], checks.get("base_above_history")) != (
            f"{base:.2f}", "demo-promotions", "hq-pricing", "passed"):
        raise DemoCheckFailed(f"the audit trail does not show the promotion as sent and judged: {audited}")
    ctx.say(f"label {shown[0]['label']} acknowledged it ({picture}); its audit-trail row: ¥{audited['promo_price']} with 原价"
            f" ¥{audited['promo_base']}, request {audited['request_id']} from {audited['sender']}, {len(checks)} checks passed"
            f" ({', '.join(sorted(checks))})")


async def stale_label_proof(ctx: DemoContext) -> None:
    """Shelf = catalogue: a label left stale is caught by an inspector's price.audit, re-pushed, and the next proof is clean."""
    job = _job(ctx)
    if job is None or job.fleet is None:  # (_job has checked the fleet; this tells the type checker)
        return
    items = catalogue(job.config.demo_store.products, job.config.demo_store.seed)[PRICE_SCENE_FIRST:]
    sku = [i["sku"] for i in items if "promo_price" not in i][2]  # not one the promotion scene used
    label = (await _labels_of(ctx, sku))[0]
    tag = job.fleet.label(label)
    old_image = tag.displayed_bytes(0)
    old_price = (await _prices(ctx, [sku]))[sku]
    new_price = (old_price * Decimal("1.1")).quantize(Decimal("0.01"))
    before = len(ctx.hq.events("label.updated"))
    await ctx.request("price.update", {"items": [{"sku": sku, "price": f"{new_price:.2f}"}], "sender": "hq-pricing"})
    await ctx.wait(lambda _: [e for e in ctx.hq.events("label.updated")[before:] if e["data"]["label"] == label], timeout=30)
    await _quiet_until_idle(job)
    index = tag.shown[0]
    if old_image is None or index is None:
        raise DemoCheckFailed(f"label {label} showed no image")
    old_digest = framebuffer.content_hash(old_image)
    tag.slots[index] = old_image  # the virtual label shows its old price again ...
    await ctx.app.store.write(lambda tx: tx.conn.execute("UPDATE esl_labels SET shown_digest = ? WHERE id = ?", (old_digest, label)))
    ctx.say(f"HQ raises {sku} to ¥{new_price:.2f} and its label {label} shows it; then a simulated fault: the label falls back to"
            f" its old image (¥{old_price:.2f}) and the store's record of what it shows with it, as if the update had never"
            " arrived: no push is pending, the catalogue (and the till) say one price, the shelf another")
    before = len(ctx.hq.events("label.updated"))
    proof = await _proof(ctx, job)
    failures = [f for f in proof["failures"] if f["content"] != "ok" or f["audit"] == "differs"]
    if [(f["label"], f["content"], f["audit"], f["requeued"]) for f in failures] != [(label, "stale", "differs", True)]:
        raise DemoCheckFailed(f"the proof did not catch exactly the stale label {label}: {proof['failures']}")
    ctx.say(f"inspector-7 → price.audit (every bound label): {proof['labels']} labels checked, {proof['ok']} show the catalogue's"
            f" price where the planogram puts them ({proof['counts']['place']['ok']} checked against it), {proof['failing']}"
            f" failing: label {label} ({sku}) is {failures[0]['content']}: {failures[0]['reason']}; its audit trail's last"
            " image differs too; listed and re-pushed")
    expected = failures[0]["expected_digest"]
    await ctx.wait(lambda _: [e for e in ctx.hq.events("label.updated")[before:]
                              if e["data"]["label"] == label and e["data"]["digest"] == expected], timeout=30)
    shown = tag.displayed_bytes(0)
    if shown is None or framebuffer.content_hash(shown) != expected:
        raise DemoCheckFailed(f"label {label} does not display its product's image after the re-push")
    ready = (await ctx.wait(lambda _: [e["data"] for e in ctx.hq.events("report.ready")
                                       if e["data"].get("kind") == "price_proof" and e["data"]["proof"] == proof["proof"]]))[0]
    folder = ctx.output / "esl"
    folder.mkdir(parents=True, exist_ok=True)
    for key in ("html", "csv"):
        shutil.copy(ready[key], folder)
    again = await _proof(ctx, job)
    if again["counts"]["content"]["ok"] != again["labels"] or again["counts"]["audit"]["differs"]:
        raise DemoCheckFailed(f"the second proof is not clean: {again}")
    ctx.say(f"label {label} acknowledges ¥{new_price:.2f} again (label.updated); inspector-7 → price.audit again:"
            f" {again['counts']['content']['ok']}/{again['labels']} labels show the catalogue's price, audit trail head"
            f" #{again['chain']['id']}; the first proof's report: {folder / ready['html'].rsplit('/', 1)[-1]} (and .csv)")


async def _proof(ctx: DemoContext, job: EslJob) -> dict[str, Any]:
    """An on-demand shelf = catalogue proof of every bound label, as an inspector asks for it once no push is under way."""
    await _quiet_until_idle(job)
    reply = await asyncio.to_thread(ctx.hq.request, "price.audit", {"sender": "inspector-7"}, None, PROOF_TIMEOUT_S)
    if not reply["ok"]:
        raise DemoCheckFailed(f"price.audit failed: {reply['error']}")
    return dict(reply["result"])


def _place(job: EslJob, label: str) -> Place | None:
    """Where positioning puts a label (bay or endcap), from memory."""
    return job.locating.placed(label) if job.locating is not None else None


SCENES: list[Scene] = [store_comes_up, price_push, pick_orders, store_map, lawful_promotions, stale_label_proof, fridge_warms,
                       write_outputs]
