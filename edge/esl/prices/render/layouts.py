"""Where each part of a label goes, per display size: a wide strip layout and a large panel layout."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from edge.esl.prices.render.content import LabelSpec
from edge.esl.prices.render.fonts import font
from edge.esl.prices.render.geometry import Box
from edge.esl.prices.render.text import ELLIPSIS, FittedText, fit_text, line_height

PANEL_MIN_HEIGHT = 200  # 4.2-inch 400x300 and up; below this the strip layout (2.13", 2.6", 2.9")


@dataclass(frozen=True)
class TextStyle:
    """Font size range and line count allowed for one text field."""

    max_size: int
    min_size: int
    max_lines: int = 1
    stroke: int = 0


@dataclass(frozen=True)
class Layout:
    """Named boxes of one label size; the price column holds promo row, big price and unit line."""

    name: Box
    details: Box
    rule: Box
    qr: Box
    price_column: Box
    promo_row: Box
    price: Box
    promo_price: Box
    unit_line: Box
    band: Box
    sku: Box | None
    name_style: TextStyle
    details_style: TextStyle
    small_style: TextStyle
    max_price_size: int
    max_qr_module: int


def _price_parts(column: Box, row_h: int, unit_h: int) -> tuple[Box, Box, Box, Box]:
    """Split the price column into promo row, price (regular / promo) and unit line."""
    promo_row = Box(column.x0, column.y0, column.x1, column.y0 + row_h)
    unit_line = Box(column.x0, column.y1 - unit_h, column.x1, column.y1)
    price = Box(column.x0, column.y0, column.x1, unit_line.y0)
    promo_price = Box(column.x0, promo_row.y1, column.x1, unit_line.y0)
    return promo_row, price, promo_price, unit_line


def _strip(width: int, height: int) -> Layout:
    """2.13"/2.9"-class labels: name across the top, QR bottom-left, big price bottom-right."""
    margin = 4
    name = Box(margin, 2, width - margin, 2 + round(height * 0.25))
    details = Box(margin, name.y1, width - margin, name.y1 + 15)
    rule = Box(margin, details.y1 + 2, width - margin, details.y1 + 3)
    lower_top = rule.y1 + 2
    side = height - lower_top
    qr = Box(0, lower_top, side, height)
    band = Box(qr.x1, rule.y1 + 1, width, height)
    column = Box(band.x0 + 4, band.y0 + 2, width - margin, height - 2)
    promo_row, price, promo_price, unit_line = _price_parts(column, 15, 15)
    return Layout(
        name=name,
        details=details,
        rule=rule,
        qr=qr,
        price_column=column,
        promo_row=promo_row,
        price=price,
        promo_price=promo_price,
        unit_line=unit_line,
        band=band,
        sku=None,
        name_style=TextStyle(max_size=26, min_size=12, max_lines=2),
        details_style=TextStyle(max_size=12, min_size=12),
        small_style=TextStyle(max_size=12, min_size=10),
        max_price_size=72,
        max_qr_module=3,
    )


def _panel(width: int, height: int) -> Layout:
    """4.2"-class labels: two-line name, details, then QR and SKU left of a large price."""
    margin = 8
    name = Box(margin, 6, width - margin, 6 + round(height * 0.22))
    details = Box(margin, name.y1 + 2, width - margin, name.y1 + 2 + 40)
    rule = Box(margin, details.y1 + 3, width - margin, details.y1 + 5)
    lower_top = rule.y1 + 4
    sku_h = 18
    side = min(height - lower_top - sku_h - 4, width // 3)
    qr = Box(margin - 4, lower_top, margin - 4 + side, lower_top + side)
    sku = Box(margin, qr.y1, qr.x1, qr.y1 + sku_h)
    band = Box(qr.x1 + 4, rule.y1 + 2, width, height)
    column = Box(band.x0 + 8, band.y0 + 4, width - margin, height - 6)
    promo_row, price, promo_price, unit_line = _price_parts(column, 24, 24)
    return Layout(
        name=name,
        details=details,
        rule=rule,
        qr=qr,
        price_column=column,
        promo_row=promo_row,
        price=price,
        promo_price=promo_price,
        unit_line=unit_line,
        band=band,
        sku=sku,
        name_style=TextStyle(max_size=44, min_size=18, max_lines=2),
        details_style=TextStyle(max_size=18, min_size=14, max_lines=2),
        small_style=TextStyle(max_size=18, min_size=12),
        max_price_size=140,
        max_qr_module=4,
    )


def layout_for(spec: LabelSpec) -> Layout:
    """The layout of a display: panel for tall displays, strip otherwise."""
    builder = _panel if spec.height >= PANEL_MIN_HEIGHT else _strip
    return builder(spec.width, spec.height)



#: A text whose glyph advances at a style's smallest size fill at most this share of its line is drawn whole
#: without being fitted (ink lies inside the advances but for a pixel or two of overhang).
_SURE_FIT = 0.9


@lru_cache(maxsize=65536)
def _advance(path: Path, size: int, char: str) -> float:
    """How far one character moves the pen at a size."""
    return font(path, size).getlength(char)


def fitted(text: str, box: Box, style: TextStyle, path: Path) -> FittedText:
    """`text` fitted to a box in a style, the call render.py makes (cached: the renderer's next label reuses it)."""
    return fit_text(text, path, box.width, box.height, style.max_size, style.min_size, style.max_lines, style.stroke)


def visible(fitted_text: FittedText) -> str:
    """The characters a fitted text shows, spaces and a cut's '…' left out (to tell which part of a line was cut)."""
    return "".join(fitted_text.lines).replace(" ", "").removesuffix(ELLIPSIS)


def drawn_whole(text: str, box: Box, style: TextStyle, path: Path) -> bool:
    """Whether the label draws every character of `text` in `box` (render.py's fit cuts nothing with '…').

    What the layout shows, not pixels: a text well inside one line at the style's smallest size is whole (the
    fit shrinks to that size before it wraps or cuts); any other is fitted as the renderer fits it. Measures with
    FreeType, which Pillow runs holding the GIL, so it may run on another thread beside a render.
    """
    text = " ".join(text.split())
    if line_height(path, style.min_size, style.stroke) <= box.height:
        width = sum(_advance(path, style.min_size, c) for c in text) + 2 * style.stroke
        if width <= box.width * _SURE_FIT:
            return True
    return "".join(fitted(text, box, style, path).lines).replace(" ", "") == text.replace(" ", "")
