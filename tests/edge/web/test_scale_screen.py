"""The scale's touch screen in a real browser: whole weighings by weight and by piece, driven through the simulator endpoints.

The daemon runs in-process with a simulated MT-SICS scale, a folder camera, the real produce model and
the simulated printer; weighings are placed with `POST /api/sim/scale/<id>/place` as staff and demos do.
Every expected total is computed here from the produce file's price and the weight (Decimal, rounded
once half-up to the fen, as docs/http-api.md says), never read from the page, and checked on the
screen and in the barcode of the label that came out of the printer. The helpers here are shared by
the other test_scale_screen_*.py files.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from edge.app import App
from edge.config import parse_config
from edge.scale.errors import STATUS
from tests.edge.scale.conftest import DATASET, PRODUCE, ROOT, camera_folder, dataset_image, needs_dataset, running

zxingcpp = pytest.importorskip("zxingcpp")

TIMEOUT_MS = 15_000
SCALE = "sc1"
FEN = Decimal("0.01")
BASIS_GRAMS = {"kg": Decimal(1000), "500g": Decimal(500)}
CATALOGUE = {p["sku"]: p for p in json.loads(PRODUCE.read_text(encoding="utf-8"))["products"]}
PHOTOS = {"banana": ("Banana", 3), "juice": ("Tropicana-Juice-Smooth", 0), "lemon": ("Lemon", 0)}


def expected_total(sku: str, grams: int | None = None, pieces: int | None = None) -> Decimal:
    """The label's total worked out here: the produce file's price × net weight ÷ its basis (or × pieces), rounded once, half-up."""
    row = CATALOGUE[sku]
    price = Decimal(row["price"])
    if pieces is not None:
        raw = price * pieces
    else:
        assert grams is not None
        raw = price * Decimal(grams - int(row.get("tare_g") or 0)) / BASIS_GRAMS[row["unit"]]
    return raw.quantize(FEN, rounding=ROUND_HALF_UP)


def web_scale_config(data: Path, broker_url: str, camera: Path | None, listen: str = "127.0.0.1:0", **scale: Any) -> Any:
    """One simulated scale with the demo produce and its pictures, the web server on `listen`, no token (the screen is public)."""
    return parse_config(
        {"store": {"id": "s1"}, "data": {"dir": str(data)}, "broker": {"url": broker_url}, "http": {"listen": listen},
         "log": {"level": "warning"},
         "scale": {"produce_file": str(PRODUCE), "seed_products": True, "demo_images": str(DATASET),
                   "scales": [{"id": SCALE, "port": "simulated:mt-sics", **({"camera": f"folder:{camera}"} if camera else {})}], **scale}},
        env={},
    )


@dataclass
class Kiosk:
    """The daemon, the page at /scale/sc1 and the staff's simulator controls, as one customer meets them."""

    app: App
    page: Any
    http: aiohttp.ClientSession
    photos: dict[str, Path]
    errors: list[str] = field(default_factory=list)

    @property
    def base(self) -> str:
        """The daemon's web address."""
        assert self.app.web is not None
        return f"http://127.0.0.1:{self.app.web.port}"

    @property
    def station(self) -> Any:
        """The scale's station (for its simulated printer)."""
        return self.app.jobs[0].stations[SCALE]

    async def place(self, grams: int, photo: str | Path | None = None) -> dict[str, Any]:
        """`POST /api/sim/scale/sc1/place`: one item of `grams` (and its photo) on the platter."""
        body: dict[str, Any] = {"grams": grams}
        if photo is not None:
            body["image"] = str(self.photos[photo] if isinstance(photo, str) else photo)
        async with self.http.post(f"{self.base}/api/sim/scale/{SCALE}/place", json=body) as r:
            assert r.status == 200, await r.text()
            return await r.json()

    async def remove(self) -> None:
        """`POST /api/sim/scale/sc1/remove`: the platter emptied."""
        async with self.http.post(f"{self.base}/api/sim/scale/{SCALE}/remove") as r:
            assert r.status == 200, await r.text()

    async def snapshot(self) -> dict[str, Any]:
        """`GET /api/scale/sc1`, as the screen reads it."""
        async with self.http.get(f"{self.base}/api/scale/{SCALE}") as r:
            assert r.status == 200
            return await r.json()

    async def showing(self, state: str, after: int | None = None) -> int:
        """Wait until the page shows `state` (for a weighing after `after`); the weighing it shows."""
        await self.page.wait_for_function(
            "([state, after]) => document.body.dataset.state === state && (after === null || Number(document.body.dataset.weighing) > after)",
            arg=[state, after],
        )
        return int(await self.page.get_attribute("body", "data-weighing") or 0)

    async def offered(self, grams: int, after: int | None = None) -> int:
        """Wait for the tiles of a load of `grams` (a weighing after `after`); its number."""
        while True:
            weighing = await self.showing("choose", after)
            snap = await self.snapshot()
            if snap["offered_grams"] == grams and snap["weighing"] == weighing:
                await self.page.wait_for_selector("#tiles .tile")
                return weighing
            await asyncio.sleep(0.05)

    async def prompt(self) -> str:
        """The prompt line's text."""
        return await self.page.inner_text("#prompt")

    async def tap(self, selector: str) -> None:
        """One finger on an element."""
        await self.page.click(selector)

    async def type_letters(self, letters: str) -> None:
        """Letters on the on-screen pad, one tap each."""
        for letter in letters:
            await self.page.click(f"#keys [data-k='{letter}']")

    async def labels(self, count: int) -> list[Any]:
        """Wait until `count` labels have come out of the simulated printer."""
        return await asyncio.to_thread(self.station.devices.printer_sim.wait_pages, count, 10)

    async def barcode(self, index: int) -> str:
        """The barcode printed on label `index` (0-based), read from its picture."""
        pages = await self.labels(index + 1)
        found = await asyncio.to_thread(lambda: [r.text for r in zxingcpp.read_barcodes(pages[index].image.convert("L"))])
        assert len(found) == 1, found
        return found[0]

    async def check_label(self, index: int, total: Decimal) -> None:
        """Label `index` carries `total` in its barcode's amount field (layout `price`: PP IIIII $$$$$ C), and the page said this barcode."""
        code = await self.barcode(index)
        assert code == await self.page.get_attribute("body", "data-barcode")
        assert int(code[7:12]) == int(total / FEN), (code, total)

    def printed(self) -> int:
        """Labels printed so far."""
        return len(self.station.devices.printer_sim.pages)

    def no_script_errors(self) -> None:
        """Nothing on the page threw or was left unhandled (an uncaught `Failed to fetch`, a TypeError)."""
        assert self.errors == []


