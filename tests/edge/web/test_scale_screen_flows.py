"""The scale screen never strands a shopper: re-offers when the load changes, cancel and start again, the window passing, questions, refusals.

Each weighing is driven through `POST /api/sim/scale/<id>/place|remove`; each expected total is worked
out here from the produce file's price (tests/edge/web/test_scale_screen.py: expected_total) and
checked on the screen and on the printed label. Every message is the screen's own text for a code.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from PIL import Image

from tests.edge.web.test_scale_screen import CATALOGUE, SCALE, expected_total, kiosk, needs_dataset

BANANA = "P-BANANA"


def _catalogue_row(tx: Any, row: dict[str, Any]) -> None:
    """A product of the store's catalogue written as HQ would, with the next revision."""
    revision = tx.conn.execute("SELECT coalesce(max(revision), 0) + 1 FROM products").fetchone()[0]
    tx.db["products"].upsert({**row, "revision": revision}, pk="sku")
    tx.notify("catalog")


@needs_dataset
async def test_a_weight_change_re_offers_and_lifting_closes_the_dialog(tmp_path: Path, broker: Any, browser: Any) -> None:
    async with kiosk(tmp_path, broker, browser) as k:
        await k.place(800, "banana")
        first = await k.offered(800)
        tile = f"#tiles .tile[data-sku='{BANANA}']"
        assert f"≈ ¥{expected_total(BANANA, grams=800)}" in await k.page.inner_text(tile)

        # the shopper has opened the search when a heavier load settles: the screen recognises it and offers again
        await k.tap("#none")
        await k.page.wait_for_selector("#search:not([hidden])")
        await k.place(1400)
        second = await k.offered(1400, first)
        assert await k.page.is_hidden("#search")
        assert await k.prompt() == "请选择商品"
        assert "error" not in (await k.page.get_attribute("#prompt", "class") or "")
        assert f"≈ ¥{expected_total(BANANA, grams=1400)}" in await k.page.inner_text(tile)

        # a tap that reaches the daemon after the load changed again is refused in the shopper's words, and the new load is offered
        async def late(route: Any) -> None:
            """The finger lands, then the item is swapped before the request arrives."""
            await k.place(1700)
            while (snap := await k.snapshot())["offered_grams"] != 1700 or snap["state"] != "choose":
                await asyncio.sleep(0.05)
            await route.continue_()

        await k.page.route(f"**/api/scale/{SCALE}/confirm", late)
        await k.tap(tile)
        await k.page.wait_for_selector("#prompt.error")
        assert await k.prompt() in ("商品已变化，请重新选择", "重量有变化，正在重新识别")
        await k.page.unroute(f"**/api/scale/{SCALE}/confirm")
        third = await k.offered(1700, second)
        assert k.printed() == 0
        total = expected_total(BANANA, grams=1700)
        assert f"≈ ¥{total}" in await k.page.inner_text(tile)
        await k.tap(tile)
        await k.page.wait_for_selector("#done:not([hidden])")
        assert await k.page.inner_text("#doneQty") == "1.700 kg"
        assert await k.page.inner_text("#doneAmount") == f"¥{total}"
        await k.check_label(0, total)

        # lifting the item closes any dialog: the count pad of a by-piece product found on the letter pad
        await k.remove()
        await k.showing("place_item")
        await k.place(1050, "juice")
        await k.offered(1050, third)
        await k.tap("#none")
        await k.type_letters("CGLSH")
        await k.tap("#results .tile[data-sku='P-TROPICANA-JUICE-SMOOTH']")
        await k.page.wait_for_selector("#count:not([hidden])")
        await k.remove()
        await k.showing("place_item")
        await k.page.wait_for_selector("#count", state="hidden")
        assert await k.page.is_hidden("#search")
        assert k.printed() == 1
        k.no_script_errors()


