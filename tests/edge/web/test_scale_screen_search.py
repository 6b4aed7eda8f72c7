"""Search on the scale screen with one finger: the on-screen letter pad (Chinese pinyin initials and English) and categories with pictures.

Also the screen's build at 1024×600 and 1280×800: large keys inside the window, prompts of 28 px and
more, tile names that stay inside their tiles (long English names too), and contrast of 7:1 or more.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.edge.web.test_scale_screen import expected_total, font_px, kiosk, needs_dataset

# WCAG 2 contrast of an element's text against the first opaque background behind it.
CONTRAST = """(el) => {
  const rgb = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => [r, g, b].map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; })
    .reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
  let bg = el, colour = null;
  while (bg) { const c = rgb(getComputedStyle(bg).backgroundColor); if (c.length === 3 || (c.length === 4 && c[3] === 1)) { colour = c; break; } bg = bg.parentElement; }
  const [a, b] = [lum(rgb(getComputedStyle(el).color)), lum(colour || [255, 255, 255])];
  return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
}"""

# Elements a name must not spill out of: the name's box inside its tile's, and no hidden horizontal overflow.
OVERFLOW = """(tiles) => tiles.filter((tile) => {
  const name = tile.querySelector('.name'), t = tile.getBoundingClientRect(), n = name.getBoundingClientRect();
  return name.scrollWidth > name.clientWidth + 1 || n.left < t.left - 1 || n.right > t.right + 1 || n.bottom > t.bottom + 1;
}).map((tile) => tile.dataset.sku)"""


async def check_build(page: Any, width: int, height: int, keys: bool) -> None:
    """Targets large and inside the window, prompt ≥ 28 px, names inside their tiles, contrast ≥ 7:1."""
    assert await font_px(page, "#prompt") >= 28
    buttons = await page.eval_on_selector_all(
        "button", "(bs) => bs.filter((b) => b.offsetParent !== null && !b.closest('[hidden]')).map((b) => [b.id || b.dataset.k || b.dataset.sku || b.dataset.category || b.textContent, b.getBoundingClientRect().toJSON()])"
    )
    assert buttons
    for label, box in buttons:
        assert box["left"] >= 0 and box["top"] >= 0 and box["right"] <= width and box["bottom"] <= height, (label, box)
        if box["top"] < height - 1:  # not a result scrolled out of its list
            assert box["height"] >= 48 and box["width"] >= 48, (label, box)
    if keys:
        letters = await page.eval_on_selector_all("#keys button", "(bs) => bs.map((b) => b.getBoundingClientRect().toJSON())")
        assert len(letters) == 28  # A-Z, backspace, clear
        assert all(b["width"] >= 60 and b["height"] >= 60 for b in letters), letters
    assert await page.eval_on_selector_all("#main .tile:not([hidden])", OVERFLOW) == []
    for selector in ("#prompt", "#main .tile .name", "#main .tile .price", "#main .tile .total", "#keys button", ".cat span", "#none"):
        for el in await page.query_selector_all(selector):
            if await el.is_visible():
                assert await el.evaluate(CONTRAST) >= 7, selector


@needs_dataset
async def test_search_with_the_letter_pad_in_chinese_and_english(tmp_path: Path, broker: Any, browser: Any) -> None:
    async with kiosk(tmp_path, broker, browser) as k:
        await k.place(1235, "banana")
        await k.offered(1235)
        await check_build(k.page, 1024, 600, keys=False)
        await k.tap("#none")
        await k.page.wait_for_selector("#search:not([hidden])")
        assert await k.page.inner_text("#none") == "返回推荐"
        assert await k.page.inner_text("#queryHint") == "点字母输入拼音首字母"

        # Chinese: the pinyin initials of 香蕉 on the letter pad
        await k.type_letters("XJ")
        banana = "#results .tile[data-sku='P-BANANA']"
        await k.page.wait_for_selector(banana)
        assert await k.page.inner_text("#query") == "XJ"
        text = await k.page.inner_text(banana)
        assert "香蕉" in text and "¥6.98/千克" in text and f"≈ ¥{expected_total('P-BANANA', grams=1235)}" in text
        assert await k.page.inner_text("#found") == "找到 1 个"
        await check_build(k.page, 1024, 600, keys=True)
        await k.tap("#keys [data-k='⌫']")
        assert await k.page.inner_text("#query") == "X"
        await k.tap("#keys [data-k='CLR']")
        assert await k.page.inner_text("#query") == ""
        assert await k.page.inner_text("#found") == "按字母或分类查找"

        # browse: a category with its picture lists its products, with pictures
        fruit = ".cat[data-category='fruit']"
        assert await k.page.inner_text(fruit) == "水果"
        assert await k.page.eval_on_selector(f"{fruit} img", "(img) => img.complete && img.naturalWidth") > 0
        await k.tap(fruit)
        await k.page.wait_for_selector(banana)
        categories = {c["category"]: c for c in (await (await k.http.get(f"{k.base}/api/scale/sc1/categories")).json())["categories"]}
        assert await k.page.inner_text("#found") == f"找到 {categories['fruit']['products']} 个"
        assert "on" in (await k.page.get_attribute(fruit, "class") or "")
        await k.page.wait_for_selector("body[data-pictures='loaded']")
        assert await k.page.locator("#results .tile img").count() > 0
        await k.type_letters("XJ")  # letters within the category
        await k.page.wait_for_function("() => document.getElementById('found').textContent === '找到 1 个'")
        await k.tap("#keys [data-k='CLR']")
        await k.tap(fruit)  # off again
        await k.page.wait_for_function("() => document.getElementById('found').textContent === '按字母或分类查找'")

        # English: the same pad finds English names, every word on the screen in English
        await k.tap("#lang")
        assert await k.page.inner_text("#lang") == "中文"
        assert await k.page.inner_text("#queryHint") == "Tap the first letters (pinyin or English)"
        assert await k.page.inner_text(fruit) == "Fruit"
        await k.type_letters("BAN")
        await k.page.wait_for_selector(banana)
        assert "Banana" in await k.page.inner_text(banana) and "¥6.98/kg" in await k.page.inner_text(banana)
        await k.tap(banana)  # the recognised product: printed at once
        await k.page.wait_for_selector("#done:not([hidden])")
        assert await k.page.inner_text("#doneName") == "Banana"
        total = expected_total("P-BANANA", grams=1235)
        assert await k.page.inner_text("#doneAmount") == f"¥{total}"
        await k.check_label(0, total)
        await k.remove()
        await k.showing("place_item")

        # 1280x800, English, long names: a juice whose candidates are named at length
        await k.page.set_viewport_size({"width": 1280, "height": 800})
        await k.place(1050, "juice")
        await k.offered(1050)
        await k.page.wait_for_selector("#done", state="hidden")
        await check_build(k.page, 1280, 800, keys=False)
        await k.tap("#none")
        await k.type_letters("GOD")
        await k.page.wait_for_selector("#results .tile[data-sku='P-GOD-MORGON-ORANGE-RED-GRAPEFR']")
        assert "God Morgon Orange Red Grapefruit Juice" in await k.page.inner_text("#results")
        await check_build(k.page, 1280, 800, keys=True)
        k.no_script_errors()