@asynccontextmanager
async def kiosk(tmp_path: Path, broker: Any, browser: Any, width: int = 1024, height: int = 600, **scale: Any) -> AsyncIterator[Kiosk]:
    """A running daemon with one simulated scale and its screen open in Chromium at `width`×`height`."""
    photos = {key: dataset_image(cls, index) for key, (cls, index) in PHOTOS.items()}
    folder = await asyncio.to_thread(camera_folder, tmp_path / "cam", [photos["banana"]])
    async with running(web_scale_config(tmp_path / "data", broker.url, folder, **scale)) as app:
        page = await browser.new_page(viewport={"width": width, "height": height})
        page.set_default_timeout(TIMEOUT_MS)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
            k = Kiosk(app, page, http, photos)
            page.on("pageerror", lambda err: k.errors.append(str(err)))
            await page.goto(f"{k.base}/scale/{SCALE}")
            await page.wait_for_selector("body[data-live='open']")
            await k.showing("place_item")
            try:
                yield k
            finally:
                await page.close()


async def font_px(page: Any, selector: str) -> float:
    """The computed font size of an element, in CSS pixels."""
    return float(await page.eval_on_selector(selector, "(el) => parseFloat(getComputedStyle(el).fontSize)"))


@needs_dataset
async def test_a_weighing_by_weight_shows_and_prints_the_right_total(tmp_path: Path, broker: Any, browser: Any) -> None:
    async with kiosk(tmp_path, broker, browser) as k:
        assert await k.prompt() == "请放上商品"
        assert await font_px(k.page, "#prompt") >= 28

        await k.place(1235, "banana")
        weighing = await k.offered(1235)
        total = expected_total("P-BANANA", grams=1235)
        assert total == Decimal("8.62")
        assert await k.page.inner_text("#grams") == "1.235"
        assert await k.prompt() == "请选择商品"
        snap = await k.snapshot()
        tiles = k.page.locator("#tiles .tile")
        assert [await tiles.nth(i).get_attribute("data-sku") for i in range(await tiles.count())] == [c["sku"] for c in snap["candidates"]]
        banana = k.page.locator("#tiles .tile[data-sku='P-BANANA']")
        text = await banana.inner_text()
        assert "香蕉" in text and "¥6.98/千克" in text and f"≈ ¥{total}" in text
        for i in range(await tiles.count()):  # every tile's ≈ total is the one for the weight on the scale
            sku = await tiles.nth(i).get_attribute("data-sku")
            if CATALOGUE[sku]["sale_mode"] == "weight":
                assert f"≈ ¥{expected_total(sku, grams=1235)}" in await tiles.nth(i).inner_text()
        box = await tiles.nth(0).bounding_box()
        assert box is not None and box["height"] >= 150 and box["width"] >= 150  # a finger-sized target at 1024x600
        await k.page.wait_for_selector("body[data-pictures='loaded']")
        assert await k.page.eval_on_selector("#tiles .tile[data-sku='P-BANANA'] img", "(img) => img.naturalWidth") > 0

        await k.tap("#tiles .tile[data-sku='P-BANANA']")  # one tap: the label prints
        await k.page.wait_for_selector("#done:not([hidden])")
        assert await k.prompt() == "标签已打印，请取走商品"
        assert await k.page.inner_text("#doneName") == "香蕉"
        assert await k.page.inner_text("#doneQty") == "1.235 kg"
        assert await k.page.inner_text("#doneUnit") == "¥6.98/千克"
        assert await k.page.inner_text("#doneAmount") == f"¥{total}"
        await k.check_label(0, total)
        await k.page.click("#lang")  # the same summary in English
        assert await k.page.inner_text("#doneName") == "Banana"
        assert await k.page.inner_text("#doneUnit") == "¥6.98/kg"
        assert await k.prompt() == "Label printed — please take your item"
        await k.page.click("#lang")

        await k.remove()  # the summary stays a few seconds while the shopper takes the item
        await k.showing("place_item")
        assert not await k.page.is_hidden("#done")
        await k.page.wait_for_selector("#done", state="hidden", timeout=12_000)
        assert await k.prompt() == "请放上商品"
        assert weighing >= 1 and k.printed() == 1
        k.no_script_errors()


