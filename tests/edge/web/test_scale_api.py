"""The scale screen's HTTP contract (docs/http-api.md) against a real daemon: simulated scale and printer, folder camera, real model.

No browser: these drive the API as the page does, and the simulated scale through its own
endpoints, and compute every expected amount here, independently of the daemon.
"""

from __future__ import annotations

import asyncio
import json
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from edge.config import parse_config
from edge.demo.hq import Hq
from tests.conftest import wait_online
from tests.edge.scale.conftest import (
    PRODUCE,
    camera_folder,
    dataset_image,
    needs_dataset,
    running,
    until,
)

pytestmark = needs_dataset

TIMEOUT = aiohttp.ClientTimeout(total=20)
FEN = Decimal("0.01")


def api_config(data: Path, broker_url: str, camera: Path | None, *, http: dict[str, Any] | None = None, env: dict[str, str] | None = None,
               scale: dict[str, Any] | None = None, **device: Any) -> Any:
    """One simulated scale (mt-sics, folder camera, simulated printer) with the demo produce, its web server on a free port."""
    return parse_config(
        {"store": {"id": "s1"}, "data": {"dir": str(data)}, "broker": {"url": broker_url}, "http": {"listen": "127.0.0.1:0", **(http or {})},
         "log": {"level": "warning"},
         "scale": {"produce_file": str(PRODUCE), "seed_products": True, **(scale or {}),
                   "scales": [{"id": "sc1", "port": "simulated:mt-sics", **({"camera": f"folder:{camera}"} if camera else {}), **device}]}},
        env=env or {},
    )


