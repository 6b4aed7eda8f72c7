"""Glyph runs (one line of text rasterised as a mask), cached: FreeType rasterisation is the renderer's main
cost, and names, units and most price digits repeat from label to label."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw

from edge.esl.prices.render.fonts import font


@dataclass(frozen=True)
class Run:
    """One line of text rasterised without grey: a '1' mask of its ink and the ink's offset from the
    'la' anchor (left edge, ascender line) it was drawn at."""

    mask: Image.Image
    x0: int
    y0: int
    ascent: int

    @property
    def x1(self) -> int:
        """Right edge of the ink, relative to the anchor."""
        return self.x0 + self.mask.width

    @property
    def y1(self) -> int:
        """Bottom edge of the ink, relative to the anchor."""
        return self.y0 + self.mask.height


@lru_cache(maxsize=8192)
def text_run(path: Path, size: int, text: str, stroke: int = 0) -> Run:
    """Rasterise text once per (font, size, stroke) with FreeType's monochrome renderer."""
    face = font(path, size)
    x0, y0, x1, y1 = face.getbbox(text, mode="1", anchor="la", stroke_width=stroke)
    mask = Image.new("1", (max(1, x1 - x0), max(1, y1 - y0)), 0)
    draw = ImageDraw.Draw(mask)
    draw.fontmode = "1"
    draw.text((-x0, -y0), text, font=face, fill=1, anchor="la", stroke_width=stroke, stroke_fill=1)
    return Run(mask, x0, y0, face.getmetrics()[0])


def paste_run(image: Image.Image, run: Run, x: int, y: int, fill: int) -> None:
    """Ink a run whose 'la' anchor is at (x, y) with palette index fill."""
    image.paste(fill, (x + run.x0, y + run.y0), run.mask)