@needs_dataset
async def test_a_weighing_by_piece_prints_the_count_pressed(tmp_path: Path, broker: Any, browser: Any) -> None:
    sku = "P-TROPICANA-JUICE-SMOOTH"
    async with kiosk(tmp_path, broker, browser, 1280, 800) as k:
        await k.place(1050, "juice")
        await k.offered(1050)
        # close candidates (the juices look alike): the screen asks the shopper to check
        assert await k.prompt() == ("请核对后选择商品" if (await k.snapshot())["unsure"] else "请选择商品")
        if await k.page.locator(f"#tiles .tile[data-sku='{sku}']").count():
            await k.tap(f"#tiles .tile[data-sku='{sku}']")
        else:  # the model did not offer it: found on the letter pad (纯果乐顺滑橙汁: cglshcz)
            await k.tap("#none")
            await k.type_letters("CGLSH")
            await k.tap(f"#results .tile[data-sku='{sku}']")
        await k.page.wait_for_selector("#count:not([hidden])")
        # the pad starts empty: product, unit price, no total and OK refused until a count is keyed
        assert await k.page.inner_text("#countValue") == "—"
        assert await k.page.inner_text("#countName") == "纯果乐顺滑橙汁 1L"
        assert await k.page.inner_text("#countUnit") == "¥21.90/件"
        assert await k.page.is_disabled("#countOk")
        await k.tap("#pad [data-k='0']")  # no leading zero
        assert await k.page.inner_text("#countValue") == "—"
        for key in "1234":  # three keys at most (999)
            await k.tap(f"#pad [data-k='{key}']")
        assert await k.page.inner_text("#countValue") == "123"
        assert "full" in (await k.page.get_attribute("#countLimit", "class") or "")
        # 123 × ¥21.90 does not fit the label's barcode: the daemon refuses the quote, the pad says so and keeps the count open
        await k.page.wait_for_function("() => document.getElementById('countLimit').textContent === '金额超出标签上限，请联系店员'")
        assert await k.page.is_disabled("#countOk")
        await k.tap("#pad [data-k='⌫']")
        await k.page.wait_for_function("(t) => document.getElementById('countTotal').textContent === t", arg=f"¥{expected_total(sku, pieces=12)}")
        assert await k.page.inner_text("#countValue") == "12"
        await k.tap("#pad [data-k='C']")  # the clear key
        assert await k.page.inner_text("#countValue") == "—"
        assert await k.page.is_disabled("#countOk")

        await k.tap("#pad [data-k='2']")  # pressing 2 means 2 pieces
        total = expected_total(sku, pieces=2)
        assert total == Decimal("43.80")
        await k.page.wait_for_function("(t) => document.getElementById('countTotal').textContent === t", arg=f"¥{total}")
        assert await k.page.inner_text("#countValue") == "2"
        await k.page.wait_for_selector("#countOk:not([disabled])")
        await k.tap("#countOk")
        await k.page.wait_for_selector("#ask:not([hidden]), #done:not([hidden])")
        if await k.page.is_visible("#ask"):  # chosen from search, not the recognised product: asked once
            assert "纯果乐顺滑橙汁 1L" in await k.page.inner_text("#askText")
            assert await k.page.inner_text("#askAmount") == f"¥{total}"
            await k.tap("#askYes")
        await k.page.wait_for_selector("#done:not([hidden])")
        assert await k.page.inner_text("#doneQty") == "2 件"
        assert await k.page.inner_text("#doneUnit") == "¥21.90/件"
        assert await k.page.inner_text("#doneAmount") == f"¥{total}"
        await k.check_label(0, total)
        assert k.printed() == 1
        k.no_script_errors()


