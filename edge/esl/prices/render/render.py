"""Render a shelf label: product data in, a palette image the framebuffer packer can pack out."""

from __future__ import annotations

import threading
from pathlib import Path

from PIL import Image, ImageDraw

from edge.esl.prices.render.content import Colours, LabelContent, LabelSpec, format_yuan
from edge.esl.prices.render.fonts import resolve_font
from edge.esl.prices.render.geometry import Box
from edge.esl.prices.render.glyphs import paste_run, text_run
from edge.esl.prices.render.layouts import Layout, TextStyle, layout_for
from edge.esl.prices.render.price import draw_price
from edge.esl.prices.render.qr import draw_qr
from edge.esl.prices.render.text import draw_fitted, fit_text

# Palette indices: the contract with the framebuffer packer.
WHITE, BLACK, ACCENT = 0, 1, 2
PALETTES: dict[Colours, tuple[int, ...]] = {
    Colours.BW: (255, 255, 255, 0, 0, 0),
    Colours.BWR: (255, 255, 255, 0, 0, 0, 255, 0, 0),
    Colours.BWY: (255, 255, 255, 0, 0, 0, 255, 255, 0),
}

# FreeType faces and the run caches are shared; one render at a time keeps them consistent across threads.
_render_lock = threading.Lock()


def _band_colours(colours: Colours) -> tuple[int, int]:
    """(background, text) of the promotion band: red with white, yellow with black, else inverse black."""
    return {Colours.BWR: (ACCENT, WHITE), Colours.BWY: (ACCENT, BLACK), Colours.BW: (BLACK, WHITE)}[colours]


def _draw_text(image: Image.Image, path: Path, text: str, box: Box, style: TextStyle, fill: int, **where: str) -> None:
    """Fit text to box with the style's size range and draw it."""
    fitted = fit_text(text, path, box.width, box.height, style.max_size, style.min_size, style.max_lines, style.stroke)
    draw_fitted(image, fitted, path, box, fill, **where)


def draw_promo_row(image: Image.Image, path: Path, content: LabelContent, layout: Layout, fill: int) -> None:
    """The original price (`promo_base`) struck through on the left, promotion end date on the right; on a narrow
    row the '原价' prefix goes first, then the end date, so the struck price always shows. Without a base (none
    proven by the price history) only the end date is drawn: no price is ever struck through on trust."""
    row, size = layout.promo_row, layout.small_style.max_size
    gap = max(2, size // 6)
    until = text_run(path, size, f"促销至 {content.promo_end:%m-%d}" if content.promo_end else "促销")
    if content.promo_base is None:
        paste_run(image, until, row.x1 - until.mask.width - until.x0, row.y0, fill)
        return
    label = text_run(path, size, "原价")
    was = text_run(path, size, format_yuan(content.promo_base))
    label_w, until_w = label.x1 - min(0, label.x0) + gap, until.mask.width + 2 * gap
    for show_label, show_until in ((True, True), (False, True), (False, False)):
        if label_w * show_label + was.mask.width + until_w * show_until <= row.width:
            break
    x = row.x0
    if show_label:
        paste_run(image, label, x - min(0, label.x0), row.y0, fill)
        x += label_w
    paste_run(image, was, x - was.x0, row.y0, fill)
    digit = text_run(path, size, "0")
    strike_y = row.y0 + (digit.y0 + digit.y1) // 2
    ImageDraw.Draw(image).line((x, strike_y, x + was.mask.width - 1, strike_y), fill=fill, width=max(1, size // 12))
    if show_until:
        paste_run(image, until, row.x1 - until.mask.width - until.x0, row.y0, fill)


def _draw(image: Image.Image, content: LabelContent, spec: LabelSpec, path: Path) -> None:
    """Lay the content out on a blank label."""
    layout = layout_for(spec)
    _draw_text(image, path, content.name, layout.name, layout.name_style, BLACK, valign="middle")
    details = content.details()
    if details:
        _draw_text(image, path, " · ".join(details), layout.details, layout.details_style, BLACK)
    draw = ImageDraw.Draw(image)
    draw.rectangle(layout.rule.xy, fill=BLACK)
    draw_qr(image, content.qr_url, layout.qr, layout.max_qr_module, BLACK)
    if layout.sku is not None:
        _draw_text(image, path, content.sku, layout.sku, layout.small_style, BLACK, align="center")
    ink, price_box = BLACK, layout.price
    if content.on_promotion:
        background, ink = _band_colours(spec.colours)
        draw.rectangle(layout.band.xy, fill=background)
        draw_promo_row(image, path, content, layout, ink)
        price_box = layout.promo_price
    draw_price(image, path, content.shown_price, content.unit_text, price_box, layout.max_price_size, ink)
    _draw_text(image, path, content.unit_price_line(), layout.unit_line, layout.small_style, ink, align="center")


def render_label(content: LabelContent, spec: LabelSpec, font_path: str | Path | None = None) -> Image.Image:
    """Render one label as a mode-'P' image of the display's size: 0 white, 1 black, 2 red/yellow.

    Blocking (a few ms of CPU); call it from an executor, not on the event loop. Deterministic:
    the same content, spec and font give byte-identical pixels. Raises RenderError subclasses.
    """
    path = resolve_font(font_path)
    image = Image.new("P", (spec.width, spec.height), WHITE)
    image.putpalette(PALETTES[spec.colours])
    with _render_lock:
        _draw(image, content, spec, path)
    return image

