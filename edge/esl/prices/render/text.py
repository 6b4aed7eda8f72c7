"""Fit text into a box (shrink, then wrap to more lines, then ellipsize) and draw it without grey."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from PIL import Image

from edge.esl.prices.render.errors import LayoutError
from edge.esl.prices.render.fonts import font
from edge.esl.prices.render.geometry import Box
from edge.esl.prices.render.glyphs import paste_run, text_run

ELLIPSIS = "…"
# Latin words and numbers stay whole when wrapping; every other character is a break opportunity.
_TOKENS = re.compile(r"[A-Za-z0-9][A-Za-z0-9.,'%&+\-/]*|\s+|.")
_UNBOUNDED = 10**6


@dataclass(frozen=True)
class FittedText:
    """Lines of text and the font size at which they fit their box."""

    lines: tuple[str, ...]
    size: int
    line_height: int
    stroke: int = 0


@lru_cache(maxsize=16384)
def ink_extent(path: Path, size: int, text: str, stroke: int = 0) -> tuple[int, int, int]:
    """(left offset, width, bottom) of the inked pixels of one line drawn at anchor 'la' (measured, not drawn)."""
    x0, _y0, x1, y1 = font(path, size).getbbox(text, mode="1", anchor="la", stroke_width=stroke)
    left = min(0, x0)
    return left, x1 - left, y1


def line_height(path: Path, size: int, stroke: int = 0) -> int:
    """Vertical pitch of one line: ascent + descent, plus the stroke on both sides."""
    ascent, descent = font(path, size).getmetrics()
    return ascent + descent + 2 * stroke


def _fits(path: Path, size: int, text: str, width: int, height: int, stroke: int) -> bool:
    """True when one line of text stays inside width x height."""
    _left, w, bottom = ink_extent(path, size, text, stroke)
    return w <= width and bottom <= height


def wrap(path: Path, size: int, text: str, width: int, stroke: int = 0) -> list[str]:
    """Greedy line breaking: between CJK characters or at spaces, splitting over-long words."""
    pieces: list[str] = []
    for token in _TOKENS.findall(text):
        whole = _fits(path, size, token, width, _UNBOUNDED, stroke)
        pieces.extend([token] if whole else list(token))
    lines: list[str] = []
    current = ""
    for piece in pieces:
        candidate = current + piece
        if _fits(path, size, candidate, width, _UNBOUNDED, stroke):
            current = candidate
        elif piece.isspace():
            lines.append(current)
            current = ""
        else:
            lines.append(current)
            current = piece
    lines.append(current)
    return [line.strip() for line in lines if line.strip()]


def ellipsize(path: Path, size: int, text: str, width: int, stroke: int = 0) -> str:
    """Cut text so that text + '…' fits the width."""
    while text and not _fits(path, size, text + ELLIPSIS, width, _UNBOUNDED, stroke):
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
    _left, full_width, _bottom = ink_extent(path, max_size, text, stroke)
    # Width scales almost linearly with size: start one line just above the estimate, not at max_size.
    one_line_start = min(max_size, max_size * width // max(1, full_width) + 1)
    for lines_wanted in range(1, max_lines + 1):
        for size in range(one_line_start if lines_wanted == 1 else max_size, min_size - 1, -1):
            pitch = line_height(path, size, stroke)
            if pitch * lines_wanted > height:
                continue
            lines = wrap(path, size, text, width, stroke) if lines_wanted > 1 else [text]
            if len(lines) <= lines_wanted and all(_fits(path, size, ln, width, pitch, stroke) for ln in lines):
                return FittedText(tuple(lines), size, pitch, stroke)
    pitch = line_height(path, min_size, stroke)
    if height < pitch:
        raise LayoutError(f"a {height}px box cannot hold one line at {min_size}px")
    lines = wrap(path, min_size, text, width, stroke) or [text]
    room = min(max_lines, height // pitch, len(lines))
    kept = lines[: room - 1]
    kept.append(ellipsize(path, min_size, lines[room - 1], width, stroke))
    return FittedText(tuple(kept), min_size, pitch, stroke)


def draw_fitted(
    image: Image.Image,
    fitted: FittedText,
    path: Path,
    box: Box,
    fill: int,
    align: str = "left",
    valign: str = "top",
) -> None:
    """Draw fitted lines inside box in palette index fill."""
    block = fitted.line_height * len(fitted.lines)
    y = box.y0 + {"top": 0, "middle": (box.height - block) // 2, "bottom": box.height - block}[valign]
    for line in fitted.lines:
        left, width, _bottom = ink_extent(path, fitted.size, line, fitted.stroke)
        x = box.x0 + {"left": 0, "center": (box.width - width) // 2, "right": box.width - width}[align]
        paste_run(image, text_run(path, fitted.size, line, fitted.stroke), x - left, y, fill)
        y += fitted.line_height