def contract_texts() -> tuple[dict[str, tuple[str, str]], dict[str, tuple[str, str]]]:
    """docs/http-api.md's "Codes and their texts": the refusal codes and the state codes, each with its Chinese and English text."""
    section = (ROOT / "docs/http-api.md").read_text(encoding="utf-8").split("### Codes and their texts", 1)[1].split("\n## ", 1)[0]
    refusals: dict[str, tuple[str, str]] = {}
    states: dict[str, tuple[str, str]] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        code = cells[0].strip("`")
        if not line.startswith("| `") or code == "code":  # not a row, or the header
            continue
        if len(cells) == 5:
            refusals[code] = (cells[3], cells[4])
        elif len(cells) == 3:
            states[code] = (cells[1], re.sub(r" \(shown by the screen [^)]*\)$", "", cells[2]))
    return refusals, states


def _odd_fen_product(tx: Any) -> None:
    """A by-weight product at ¥9.99 per kg: ¥4.995 per 500 g, a half fen the screen must show as it is."""
    revision = tx.conn.execute("SELECT coalesce(max(revision), 0) + 1 FROM products").fetchone()[0]
    tx.db["products"].insert({"sku": "P-ODD-YAM", "name": "铁棍山药", "name_en": "Iron Yam", "price": "9.99", "unit": "kg",
                              "sale_mode": "weight", "plu": "10902", "revision": revision})
    tx.notify("catalog")


