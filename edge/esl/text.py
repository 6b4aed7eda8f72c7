"""Fit text into a box (shrink, then wrap to more lines, then ellipsize) and draw it without grey."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from PIL import ImageDraw, ImageFont

from edge.esl.errors import LayoutError
from edge.esl.fonts import font
from edge.esl.geometry import Box

ELLIPSIS = "…"
# Latin words and numbers stay whole when wrapping; every other character is a break opportunity.
_TOKENS = re.compile(r"[A-Za-z0-9][A-Za-z0-9.,'%&+\-/]*|\s+|.")


@dataclass(frozen=True)
class FittedText:
    """Lines of text and the font size at which they fit their box."""

    lines: tuple[str, ...]
    size: int
    line_height: int
    stroke: int = 0


def ink_extent(face: ImageFont.FreeTypeFont, text: str, stroke: int = 0) -> tuple[int, int, int]:
    """(left offset, width, bottom) of the inked pixels of one line drawn at anchor 'la'."""
    x0, _y0, x1, y1 = face.getbbox(text, mode="1", anchor="la", stroke_width=stroke)
    left = min(0, x0)
    return left, x1 - left, y1


def line_height(face: ImageFont.FreeTypeFont, stroke: int = 0) -> int:
    """Vertical pitch of one line: ascent + descent, plus the stroke on both sides."""
    ascent, descent = face.getmetrics()
    return ascent + descent + 2 * stroke


def _fits(face: ImageFont.FreeTypeFont, text: str, width: int, height: int, stroke: int) -> bool:
    """True when one line of text stays inside width x height."""
    _left, w, bottom = ink_extent(face, text, stroke)
    return w <= width and bottom <= height


def wrap(face: ImageFont.FreeTypeFont, text: str, width: int, stroke: int = 0) -> list[str]:
    """Greedy line breaking: between CJK characters or at spaces, splitting over-long words."""
    lines: list[str] = []
    current = ""
    pieces: list[str] = []
    for token in _TOKENS.findall(text):
        pieces.extend(list(token) if not _fits(face, token, width, 10**6, stroke) else [token])
    for piece in pieces:
        candidate = current + piece
        if _fits(face, candidate, width, 10**6, stroke):
            current = candidate
        elif piece.isspace():
            lines.append(current)
            current = ""
        else:
            if current.strip():
                lines.append(current.rstrip())
            current = piece
    if current.strip():
        lines.append(current.rstrip())
    return [line.strip() for line in lines if line.strip()]


def ellipsize(face: ImageFont.FreeTypeFont, text: str, width: int, stroke: int = 0) -> str:
    """Cut text so that text + '…' fits the width."""
    while text and not _fits(face, text + ELLIPSIS, width, 10**6, stroke):
        text = text[:-1]
    return text.rstrip() + ELLIPSIS


@lru_cache(maxsize=4096)
def fit_text(
    text: str,
    path: Path,
    width: int,
    height: int,
    max_size: int,
    min_size: int,
    max_lines: int = 1,
    stroke: int = 0,
) -> FittedText:
    """Largest size in [min_size, max_size] showing all the text on up to max_lines, else ellipsized."""
    text = " ".join(text.split())
    sizes = range(max_size, min_size - 1, -1)
    for lines_wanted in range(1, max_lines + 1):
        for size in sizes:
            face = font(path, size)
            pitch = line_height(face, stroke)
            if pitch * lines_wanted > height:
                continue
            lines = wrap(face, text, width, stroke) if lines_wanted > 1 else [text]
            if len(lines) <= lines_wanted and all(_fits(face, ln, width, pitch, stroke) for ln in lines):
                return FittedText(tuple(lines), size, pitch, stroke)
    face = font(path, min_size)
    pitch = line_height(face, stroke)
    room = min(max_lines, height // pitch)
    if room < 1:
        raise LayoutError(f"a {height}px box cannot hold one line at {min_size}px")
    lines = wrap(face, text, width, stroke)
    kept = lines[: room - 1]
    kept.append(ellipsize(face, lines[room - 1] if lines else text, width, stroke))
    return FittedText(tuple(kept), min_size, pitch, stroke)


def draw_fitted(
    draw: ImageDraw.ImageDraw,
    fitted: FittedText,
    path: Path,
    box: Box,
    fill: int,
    align: str = "left",
    valign: str = "top",
) -> None:
    """Draw fitted lines inside box; draw.fontmode must be '1' so no grey pixels appear."""
    face = font(path, fitted.size)
    block = fitted.line_height * len(fitted.lines)
    y = box.y0 + {"top": 0, "middle": (box.height - block) // 2, "bottom": box.height - block}[valign]
    for line in fitted.lines:
        left, width, _bottom = ink_extent(face, line, fitted.stroke)
        x = box.x0 + {"left": 0, "center": (box.width - width) // 2, "right": box.width - width}[align]
        draw.text(
            (x - left, y), line, font=face, fill=fill, anchor="la", stroke_width=fitted.stroke, stroke_fill=fill
        )
        y += fitted.line_height