class Screen:
    """The API as the touch screen (and a test driving the simulated scale) uses it."""

    def __init__(self, http: aiohttp.ClientSession, base: str, token: str | None = None) -> None:
        self.http, self.base = http, base
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    async def get(self, path: str, **params: Any) -> tuple[int, Any]:
        async with self.http.get(f"{self.base}{path}", params=params) as r:
            return r.status, await r.json()

    async def post(self, path: str, body: Any = None, raw: bytes | None = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        kwargs: dict[str, Any] = {"data": raw} if raw is not None else {"json": body} if body is not None else {}
        async with self.http.post(f"{self.base}{path}", headers={**self.headers, **(headers or {})}, **kwargs) as r:
            return r.status, await r.json()

    async def state(self) -> dict[str, Any]:
        status, snapshot = await self.get("/api/scale/sc1")
        assert status == 200
        return snapshot

    async def until(self, what: str, predicate: Any, timeout: float = 15.0) -> dict[str, Any]:
        """Poll the snapshot until `predicate(snapshot)`, bounded."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            snapshot = await self.state()
            if predicate(snapshot):
                return snapshot
            assert loop.time() < deadline, f"timed out waiting for {what}: {snapshot}"
            await asyncio.sleep(0.05)

    async def place(self, grams: int, image: Path | None = None) -> dict[str, Any]:
        """Put an item (and its photo) on the simulated scale and wait for the screen to offer it."""
        status, snapshot = await self.post("/api/sim/scale/sc1/place", {"grams": grams, **({"image": str(image)} if image else {})})
        assert status == 200 and snapshot["scale_id"] == "sc1", snapshot
        return await self.until("an offer", lambda s: s["state"] in ("choose", "unrecognised") and s["offered_grams"] == grams)

    async def remove(self) -> dict[str, Any]:
        status, snapshot = await self.post("/api/sim/scale/sc1/remove")
        assert status == 200, snapshot
        return await self.until("an empty platter", lambda s: s["state"] == "place_item" and s["phase"] == "empty")

    async def confirm(self, **body: Any) -> tuple[int, Any]:
        return await self.post("/api/scale/sc1/confirm", body)


def price_in(row: dict[str, Any], unit: str) -> Decimal:
    """A catalogue price re-expressed per `unit`, computed here (not by the daemon)."""
    price = Decimal(row["price"])
    if row["unit"] == unit or unit == "piece":
        return price
    return price * 2 if unit == "kg" else price / 2


def amount(price: Decimal, grams: int, unit: str) -> str:
    """unit price × net grams ÷ the unit's grams, rounded once half-up to the fen."""
    return f"{(price * grams / (1000 if unit == 'kg' else 500)).quantize(FEN, ROUND_HALF_UP):.2f}"


def _insert(tx: Any, **row: Any) -> None:
    """A catalogue row written as product.upsert would, with a new revision."""
    revision = tx.conn.execute("SELECT coalesce(max(revision), 0) + 1 FROM products").fetchone()[0]
    tx.db["products"].upsert({"tare_g": 0, **row, "revision": revision}, pk="sku")
    tx.notify("catalog")


async def test_a_weighing_by_weight_and_by_piece_with_the_money_computed_by_the_daemon(tmp_path: Path, broker: Any) -> None:
    folder = await asyncio.to_thread(camera_folder, tmp_path / "cam", [dataset_image("Banana", 3)])
    banana, juice = dataset_image("Banana", 3), dataset_image("Tropicana-Juice-Smooth", 0)
    async with running(api_config(tmp_path / "data", broker.url, folder, scale={"display_unit": "500g"})) as app, \
            aiohttp.ClientSession(timeout=TIMEOUT) as http:
        job = app.jobs[0]
        screen = Screen(http, f"http://127.0.0.1:{app.web.port}")
        empty = await screen.state()
        assert (empty["state"], empty["code"], empty["phase"]) == ("place_item", "place_item", "empty")
        assert empty["devices"] == {"daemon": "ok", "scale": "ok", "camera": "ok", "printer": "ok", "recognition": "ok"}
        assert empty["display_unit"] == "500g" and empty["out_of_service"] is False and empty["candidates"] == []

        shown = await screen.place(1235, banana)
        assert shown["state"] == "choose" and 0 < shown["window_left_s"] <= 30 and shown["confirm_timeout_s"] == 30
        row = job.products["P-BANANA"]
        per_500g = price_in(row, "500g")  # 6.98 / kg -> 3.49 / 500 g
        tiles = {c["sku"]: c for c in shown["candidates"]}
        assert "P-BANANA" in tiles, shown["candidates"]
        tile = tiles["P-BANANA"]
        assert (tile["price"], tile["unit"], tile["sale_mode"], tile["category"]) == (f"{per_500g:.2f}", "500g", "weight", "fruit")
        assert tile["total"] == amount(per_500g, 1235, "500g") == amount(Decimal(row["price"]), 1235, "kg")
        assert all(c["sale_mode"] == "weight" for c in shown["candidates"])  # loose produce on the scale: no packaged tiles
        assert {c["sku"] for c in shown["candidates"]} <= set(job.produce.skus.values())

        status, quote = await screen.get("/api/scale/sc1/quote", sku="P-BANANA")
        assert status == 200 and (quote["grams"], quote["amount"]) == (1235, tile["total"])
        status, sale = await screen.confirm(rank=tile["rank"], weighing=shown["weighing"])
        assert status == 200, sale
        assert (sale["unit_price"], sale["unit"], sale["amount"], sale["grams"]) == (f"{per_500g:.2f}", "500g", tile["total"], 1235)
        assert sale["name_en"] == "Banana" and sale["suspicion"] == "none" and sale["offered"] is True and sale["top1"] == "P-BANANA"
        printed = await screen.until("the printed screen", lambda s: s["state"] == "printed")
        assert printed["printed"] == {k: sale[k] for k in ("sku", "name", "name_en", "sale_mode", "grams", "pieces", "unit_price", "unit", "amount", "barcode")}
        pages = await asyncio.to_thread(app.jobs[0].stations["sc1"].devices.printer_sim.wait_pages, 1, 10)
        assert pages[0].image is not None
        await screen.remove()

        # a by-piece product: the count decides, 2 × the unit price, quoted and printed by the same code
        await screen.place(1050, juice)
        status, refused = await screen.confirm(sku="P-TROPICANA-JUICE-SMOOTH")
        assert (status, refused["code"]) == (409, "count_needed")
        status, quote = await screen.get("/api/scale/sc1/quote", sku="P-TROPICANA-JUICE-SMOOTH", pieces="2")
        two = f"{Decimal(job.products['P-TROPICANA-JUICE-SMOOTH']['price']) * 2:.2f}"
        assert status == 200 and (quote["pieces"], quote["grams"], quote["amount"], quote["unit"]) == (2, None, two, "piece")
        status, sale = await screen.confirm(sku="P-TROPICANA-JUICE-SMOOTH", pieces=2, confirmed=False)
        if status == 409 and sale["code"] == "needs_confirmation":  # not among the tiles: asked once, then sold
            status, sale = await screen.confirm(sku="P-TROPICANA-JUICE-SMOOTH", pieces=2, confirmed=True)
        assert status == 200 and (sale["pieces"], sale["amount"], sale["unit_price"]) == (2, two, job.products["P-TROPICANA-JUICE-SMOOTH"]["price"])


async def test_search_is_per_field_ranked_and_only_the_scale_catalogue(tmp_path: Path, broker: Any) -> None:
    async with running(api_config(tmp_path / "data", broker.url, None), gallery=False) as app, aiohttp.ClientSession(timeout=TIMEOUT) as http:
        screen = Screen(http, f"http://127.0.0.1:{app.web.port}")
        await app.store.write(lambda tx: _insert(tx, sku="DEMO00009", name="土豆", name_en="Potato", price="2.20", unit="500g", sale_mode="weight", plu="00009"))
        await app.store.write(lambda tx: _insert(tx, sku="DEMO00030", name="蓝月亮洗衣液", name_en="Laundry Detergent", price="45.00", unit="piece", sale_mode="piece"))
        await until(lambda: "DEMO00030" in app.jobs[0].products, 5, "catalogue refresh")

        async def skus(**params: str) -> list[str]:
            status, found = await screen.get("/api/scale/sc1/search", **params)
            assert status == 200, found
            return [p["sku"] for p in found["products"]]

        assert (await skus(q="xj"))[0] == "P-BANANA"  # initials, exact
        assert (await skus(q="xiangjiao"))[0] == "P-BANANA"  # full pinyin
        assert (await skus(q="香蕉")) == ["P-BANANA"]  # the shelf's 香蕉 (if any) is not a scale product
        assert (await skus(q="banana")) == ["P-BANANA"]
        assert (await skus(q="10007")) == ["P-BANANA"]
        potatoes = await skus(q="potato")  # a word of the English name: Floury / Solid / Sweet Potato
        assert set(potatoes) == {"P-FLOURY-POTATO", "P-SOLID-POTATO", "P-SWEET-POTATO"}  # not the shelf's Potato
        assert (await skus(q="sweet potato")) == ["P-SWEET-POTATO"] and (await skus(q="sweetpotato")) == ["P-SWEET-POTATO"]
        assert (await skus(q="hongshu"))[0] == "P-SWEET-POTATO"  # 红薯, exact pinyin before the ones that only contain it
        assert await skus(q="laundry") == [] and set(await skus(q="td")) == {"P-FLOURY-POTATO", "P-SOLID-POTATO"}  # 土豆, not 洗衣液
        assert await skus(q="a10007") == [] and await skus(q="jiaoxj") == []  # never across fields (English+PLU, pinyin+initials)
        _, found = await screen.get("/api/scale/sc1/search", q="x", limit="5")  # the letter pad's first key
        assert len(found["products"]) == 5 and found["total"] > 5 and found["products"][0]["match"] == "initials"
        assert (await skus(q="x"))[:3] == ["P-BANANA", "P-WATERMELON", "P-ZUCCHINI"]  # 香蕉 西瓜 西葫芦: initials starting with x, pinyin order
        fruit = await skus(category="fruit", limit="60")
        assert "P-BANANA" in fruit and "P-CARROTS" not in fruit and await skus(q="hlb", category="fruit") == []
        assert (await skus(q="hlb", category="vegetables"))[0] == "P-CARROTS"  # 胡萝卜
        _, cats = await screen.get("/api/scale/sc1/categories")
        assert [c["category"] for c in cats["categories"]] == ["fruit", "vegetables", "packaged"]
        assert sum(c["products"] for c in cats["categories"]) == 81
        for params in ({"q": "x" * 65}, {"category": "toys"}, {"limit": "0"}, {"limit": "+5"}, {"nope": "1"}):
            status, body = await screen.get("/api/scale/sc1/search", **params)
            assert (status, body["code"]) == (400, "invalid_argument"), params


async def test_every_refusal_has_a_code_and_its_status(tmp_path: Path, broker: Any) -> None:
    folder = await asyncio.to_thread(camera_folder, tmp_path / "cam", [dataset_image("Banana", 3)])
    scale = {"products": ["P-FREEBIE"], "confirm_timeout_s": 30}
    async with running(api_config(tmp_path / "data", broker.url, folder, scale=scale)) as app, aiohttp.ClientSession(timeout=TIMEOUT) as http:
        job, station = app.jobs[0], app.jobs[0].stations["sc1"]
        screen = Screen(http, f"http://127.0.0.1:{app.web.port}")
        await app.store.write(lambda tx: _insert(tx, sku="P-FREEBIE", name="赠品", price="0.00", unit="kg", sale_mode="weight", plu="10999"))
        await app.store.write(lambda tx: _insert(tx, sku="DEMO00009", name="土豆", name_en="Potato", price="2.20", unit="500g", sale_mode="weight", plu="00009"))
        await until(lambda: job.products.sold("P-FREEBIE") and "DEMO00009" in job.products, 5, "catalogue refresh")

        async def refused(code: str, status: int = 409, **body: Any) -> dict[str, Any]:
            got, reply = await screen.confirm(**body)
            assert (got, reply["code"]) == (status, code), reply
            assert reply["error"]  # staff English, never shown to a customer
            return reply

        await refused("not_ready", sku="P-BANANA")  # nothing on the platter
        await refused("not_found", 404, sku="P-NOPE")
        shown = await screen.place(1235)
        await refused("not_sold_at_scale", sku="DEMO00009")  # shelf-only: refused by the daemon, not only hidden
        await refused("no_price", sku="P-FREEBIE")
        await refused("not_by_piece", sku="P-BANANA", pieces=2)
        await refused("count_needed", sku="P-TROPICANA-JUICE-SMOOTH")
        await refused("stale_choice", rank=99)
        await refused("stale_choice", rank=1, weighing=shown["weighing"] + 1)
        for body in (b"not json", b'{"rank": true}', b'{"sku": "P-BANANA", "pieces": 0}', b'{"sku": "P-BANANA", "extra": 1}',
                     b'{"rank": 1, "confirmed": "yes"}', b'{"rank": 1, "weighing": -1}'):
            got, reply = await screen.post("/api/scale/sc1/confirm", raw=body, headers={"Content-Type": "application/json"})
            assert (got, reply["code"]) == (400, "invalid_argument"), body
        got, reply = await screen.post("/api/scale/sc1/confirm", {"rank": 1}, headers={"Sec-Fetch-Site": "cross-site"})
        assert (got, reply["code"]) == (403, "forbidden")

        # a total beyond the barcode's amount field (999.99 in the `price` layout)
        await app.store.write(lambda tx: _insert(tx, **{**job.products["P-BANANA"], "price": "999.00"}))
        await until(lambda: job.products["P-BANANA"]["price"] == "999.00", 5, "catalogue refresh")
        await refused("amount_too_large", sku="P-BANANA", confirmed=True)
        # too light once the product's container tare is off: 1235 g gross, 1200 g tare
        await app.store.write(lambda tx: _insert(tx, **{**job.products["P-BANANA"], "price": "6.98", "tare_g": 1200}))
        await until(lambda: job.products["P-BANANA"]["tare_g"] == 1200, 5, "catalogue refresh")
        await refused("below_minimum", sku="P-BANANA", confirmed=True)
        # the scale refuses the preset tare (beyond what it can hold now)
        await app.store.write(lambda tx: _insert(tx, **{**job.products["P-BANANA"], "tare_g": 1000}))
        await until(lambda: job.products["P-BANANA"]["tare_g"] == 1000, 5, "catalogue refresh")
        station.devices.scale_sim.model.capacity_g = 900
        await refused("tare_refused", 503, sku="P-BANANA", confirmed=True)
        station.devices.scale_sim.model.capacity_g = 15_000
        await app.store.write(lambda tx: _insert(tx, **{**job.products["P-BANANA"], "tare_g": 0}))
        await until(lambda: job.products["P-BANANA"]["tare_g"] == 0, 5, "catalogue refresh")

        # the weight changes under the tap: refused, and the new load is recognised and offered by itself
        station.devices.scale_sim.model.replace(1400)
        await refused("weight_changed", sku="P-BANANA", confirmed=True)
        again = await screen.until("the new load offered", lambda s: s["state"] == "choose" and s["offered_grams"] == 1400)
        assert again["weighing"] > shown["weighing"] and again["code"] == "choose" and again["candidates"]

        # cancel, then start again
        got, cancelled = await screen.post("/api/scale/sc1/cancel", {"weighing": again["weighing"]})
        assert got == 200 and (cancelled["state"], cancelled["code"], cancelled["candidates"]) == ("cancelled", "cancelled", [])
        await refused("cancelled", rank=1)
        got, reply = await screen.post("/api/scale/sc1/restart", {"weighing": again["weighing"] + 5})
        assert (got, reply["code"]) == (409, "stale_choice")
        got, restarted = await screen.post("/api/scale/sc1/restart")
        assert got == 200 and restarted["weighing"] == again["weighing"] + 1
        offer = await screen.until("offered again", lambda s: s["state"] == "choose")

        # while a tap is being served (held here as a tap holds it) the weighing is frozen: the screen says printing
        async with station._lock:
            assert (await screen.state())["state"] == "printing"
            got, reply = await screen.post("/api/scale/sc1/cancel")
            assert (got, reply["code"]) == (409, "printing")
        got, sale = await screen.confirm(rank=1, weighing=offer["weighing"], confirmed=True)
        assert got == 200, sale
        await refused("already_labelled", rank=1)
        got, reply = await screen.post("/api/scale/sc1/restart")
        assert (got, reply["code"]) == (409, "already_labelled")
        await screen.remove()
        got, reply = await screen.post("/api/scale/sc1/cancel")
        assert (got, reply["code"]) == (409, "not_ready")

        # the scale falls silent: out of service within 3 s, taps refused with its code, back by itself
        await screen.place(800)
        station.devices.scale_sim.silent = True
        down = await screen.until("out of service", lambda s: s["state"] == "out_of_service", 3.0)
        assert down["code"] == "scale_unavailable" and down["devices"]["scale"] == "unavailable" and down["out_of_service"]
        await refused("scale_unavailable", 503, rank=1)
        _, status = await screen.get("/api/status")
        assert status["components"]["scale"]["detail"]["scales"]["sc1"]["code"] == "scale_unavailable"
        station.devices.scale_sim.silent = False
        await screen.until("back in service", lambda s: s["state"] != "out_of_service", 10.0)


async def test_the_printer_and_the_camera_going_away_are_shown_and_recovered(tmp_path: Path, broker: Any) -> None:
    folder = await asyncio.to_thread(camera_folder, tmp_path / "cam", [dataset_image("Banana", 3)])
    async with running(api_config(tmp_path / "data", broker.url, folder)) as app, aiohttp.ClientSession(timeout=TIMEOUT) as http:
        station = app.jobs[0].stations["sc1"]
        screen = Screen(http, f"http://127.0.0.1:{app.web.port}")
        await screen.place(1235)
        printer = station.devices.printer_sim
        path = Path(printer.path)
        await asyncio.to_thread(printer.stop)
        got, reply = await screen.confirm(rank=1, confirmed=True)
        assert (got, reply["code"]) == (503, "printer_unavailable")
        down = await screen.until("out of service", lambda s: s["state"] == "out_of_service", 3.0)
        assert down["code"] == "printer_unavailable" and down["devices"]["printer"] == "unavailable"
        got, reply = await screen.confirm(rank=1, confirmed=True)
        assert (got, reply["code"]) == (503, "printer_unavailable")

        from devices.printer.simulator import PrinterSimulator

        path.parent.mkdir(parents=True, exist_ok=True)
        station.devices.printer_sim = await asyncio.to_thread(lambda: PrinterSimulator(path).start())
        try:
            back = await screen.until("the printer back", lambda s: s["state"] == "choose", 6.0)
            got, sale = await screen.confirm(rank=1, weighing=back["weighing"], confirmed=True)
            assert got == 200, sale
            await screen.remove()

            # the camera's picture vanishes: the camera is unavailable, the screen says so; a photo placed brings it back
            for image in folder.iterdir():
                image.unlink()
            down = await screen.until("camera out", lambda s: s["state"] == "out_of_service", 5.0)
            assert down["code"] == "camera_unavailable" and down["devices"]["camera"] == "unavailable"
            back = await screen.place(655, dataset_image("Granny-Smith", 1))
            assert back["devices"]["camera"] == "ok" and back["state"] in ("choose", "unrecognised")
        finally:
            await asyncio.to_thread(station.devices.printer_sim.stop)


async def test_timeout_is_a_state_with_a_retry(tmp_path: Path, broker: Any) -> None:
    folder = await asyncio.to_thread(camera_folder, tmp_path / "cam", [dataset_image("Banana", 3)])
    async with running(api_config(tmp_path / "data", broker.url, folder, scale={"confirm_timeout_s": 1.5})) as app, \
            aiohttp.ClientSession(timeout=TIMEOUT) as http:
        screen = Screen(http, f"http://127.0.0.1:{app.web.port}")
        shown = await screen.place(1235)
        assert shown["window_left_s"] in (1, 2)
        expired = await screen.until("expired", lambda s: s["state"] == "expired", 5.0)
        assert expired["code"] == "expired" and expired["window_left_s"] is None and expired["stable"] is True
        got, reply = await screen.confirm(rank=1)
        assert (got, reply["code"]) == (409, "expired")
        got, restarted = await screen.post("/api/scale/sc1/restart", {})
        assert got == 200 and restarted["weighing"] == shown["weighing"] + 1
        again = await screen.until("offered again", lambda s: s["state"] == "choose")
        assert again["window_left_s"] in (1, 2) and again["candidates"]
        got, sale = await screen.confirm(rank=1, weighing=again["weighing"])
        assert got == 200, sale


async def test_suspicious_choices_are_asked_once_and_reported_to_hq(tmp_path: Path, broker: Any, hq_factory: Any) -> None:
    folder = await asyncio.to_thread(camera_folder, tmp_path / "cam", [dataset_image("Banana", 3)])
    hq: Hq = hq_factory(broker.port)
    avocado = dataset_image("Avocado", 0)
    async with running(api_config(tmp_path / "data", broker.url, folder)) as app, aiohttp.ClientSession(timeout=TIMEOUT) as http:
        await asyncio.to_thread(wait_online, hq)
        job = app.jobs[0]
        screen = Screen(http, f"http://127.0.0.1:{app.web.port}")
        shown = await screen.place(1235, avocado)
        top1 = shown["candidates"][0]
        assert top1["sku"] == "P-AVOCADO", shown["candidates"]
        offered = {c["sku"] for c in shown["candidates"]}
        # 西瓜 (3.98 / kg) is not offered for an avocado (39.80 / kg) and far cheaper: asked once
        assert "P-WATERMELON" not in offered
        got, asked = await screen.confirm(sku="P-WATERMELON")
        assert (got, asked["code"], asked["suspicion"]) == (409, "needs_confirmation", "both")
        assert asked["recognised"]["sku"] == "P-AVOCADO" and asked["chosen"]["sku"] == "P-WATERMELON"
        assert asked["chosen"]["amount"] == amount(Decimal(job.products["P-WATERMELON"]["price"]), 1235, "kg")
        got, sale = await screen.confirm(sku="P-WATERMELON", confirmed=True)
        assert got == 200 and sale["suspicion"] == "both" and sale["learned"] is False and "suspicious" in sale["learning"]
        await screen.remove()

        # offered, but much cheaper than the top candidate: asked too; confirmed=true alone does not skip the question
        shown = await screen.place(1240, avocado)
        cheap = next(c for c in shown["candidates"][1:] if Decimal(c["price"]) < Decimal(top1["price"]) * Decimal("0.8"))
        got, asked = await screen.confirm(rank=cheap["rank"], confirmed=True)
        assert (got, asked["code"], asked["suspicion"]) == (409, "needs_confirmation", "cheaper_than_top1")
        got, sale = await screen.confirm(rank=cheap["rank"], confirmed=True)
        assert got == 200 and sale["suspicion"] == "cheaper_than_top1" and sale["offered"] is True and sale["rank"] == cheap["rank"]
        await screen.remove()

        # the top candidate: nothing to ask
        shown = await screen.place(1230, avocado)
        got, sale = await screen.confirm(rank=1)
        assert got == 200 and sale["suspicion"] == "none" and sale["offered"] is True and sale["top1"] == "P-AVOCADO"

        events = await asyncio.to_thread(hq.wait, lambda _: len(hq.events("weighing")) >= 3 and hq.events("weighing"), 15)
        data = [e["data"] for e in events]
        assert (data[0]["sku"], data[0]["rank"], data[0]["offered"], data[0]["top1"], data[0]["suspicion"]) == (
            "P-WATERMELON", None, False, "P-AVOCADO", "both")
        assert data[0]["learned"] is False
        assert data[-1]["suspicion"] == "none" and data[-1]["rank"] == 1 and data[-1]["top1"] == "P-AVOCADO"


async def test_simulator_endpoints_are_bounded_validated_and_behind_the_token(tmp_path: Path, broker: Any) -> None:
    folder = await asyncio.to_thread(camera_folder, tmp_path / "cam", [dataset_image("Banana", 3)])
    token = tmp_path / "http.token"
    token.write_text("t0ken\n")
    not_image = tmp_path / "notes.txt"
    not_image.write_text("not a photo")
    big = tmp_path / "big.jpg"
    big.write_bytes(b"\xff\xd8" + bytes(4 * 1024 * 1024))
    fifo = tmp_path / "pipe.jpg"
    await asyncio.to_thread(lambda: __import__("os").mkfifo(fifo))
    config = api_config(tmp_path / "data", broker.url, folder, http={"token_file": str(token)})
    async with running(config) as app, aiohttp.ClientSession(timeout=TIMEOUT) as http:
        base = f"http://127.0.0.1:{app.web.port}"
        anonymous, staff = Screen(http, base), Screen(http, base, "t0ken")
        got, reply = await anonymous.post("/api/sim/scale/sc1/place", {"grams": 500})
        assert (got, reply["code"]) == (401, "unauthorized")
        got, reply = await anonymous.post("/api/sim/scale/sc1/remove")
        assert (got, reply["code"]) == (401, "unauthorized")
        assert (await anonymous.get("/api/scale/sc1"))[0] == 200  # the screen itself stays public

        bad = [
            {"grams": 0}, {"grams": 15_001}, {"grams": "500"}, {"grams": True}, {"image": "/x.jpg"}, {"grams": 500, "extra": 1},
            {"grams": 500, "image": ""}, {"grams": 500, "image": str(not_image)}, {"grams": 500, "image": str(tmp_path / "missing.jpg")},
            {"grams": 500, "image": str(tmp_path)}, {"grams": 500, "image": str(big)}, {"grams": 500, "image": str(fifo)},
            {"grams": 500, "image": "x" * 5000}, [500],
        ]
        for body in bad:
            got, reply = await staff.post("/api/sim/scale/sc1/place", body)
            assert (got, reply["code"]) == (400, "invalid_argument"), (body, reply)
            assert reply["error"]
        got, reply = await staff.post("/api/sim/scale/sc1/place", raw=b"{not json", headers={"Content-Type": "application/json"})
        assert (got, reply["code"]) == (400, "invalid_argument")
        got, reply = await staff.post("/api/sim/scale/sc1/place", raw=json.dumps({"grams": 1, "image": "x" * 70_000}).encode(),
                                      headers={"Content-Type": "application/json"})
        assert (got, reply["code"]) == (413, "invalid_argument")
        got, reply = await staff.post("/api/sim/scale/sc1/remove", {"grams": 1})
        assert (got, reply["code"]) == (400, "invalid_argument")
        got, reply = await staff.post("/api/sim/scale/nope/place", {"grams": 500})
        assert (got, reply["code"]) == (404, "not_found")
        got, reply = await staff.post("/api/sim/scale/sc1/place", {"grams": 500}, headers={"Origin": "http://evil.example"})
        assert (got, reply["code"]) == (403, "forbidden")

        # the photo is shown from now on, the weight settles, the screen offers it
        got, snapshot = await staff.post("/api/sim/scale/sc1/place", {"grams": 655, "image": str(dataset_image("Granny-Smith", 1))})
        assert got == 200 and snapshot["scale_id"] == "sc1" and snapshot["state"] in ("weighing", "place_item", "choose", "recognising")
        offer = await staff.until("the apple", lambda s: s["state"] == "choose" and s["offered_grams"] == 655)
        assert offer["candidates"][0]["sku"] == "P-GRANNY-SMITH"
        # a different weight replaces the load: a new weighing, recognised again (the camera keeps its photo)
        got, _ = await staff.post("/api/sim/scale/sc1/place", {"grams": 980})
        again = await staff.until("the new weight", lambda s: s["state"] == "choose" and s["offered_grams"] == 980)
        assert again["weighing"] == offer["weighing"] + 1 and again["candidates"][0]["sku"] == "P-GRANNY-SMITH"
        got, _ = await staff.post("/api/sim/scale/sc1/remove", {})
        assert got == 200
        await staff.until("empty", lambda s: s["phase"] == "empty")


async def test_no_simulator_endpoints_for_real_devices(tmp_path: Path, broker: Any) -> None:
    from devices.scale.simulator import MtSicsSimulator, ScaleModel

    sim = await asyncio.to_thread(lambda: MtSicsSimulator(ScaleModel(settle_s=0.2)).start())
    try:
        config = api_config(tmp_path / "data", broker.url, None, port=sim.path)  # a real serial port, as far as the daemon knows
        async with running(config, gallery=False) as app, aiohttp.ClientSession(timeout=TIMEOUT) as http:
            screen = Screen(http, f"http://127.0.0.1:{app.web.port}")
            for path in ("/api/sim/scale/sc1/place", "/api/sim/scale/sc1/remove"):
                got, reply = await screen.post(path, {"grams": 500} if path.endswith("place") else None)
                assert (got, reply["code"]) == (404, "not_found"), path
            assert (await screen.state())["devices"]["camera"] == "none"
    finally:
        await asyncio.to_thread(sim.stop)


async def test_the_listen_address_comes_from_the_environment(tmp_path: Path, broker: Any) -> None:
    config = api_config(tmp_path / "data", broker.url, None, http={"listen": "127.0.0.1:9"}, env={"STORE_EDGE_HTTP_LISTEN": "127.0.0.1:0"})
    assert config.http.listen == "127.0.0.1:0"
    with pytest.raises(Exception, match="HOST:PORT"):
        api_config(tmp_path / "data", broker.url, None, env={"STORE_EDGE_HTTP_LISTEN": "nowhere"})
    async with running(config, gallery=False) as app, aiohttp.ClientSession(timeout=TIMEOUT) as http:
        assert app.web is not None and app.web.port not in (0, 9)
        async with http.get(f"http://127.0.0.1:{app.web.port}/scale/sc1") as r:
            assert r.status == 200 and "text/html" in r.content_type