@needs_dataset
async def test_cancel_and_start_again(tmp_path: Path, broker: Any, browser: Any) -> None:
    async with kiosk(tmp_path, broker, browser) as k:
        await k.place(655, "banana")
        first = await k.offered(655)
        assert await k.page.is_visible("#cancel")
        await k.tap("#cancel")
        await k.showing("cancelled")
        assert await k.prompt() == "已取消，请取走商品或点“重新开始”"
        assert await k.page.locator("#tiles .tile").count() == 0
        assert await k.page.is_visible("#againButton")
        assert await k.page.is_hidden("#cancel")
        await k.tap("#againButton")  # start again: recognised anew, offered again
        await k.showing("choose")
        await k.page.wait_for_selector(f"#tiles .tile[data-sku='{BANANA}']")
        total = expected_total(BANANA, grams=655)
        assert f"≈ ¥{total}" in await k.page.inner_text(f"#tiles .tile[data-sku='{BANANA}']")
        await k.tap("#restart")  # the bar's start again while choosing also offers again
        await k.showing("choose")
        await k.tap("#cancel")
        await k.showing("cancelled")
        await k.remove()  # a cancelled item lifted: the platter is free for the next one
        await k.showing("place_item")
        assert await k.prompt() == "请放上商品"
        assert k.printed() == 0
        assert first >= 1
        k.no_script_errors()


@needs_dataset
async def test_the_confirmation_window_passes_then_retry(tmp_path: Path, broker: Any, browser: Any) -> None:
    async with kiosk(tmp_path, broker, browser, confirm_timeout_s=4) as k:
        await k.place(1235, "banana")
        await k.offered(1235)
        await k.page.wait_for_function("() => document.getElementById('prompt').textContent.includes('还剩')")  # the seconds left
        await k.showing("expired")
        assert await k.prompt() == "选择超时，请点“重新开始”"
        assert "error" not in (await k.page.get_attribute("#prompt", "class") or "")
        assert await k.page.inner_text("#stable") == "稳定"  # the weight is stable, not "weighing"
        assert await k.page.locator("#tiles .tile").count() == 0
        await k.page.click("#lang")
        assert await k.prompt() == 'Time ran out — tap "Start again"'
        assert await k.page.inner_text("#againButton") == "Start again"
        await k.page.click("#lang")
        await k.tap("#againButton")
        await k.showing("choose")
        await k.tap(f"#tiles .tile[data-sku='{BANANA}']")
        await k.page.wait_for_selector("#done:not([hidden])")
        total = expected_total(BANANA, grams=1235)
        assert await k.page.inner_text("#doneAmount") == f"¥{total}"
        await k.check_label(0, total)
        k.no_script_errors()


@needs_dataset
async def test_a_choice_not_offered_and_cheaper_is_asked_about(tmp_path: Path, broker: Any, browser: Any) -> None:
    watermelon = "P-WATERMELON"
    assert CATALOGUE[watermelon]["unit"] == CATALOGUE[BANANA]["unit"] and CATALOGUE[watermelon]["price"] < CATALOGUE[BANANA]["price"]
    async with kiosk(tmp_path, broker, browser) as k:
        await k.place(1235, "banana")
        await k.offered(1235)
        assert (await k.snapshot())["candidates"][0]["sku"] == BANANA
        await k.tap("#none")
        await k.type_letters("XG")  # 西瓜
        result = f"#results .tile[data-sku='{watermelon}']"
        await k.tap(result)
        await k.page.wait_for_selector("#ask:not([hidden])")
        total = expected_total(watermelon, grams=1235)
        assert await k.page.inner_text("#askText") == "识别为 香蕉，您选择的是 西瓜，确认吗？"
        assert await k.page.inner_text("#askQty") == "1.235 kg"
        assert await k.page.inner_text("#askUnit") == "¥3.98/千克"
        assert await k.page.inner_text("#askAmount") == f"¥{total}"
        await k.tap("#askNo")  # no: back to choosing, nothing printed
        await k.page.wait_for_selector("#ask", state="hidden")
        assert k.printed() == 0 and await k.page.is_visible("#search")
        await k.tap(result)
        await k.page.wait_for_selector("#ask:not([hidden])")
        await k.page.click("#lang")
        assert await k.page.inner_text("#askText") == "We recognised Banana, you chose Watermelon — is that right?"
        await k.page.click("#lang")
        await k.tap("#askYes")
        await k.page.wait_for_selector("#done:not([hidden])")
        assert await k.page.inner_text("#doneName") == "西瓜"
        assert await k.page.inner_text("#doneAmount") == f"¥{total}"
        await k.check_label(0, total)
        assert k.printed() == 1
        k.no_script_errors()


