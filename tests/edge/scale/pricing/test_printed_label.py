"""Price label rendering: content, barcode fidelity, typed errors."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import barcode as python_barcode
import numpy as np
import pytest

from edge.scale.pricing import barcode
from edge.scale.pricing.printed_label import CJK_FONT, FontMissing, LabelError, LabelSpec, barcode_image, render_label
from edge.scale.pricing.quote import Product, price_pieces, price_weighed

needs_font = pytest.mark.skipif(not CJK_FONT.is_file(), reason="CJK font not installed")
WHEN = datetime(2026, 11, 25, 18, 0)


def _modules(image, module_px: int) -> str:
    """Read the bar pattern back from the middle row, one sample per module."""
    row = np.array(image.convert("L"))[image.height // 2]
    return "".join("1" if v == 0 else "0" for v in row[::module_px]).strip("0")


@pytest.mark.parametrize("module_px", [1, 2, 3])
@pytest.mark.parametrize(("code", "preset", "kind"), [("220012300647007354", "cn18_amount_weight", "code128"), ("2200123012357", "price", "ean13")])
def test_bars_are_dot_exact(code: str, preset: str, kind: str, module_px: int) -> None:
    image = barcode_image(code, preset, LabelSpec(module_px=module_px))
    data = code if kind == "code128" else code[:-1]
    expected = python_barcode.get(kind, data).build()[0].replace("G", "1").strip("0")
    assert _modules(image, module_px) == expected
    row = np.array(image.convert("L"))[image.height // 2]
    runs = np.diff(np.flatnonzero(np.diff(row.astype(int)) != 0))
    assert (runs % module_px == 0).all()


@needs_font
def test_label_shows_the_quote_and_barcode() -> None:
    quote = price_weighed(Product(123, "红富士苹果", Decimal("8.80")), 735)
    code = barcode.build("cn18_amount_weight", prefix=22, item=123, amount_fen=quote.amount_fen, grams=quote.net_grams)
    label = render_label(quote, code, "cn18_amount_weight", packed_at=WHEN)
    assert label.mode == "1" and label.width == 384
    zxingcpp = pytest.importorskip("zxingcpp")
    assert [r.text for r in zxingcpp.read_barcodes(label.convert("L"))] == [code]
    other = render_label(price_weighed(Product(123, "红富士苹果", Decimal("9.80")), 735), code, "cn18_amount_weight", packed_at=WHEN)
    assert not np.array_equal(np.array(label), np.array(other))  # the unit price is drawn


@needs_font
def test_piece_label() -> None:
    quote = price_pieces(Product(9, "鸡蛋", Decimal("0.85"), "piece"), 12)
    code = barcode.build("price", prefix=20, item=9, amount_fen=quote.amount_fen)
    assert render_label(quote, code, "price", packed_at=WHEN).height > 100


def test_missing_font_is_a_typed_error(tmp_path: Path) -> None:
    quote = price_weighed(Product(1, "苹果", Decimal("1.00")), 100)
    spec = replace(LabelSpec(), font_path=tmp_path / "nope.ttc")
    with pytest.raises(FontMissing, match="nope.ttc"):
        render_label(quote, barcode.build("price", prefix=22, item=1, amount_fen=100), "price", packed_at=WHEN, spec=spec)


@needs_font
def test_barcode_wider_than_label_is_refused() -> None:
    quote = price_weighed(Product(1, "苹果", Decimal("1.00")), 100)
    with pytest.raises(LabelError):
        render_label(quote, "220000100010001003", "cn18_amount_weight", packed_at=WHEN, spec=LabelSpec(module_px=4))


def test_invalid_code_is_never_printed() -> None:
    with pytest.raises(LabelError):
        barcode_image("2200123012358", "price")  # wrong check digit
    with pytest.raises(LabelError):
        barcode_image("2200123012357", "cn18_amount_weight")  # wrong layout


def test_a_half_fen_unit_price_is_printed_as_it_is_charged() -> None:
    from edge.scale.pricing.printed_label import label_lines

    quote = price_weighed(Product(10007, "香蕉", Decimal("3.495"), "500g"), 1000)  # 6.99 / kg shown per 500 g
    assert label_lines(quote) == ("香蕉", "净重 1.000 kg", "单价 3.495 元/500g", "总价 ¥6.99")
    assert label_lines(price_pieces(Product(10037, "橙汁", Decimal("21.90"), "piece"), 2))[1:] == ("数量 2 件", "单价 21.90 元/件", "总价 ¥43.80")
