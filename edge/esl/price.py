"""The big price figure: small '¥', large yuan digits, superscript fen and the unit beneath them."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

from PIL import ImageDraw

from edge.esl.errors import LayoutError
from edge.esl.fonts import font
from edge.esl.geometry import Box
from edge.esl.label import to_fen

MIN_PRICE_SIZE = 16


@dataclass(frozen=True)
class Glyphs:
    """One run of text of the price figure: where its baseline starts and how it is drawn."""

    text: str
    size: int
    stroke: int
    x: int
    baseline: int


def _pieces(yuan: str, fen: str, unit: str, size: int) -> list[tuple[str, int, int]]:
    """(text, size, stroke) of '¥', yuan, '.fen' and '/unit' for a big-digit size."""
    bold = max(1, size // 48)
    small = max(10, round(size * 0.45))
    unit_size = max(10, round(size * 0.28))
    return [
        ("¥", max(10, round(size * 0.42)), 0),
        (yuan, size, bold),
        (f".{fen}", small, min(1, bold - 1)),
        (f"/{unit}", unit_size, 0),
    ]


def arrange(path: Path, yuan: str, fen: str, unit: str, size: int) -> tuple[list[Glyphs], list[Box]]:
    """Place the runs around a baseline at y=0; returns them with their ink boxes."""
    runs = _pieces(yuan, fen, unit, size)
    boxes = [font(path, s).getbbox(t, mode="1", anchor="ls", stroke_width=k) for t, s, k in runs]
    gap = max(2, size // 14)
    (yen, big, small, unit_run) = runs
    yen_bb, big_bb, small_bb, unit_bb = boxes
    cap_top = big_bb[1]
    x = -yen_bb[0]
    glyphs = [Glyphs(yen[0], yen[1], yen[2], x, -yen_bb[3])]
    x += yen_bb[2] + gap - big_bb[0]
    glyphs.append(Glyphs(big[0], big[1], big[2], x, 0))
    x += big_bb[2] + gap
    glyphs.append(Glyphs(small[0], small[1], small[2], x - small_bb[0], cap_top - small_bb[1]))
    glyphs.append(Glyphs(unit_run[0], unit_run[1], unit_run[2], x - unit_bb[0], -unit_bb[3]))
    inks = [
        Box(g.x + bb[0], g.baseline + bb[1], g.x + bb[2], g.baseline + bb[3])
        for g, bb in zip(glyphs, boxes, strict=True)
    ]
    return glyphs, inks


@lru_cache(maxsize=4096)
def fit_price(path: Path, price: Decimal, unit: str, width: int, height: int, max_size: int) -> tuple[Glyphs, ...]:
    """The largest price figure that fits width x height, centred in it (positions relative to the box)."""
    yuan, fen = str(to_fen(price)).split(".")
    for size in range(max_size, MIN_PRICE_SIZE - 1, -2):
        glyphs, inks = arrange(path, yuan, fen, unit, size)
        ink = Box(min(b.x0 for b in inks), min(b.y0 for b in inks), max(b.x1 for b in inks), max(b.y1 for b in inks))
        if ink.width <= width and ink.height <= height:
            dx = (width - ink.width) // 2 - ink.x0
            dy = (height - ink.height) // 2 - ink.y0
            return tuple(Glyphs(g.text, g.size, g.stroke, g.x + dx, g.baseline + dy) for g in glyphs)
    raise LayoutError(f"price {price}/{unit} does not fit {width}x{height}px")


def draw_price(draw: ImageDraw.ImageDraw, path: Path, price: Decimal, unit: str, box: Box, max_size: int, fill: int) -> None:
    """Draw the price figure as large as box allows."""
    for g in fit_price(path, price, unit, box.width, box.height, max_size):
        draw.text(
            (box.x0 + g.x, box.y0 + g.baseline),
            g.text,
            font=font(path, g.size),
            fill=fill,
            anchor="ls",
            stroke_width=g.stroke,
            stroke_fill=fill,
        )