@needs_dataset
async def test_a_shelf_only_product_is_refused_and_refusals_are_the_screens_words(tmp_path: Path, broker: Any, browser: Any) -> None:
    async with kiosk(tmp_path, broker, browser, products=["P-SHELF-*", "P-FREEBIE"]) as k:
        job = k.app.jobs[0]
        await k.app.store.write(lambda tx: _catalogue_row(tx, {"sku": "S-DETERGENT", "name": "洗衣液", "name_en": "Laundry Detergent", "price": "29.90",
                                                               "unit": "piece", "sale_mode": "piece", "plu": None}))
        await k.app.store.write(lambda tx: _catalogue_row(tx, {"sku": "P-SHELF-YAM", "name": "山药", "name_en": "Yam", "price": "9.80",
                                                               "unit": "kg", "sale_mode": "weight", "plu": "10901"}))
        await k.app.store.write(lambda tx: _catalogue_row(tx, {"sku": "P-FREEBIE", "name": "赠品", "name_en": "Freebie", "price": "0.00",
                                                               "unit": "kg", "sale_mode": "weight", "plu": "10999"}))
        while not (job.products.sold("P-SHELF-YAM") and "S-DETERGENT" in job.products):
            await asyncio.sleep(0.05)
        await k.place(800, "banana")
        await k.offered(800)
        await k.tap("#none")

        await k.type_letters("XYY")  # 洗衣液 is in the store, not at the scale: not found
        await k.page.wait_for_function("() => document.getElementById('found').textContent === '没有找到，请换个字母或分类'")
        assert await k.page.locator("#results .tile").count() == 0

        await k.tap("#keys [data-k='CLR']")
        await k.type_letters("SY")  # 山药 is sold at the scale, until HQ takes its PLU away while it is on the screen
        yam = "#results .tile[data-sku='P-SHELF-YAM']"
        await k.page.wait_for_selector(yam)
        await k.app.store.write(lambda tx: _catalogue_row(tx, {**job.products["P-SHELF-YAM"], "plu": None}))
        while job.products.sold("P-SHELF-YAM"):
            await asyncio.sleep(0.05)
        await k.tap(yam)
        await k.page.wait_for_selector("#prompt.error")
        assert await k.prompt() == "此商品不在秤上销售，请到收银台结算"
        await k.page.click("#lang")
        assert await k.prompt() == "This product is not sold at the scale — please pay for it at the checkout"
        await k.page.click("#lang")

        await k.tap("#keys [data-k='CLR']")
        await k.type_letters("ZP")  # 赠品 has no price: refused in words, no label
        await k.tap("#results .tile[data-sku='P-FREEBIE']")
        await k.page.wait_for_function("() => document.getElementById('prompt').textContent === '此商品暂无价格，请联系店员'")
        assert k.printed() == 0

        # a label printed, then a second tap on the same item: refused until it is taken off
        await k.tap("#none")
        await k.tap(f"#tiles .tile[data-sku='{BANANA}']")
        await k.page.wait_for_selector("#done:not([hidden])")
        await k.check_label(0, expected_total(BANANA, grams=800))
        async with k.http.post(f"{k.base}/api/scale/{SCALE}/confirm", json={"sku": BANANA}) as r:
            assert r.status == 409 and (await r.json())["code"] == "already_labelled"
        assert k.printed() == 1
        k.no_script_errors()


@needs_dataset
async def test_a_load_that_is_not_produce_is_not_recognised(tmp_path: Path, broker: Any, browser: Any) -> None:
    blank = tmp_path / "empty-platter.png"
    await asyncio.to_thread(lambda: Image.new("RGB", (640, 480), (128, 128, 128)).save(blank))
    async with kiosk(tmp_path, broker, browser) as k:
        await k.place(300, blank)  # a bag with nothing recognisable in it
        await k.showing("unrecognised")
        assert await k.prompt() in ("无法识别，请搜索或按分类选择", "暂不能自动识别，请搜索或按分类选择")
        assert await k.page.locator("#tiles .tile").count() == 0
        assert await k.page.is_visible("#search")  # the letter pad and the categories open by themselves
        await k.tap(".cat[data-category='fruit']")
        await k.page.wait_for_selector(f"#results .tile[data-sku='{BANANA}']")
        await k.remove()
        await k.showing("place_item")
        assert await k.prompt() == "请放上商品"
        assert await k.page.is_hidden("#search")
        await k.place(20)  # a load that stays under the scale's minimum: too light to price
        await k.page.wait_for_function("() => document.getElementById('prompt').textContent === '重量太轻，无法计价'")
        assert await k.page.text_content("#stable") == "稳定"  # at rest, not "weighing…" beside "too light"
        await k.remove()
        await k.page.wait_for_function("() => document.getElementById('prompt').textContent === '请放上商品'")
        k.no_script_errors()