@needs_dataset
async def test_the_store_display_unit_is_the_one_on_tiles_search_summary_and_label(tmp_path: Path, broker: Any, browser: Any) -> None:
    async with kiosk(tmp_path, broker, browser, display_unit="500g", products=["P-ODD-*"]) as k:
        await k.app.store.write(_odd_fen_product)
        while not k.app.jobs[0].products.sold("P-ODD-YAM"):
            await asyncio.sleep(0.05)
        await k.place(1235, "banana")
        await k.offered(1235)
        total = expected_total("P-BANANA", grams=1235)  # the same money per kg or per 500 g
        banana = await k.page.inner_text("#tiles .tile[data-sku='P-BANANA']")
        assert "¥3.49/斤" in banana and f"≈ ¥{total}" in banana  # ¥6.98 per kg is ¥3.49 per 斤
        assert await k.page.inner_text("#jin") == "2.47 斤"
        await k.tap("#none")
        await k.type_letters("TGSY")  # 铁棍山药
        yam = await k.page.inner_text("#results .tile[data-sku='P-ODD-YAM']")
        assert "¥4.995/斤" in yam and f"≈ ¥{expected_total_at('9.99', 'kg', 1235)}" in yam  # never rounded on the screen
        await k.tap("#keys [data-k='CLR']")
        await k.type_letters("XJ")
        await k.tap("#results .tile[data-sku='P-BANANA']")
        await k.page.wait_for_selector("#done:not([hidden])")
        assert await k.page.inner_text("#doneUnit") == "¥3.49/斤"
        assert await k.page.inner_text("#doneAmount") == f"¥{total}"
        await k.check_label(0, total)
        k.no_script_errors()


def expected_total_at(price: str, unit: str, grams: int) -> Decimal:
    """The total for a price per `unit` and a net weight, rounded once, half-up."""
    return (Decimal(price) * Decimal(grams) / BASIS_GRAMS[unit]).quantize(FEN, rounding=ROUND_HALF_UP)


async def test_scale_api_refuses_bad_taps_with_a_code_and_the_screen_has_a_text_for_every_code(tmp_path: Path, broker: Any, browser: Any) -> None:
    refusals, states = contract_texts()
    assert set(STATUS) <= set(refusals), set(STATUS) - set(refusals)  # every code the daemon may answer is in the contract's table
    assert {"needs_confirmation", "not_sold_at_scale", "daemon_unavailable", "place_item", "unrecognised"} <= set(refusals) | set(states)
    async with running(web_scale_config(tmp_path / "data", broker.url, None), gallery=False) as app:
        assert app.web is not None
        base = f"http://127.0.0.1:{app.web.port}"
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
            async with http.get(f"{base}/scale/nope") as r:
                assert r.status == 404
            async with http.get(f"{base}/scale/{SCALE}") as r:
                page = await r.text()
                assert r.status == 200 and "/jobs/scale/scale.js" in page
            for asset in ("scale.js", "scale-text.js", "scale.css"):
                async with http.get(f"{base}/jobs/scale/{asset}") as r:
                    assert r.status == 200, asset
            bad = [b"not json", b'{"rank": true}', b'{"sku": "P-BANANA", "pieces": 0}', b'{"sku": "P-BANANA", "extra": 1}', b"[1]"]
            for body in bad:
                async with http.post(f"{base}/api/scale/{SCALE}/confirm", data=body, headers={"Content-Type": "application/json"}) as r:
                    reply = await r.json()
                    assert r.status == 400 and reply["code"] == "invalid_argument" and reply["error"], body
            async with http.post(f"{base}/api/scale/{SCALE}/confirm", json={"sku": "P-BANANA"}) as r:
                assert r.status == 409 and (await r.json())["code"] == "not_ready"  # nothing on the platter

        # the screen's own text for every code, Chinese and English, exactly as the contract writes it
        page = await browser.new_page()
        try:
            await page.goto(f"{base}/scale/{SCALE}")
            shown = await page.evaluate(
                """async ([refusals, states]) => {
                  const m = await import('/jobs/scale/scale-text.js');
                  const out = {};
                  for (const lang of ['zh', 'en']) {
                    out[lang] = {refusals: Object.fromEntries(refusals.map((c) => [c, m.refusalText(lang, c)])),
                                 states: Object.fromEntries(states.map((c) => [c, m.stateText(lang, c)]))};
                  }
                  return out;
                }""",
                [list(refusals), list(states)],
            )
        finally:
            await page.close()
        for i, lang in enumerate(("zh", "en")):
            assert shown[lang]["refusals"] == {code: texts[i] for code, texts in refusals.items()}, lang
            assert shown[lang]["states"] == {code: texts[i] for code, texts in states.items()}, lang
