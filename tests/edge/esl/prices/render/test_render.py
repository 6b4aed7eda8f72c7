"""render_label: palette contract, exact size, determinism, readable QR, layout that never overlaps."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from edge.esl.prices.render.content import LabelContent, LabelSpec
from edge.esl.prices.render.errors import LayoutError
from edge.esl.prices.render.geometry import Box
from edge.esl.prices.render.glyphs import text_run
from edge.esl.prices.render.layouts import layout_for
from edge.esl.prices.render.price import arrange, draw_price, fit_price
from edge.esl.prices.render.qr import MIN_MODULE_PX, QUIET_ZONE, draw_qr, qr_symbol
from edge.esl.prices.render.render import ACCENT, PALETTES, draw_promo_row, render_label
from edge.esl.prices.render.text import fit_text
from tests.edge.esl.prices.render.conftest import COLOURS, SAMPLES, SIZES, ink_box, spec_for

prices = st.decimals(min_value=Decimal("0"), max_value=Decimal("99999.99"), places=2)


@st.composite
def contents(draw: st.DrawFn) -> LabelContent:
    """Arbitrary but valid label content."""
    promo = draw(st.none() | prices)
    return LabelContent(
        sku=draw(st.from_regex(r"[0-9]{6,13}", fullmatch=True)),
        name=draw(st.text(alphabet="红富士苹果牛奶进口礼盒装 Milk0123456789", min_size=1, max_size=40).filter(str.strip)),
        name_en=draw(st.none() | st.text(alphabet="Fuji Apple Milk", max_size=40)),
        price=draw(prices),
        unit=draw(st.sampled_from(["500g", "kg", "piece", "件"])),
        spec=draw(st.none() | st.sampled_from(["约250g/个", "550ml", "250ml×12"])),
        origin=draw(st.none() | st.sampled_from(["山东", "新西兰"])),
        promo_price=promo,
        promo_end=draw(st.none() | st.dates(date(2026, 1, 1), date(2027, 12, 31))) if promo is not None else None,
        qr_url="https://shop.example.cn/p/" + draw(st.from_regex(r"[0-9]{1,13}", fullmatch=True)),
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=contents(), size_name=st.sampled_from(sorted(SIZES)), colours=st.sampled_from(COLOURS))
def test_palette_contract(font_path: Path, content: LabelContent, size_name: str, colours: str) -> None:
    """Mode P at the exact resolution, only indices 0/1/2, never 2 on black/white, accent only for promotions."""
    spec = spec_for(size_name, colours)
    image = render_label(content, spec)
    assert image.mode == "P" and image.size == (spec.width, spec.height)
    assert tuple(image.getpalette()[: len(PALETTES[spec.colours])]) == PALETTES[spec.colours]
    used = set(np.unique(np.asarray(image)).tolist())
    assert used <= ({0, 1} if colours == "bw" else {0, 1, 2})
    assert {0, 1} <= used
    assert (ACCENT in used) == (content.on_promotion and colours != "bw")


def test_deterministic_output(font_path: Path, size_name: str) -> None:
    """Same input, byte-identical image, even with every cache cleared in between; a price change shows."""
    content, spec = SAMPLES["promotion"], spec_for(size_name)
    first = render_label(content, spec)
    for cache in (fit_text, fit_price, qr_symbol, text_run):
        cache.cache_clear()
    second = render_label(content, spec)
    assert first.tobytes() == second.tobytes() and first.getpalette() == second.getpalette()
    cheaper = render_label(replace(content, promo_price=Decimal("45.70")), spec)
    assert cheaper.tobytes() != first.tobytes()


def decode_qr(image: Image.Image, region: Box) -> str:
    """Read the QR code in region of a label, greyscale and magnified; OpenCV's detector is scale-sensitive,
    so a few magnifications are tried (a wrong symbol can never decode to the URL at any of them)."""
    grey = np.asarray(image.convert("L").crop((region.x0, region.y0, region.x1, region.y1)))
    for factor in (2, 3, 4):
        big = cv2.resize(grey, None, fx=factor, fy=factor, interpolation=cv2.INTER_NEAREST)
        big = cv2.copyMakeBorder(big, 40, 40, 40, 40, cv2.BORDER_CONSTANT, value=255)
        text, _points, _ = cv2.QRCodeDetector().detectAndDecode(big)
        if text:
            return text
    return ""


@pytest.mark.parametrize(("kind", "colours"), [("regular", "bw"), ("by_weight", "bwr"), ("promotion", "bwy")])
def test_qr_decodes_to_the_url(font_path: Path, size_name: str, kind: str, colours: str) -> None:
    """The QR code in the rendered label reads back as the product URL."""
    content, spec = SAMPLES[kind], spec_for(size_name, colours)
    assert decode_qr(render_label(content, spec), layout_for(spec).qr) == content.qr_url


@pytest.mark.parametrize("url_length", [20, 42])
def test_qr_module_size_and_quiet_zone(font_path: Path, size_name: str, url_length: int) -> None:
    """Modules are at least 2 px and the 2-module quiet zone around the symbol is white on the label."""
    url = ("https://shop.example.cn/p/" + "7" * 60)[:url_length]
    spec = spec_for(size_name)
    image = render_label(replace(SAMPLES["regular"], qr_url=url), spec)
    assert decode_qr(image, layout_for(spec).qr) == url
    label = np.asarray(image)
    canvas = Image.new("P", (spec.width, spec.height), 0)
    symbol = draw_qr(canvas, url, layout_for(spec).qr, layout_for(spec).max_qr_module)
    module = symbol.width // qr_symbol(url).width
    assert module >= MIN_MODULE_PX
    zone = QUIET_ZONE * module
    assert symbol.x0 >= zone and symbol.y0 >= zone and symbol.y1 + zone <= spec.height
    around = label[symbol.y0 - zone : symbol.y1 + zone, symbol.x0 - zone : symbol.x1 + zone].copy()
    around[zone:-zone, zone:-zone] = 0
    assert not around.any()
    drawn_alone = np.asarray(canvas.crop((symbol.x0, symbol.y0, symbol.x1, symbol.y1)))
    assert np.array_equal(label[symbol.y0 : symbol.y1, symbol.x0 : symbol.x1], drawn_alone)


@pytest.mark.parametrize("size", [(296, 152), (264, 176), (200, 200), (640, 384), (800, 480)])
def test_other_display_sizes(font_path: Path, size: tuple[int, int]) -> None:
    """Sizes between and beyond the three tuned ones get the nearest layout family and keep the contract."""
    for kind, content in SAMPLES.items():
        image = render_label(content, LabelSpec(*size, "bwy"))
        assert image.size == size and set(np.unique(np.asarray(image)).tolist()) <= {0, 1, 2}
        assert decode_qr(image, layout_for(LabelSpec(*size, "bwy")).qr) == content.qr_url, kind


def test_url_too_long_for_small_label(font_path: Path) -> None:
    """A URL whose QR would need modules under 2 px is refused, not printed unreadable."""
    with pytest.raises(LayoutError, match="QR"):
        render_label(replace(SAMPLES["regular"], qr_url="https://shop.example.cn/p/" + "9" * 60), spec_for("213"))


def test_layout_boxes_never_overlap(size_name: str) -> None:
    """Name, details, rule, QR, SKU and price column are disjoint and inside the label."""
    spec = spec_for(size_name)
    layout = layout_for(spec)
    label = Box(0, 0, spec.width, spec.height)
    boxes = [layout.name, layout.details, layout.rule, layout.qr, layout.price_column]
    boxes += [layout.sku] if layout.sku else []
    assert all(label.contains(b) and b.width > 0 and b.height > 0 for b in boxes)
    for a, b in itertools.combinations(boxes, 2):
        assert not a.overlaps(b), (a, b)
    for part in (layout.promo_row, layout.price, layout.promo_price, layout.unit_line):
        assert layout.price_column.contains(part) and layout.band.contains(part)
    assert not layout.promo_row.overlaps(layout.promo_price) and not layout.price.overlaps(layout.unit_line)


@pytest.mark.parametrize("price", ["0.00", "3.50", "88.80", "99999.99"])
@pytest.mark.parametrize("unit", ["500g", "件"])
def test_price_stays_in_its_box(font_path: Path, size_name: str, price: str, unit: str) -> None:
    """The big price, in both regular and promotion boxes, is inside its box and its fen clear of the unit."""
    layout = layout_for(spec_for(size_name))
    for box in (layout.price, layout.promo_price):
        canvas = Image.new("P", (box.x1 + 40, box.y1 + 40), 0)
        draw_price(canvas, font_path, Decimal(price), unit, box, layout.max_price_size, 1)
        assert box.contains(Box(*ink_box(canvas)))
    yuan, fen = price.split(".")
    yen, digits, cents, per = (p.ink for p in arrange(font_path, yuan, fen, unit, layout.max_price_size))
    assert not cents.overlaps(per) and not yen.overlaps(digits) and not digits.overlaps(cents)
    assert cents.y0 == digits.y0 and per.y1 == digits.y1


@pytest.mark.parametrize("size", [(250, 122), (296, 128), (400, 300), (200, 200)])
@pytest.mark.parametrize(("was", "now", "end"), [("59.90", "45.80", date(2026, 11, 30)), ("99999.99", "88888.88", None)])
def test_promo_row_stays_in_its_box(font_path: Path, size: tuple[int, int], was: str, now: str, end: date | None) -> None:
    """The struck-through price and end date stay in the promotion row, whatever the price length."""
    layout = layout_for(LabelSpec(*size, "bwr"))
    content = replace(SAMPLES["promotion"], price=Decimal(was), promo_base=Decimal(was), promo_price=Decimal(now), promo_end=end)
    canvas = Image.new("P", (size[0] + 40, size[1] + 40), 0)
    draw_promo_row(canvas, font_path, content, layout, 1)
    assert layout.promo_row.contains(Box(*ink_box(canvas)))


async def test_renders_off_the_event_loop(font_path: Path) -> None:
    """render_label is blocking work: two renders in executor threads give identical images."""
    loop = asyncio.get_running_loop()
    spec = LabelSpec(296, 128, "bwr")
    jobs = [loop.run_in_executor(None, render_label, SAMPLES["by_weight"], spec) for _ in range(2)]
    first, second = await asyncio.wait_for(asyncio.gather(*jobs), timeout=30)
    assert first.tobytes() == second.tobytes()
