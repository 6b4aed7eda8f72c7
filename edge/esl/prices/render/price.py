"""The big price figure: small '¥', large yuan digits, superscript fen and the unit beneath them."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

from PIL import Image

from edge.esl.prices.render.content import to_fen
from edge.esl.prices.render.errors import LayoutError
from edge.esl.prices.render.geometry import Box
from edge.esl.prices.render.glyphs import Run, text_run

MIN_PRICE_SIZE = 16


@dataclass(frozen=True)
class Placed:
    """One run of the price figure and where its ink goes."""

    run: Run
    ink: Box


def _pieces(yuan: str, fen: str, unit: str, size: int) -> list[tuple[str, int, int]]:
    """(text, size, stroke) of '¥', yuan, '.fen' and '/unit' for a big-digit size."""
    bold = max(1, size // 48)
    return [
        ("¥", max(10, round(size * 0.42)), 0),
        (yuan, size, bold),
        (f".{fen}", max(10, round(size * 0.45)), min(1, bold - 1)),
        (f"/{unit}", max(10, round(size * 0.28)), 0),
    ]


def arrange(path: Path, yuan: str, fen: str, unit: str, size: int) -> list[Placed]:
    """Lay out '¥', yuan, fen (top-aligned with the digits) and unit (on the baseline) around baseline y=0."""
    yen, big, small, per = (text_run(path, s, t, k) for t, s, k in _pieces(yuan, fen, unit, size))
    gap = max(2, size // 14)

    def at(run: Run, x: int, top: int) -> Placed:
        """The run with its ink's top-left corner at (x, top)."""
        return Placed(run, Box(x, top, x + run.mask.width, top + run.mask.height))

    digits_top = big.y0 - big.ascent
    yen_ink = at(yen, 0, big.y1 - big.ascent - yen.mask.height)
    big_ink = at(big, yen_ink.ink.x1 + gap, digits_top)
    right = big_ink.ink.x1 + gap
    return [
        yen_ink,
        big_ink,
        at(small, right, digits_top),
        at(per, right, big.y1 - big.ascent - per.mask.height),
    ]


def _union(placed: list[Placed]) -> Box:
    """The box around every run's ink."""
    inks = [p.ink for p in placed]
    return Box(min(b.x0 for b in inks), min(b.y0 for b in inks), max(b.x1 for b in inks), max(b.y1 for b in inks))


@lru_cache(maxsize=4096)
def fit_price(path: Path, price: Decimal, unit: str, width: int, height: int, max_size: int) -> tuple[Placed, ...]:
    """The largest price figure that fits width x height, centred in it (ink boxes relative to the box)."""
    yuan, fen = str(to_fen(price)).split(".")
    largest = _union(arrange(path, yuan, fen, unit, max_size))
    # Ink scales almost linearly with size: start just above the estimate instead of walking down from max.
    estimate = int(max_size * min(width / largest.width, height / largest.height, 1.0)) + 1
    for size in range(min(max_size, estimate), MIN_PRICE_SIZE - 1, -1):
        placed = arrange(path, yuan, fen, unit, size)
        ink = _union(placed)
        if ink.width <= width and ink.height <= height:
            dx = (width - ink.width) // 2 - ink.x0
            dy = (height - ink.height) // 2 - ink.y0
            return tuple(
                Placed(p.run, Box(p.ink.x0 + dx, p.ink.y0 + dy, p.ink.x1 + dx, p.ink.y1 + dy)) for p in placed
            )
    raise LayoutError(f"price {price}/{unit} does not fit {width}x{height}px")


def draw_price(image: Image.Image, path: Path, price: Decimal, unit: str, box: Box, max_size: int, fill: int) -> None:
    """Draw the price figure as large as box allows, in palette index fill."""
    for placed in fit_price(path, price, unit, box.width, box.height, max_size):
        image.paste(fill, (box.x0 + placed.ink.x0, box.y0 + placed.ink.y0), placed.run.mask)
