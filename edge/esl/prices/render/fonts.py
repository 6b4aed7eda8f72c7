"""Find a CJK font on the gateway and keep one loaded `FreeTypeFont` per size."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from edge.esl.prices.render.errors import FontNotFoundError

# Debian packages, smallest first: fonts-wqy-microhei (~5 MB), fonts-wqy-zenhei, fonts-noto-cjk (~90 MB).
DEFAULT_FONT_PATHS: tuple[Path, ...] = (
    Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),
    Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Medium.ttc"),
    Path("/usr/share/fonts/truetype/noto/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc"),
)

_CJK_PROBE = "价"  # U+4EF7, in every CJK font
_MISSING_PROBE = "\U0010fffd"  # a private-use code point no font maps: renders as .notdef


def _has_cjk(path: Path) -> bool:
    """True when the font draws a CJK ideograph differently from its missing-glyph box."""
    face = ImageFont.truetype(str(path), 24)

    def pixels(text: str) -> bytes:
        """The glyph's rendering, to compare against the missing-glyph box."""
        image = Image.new("1", (32, 32))
        ImageDraw.Draw(image).text((0, 0), text, font=face, fill=1)
        return image.tobytes()

    return pixels(_CJK_PROBE) != pixels(_MISSING_PROBE)


def find_font(configured: str | Path | None = None, candidates: Sequence[Path] = DEFAULT_FONT_PATHS) -> Path:
    """Return the configured font, else the first installed default; never a font without CJK glyphs."""
    tried = [Path(configured)] if configured else list(candidates)
    for path in tried:
        if not path.is_file():
            continue
        try:
            usable = _has_cjk(path)
        except OSError as err:
            raise FontNotFoundError(tried, f"cannot load font {path}: {err}") from err
        if not usable:
            raise FontNotFoundError(tried, f"font {path} has no CJK glyphs")
        return path
    raise FontNotFoundError(tried)


@lru_cache(maxsize=8)
def resolve_font(configured: str | Path | None = None) -> Path:
    """`find_font`, cached: probing the disk on every label would be wasted work."""
    return find_font(configured)


@lru_cache(maxsize=512)
def font(path: Path, size: int) -> ImageFont.FreeTypeFont:
    """One size of a font; loading takes milliseconds, hence cached per (path, size).

    Basic layout, not Raqm: Chinese labels need no shaping, and Raqm costs ~200 us per measured string.
    """
    return ImageFont.truetype(str(path), size, layout_engine=ImageFont.Layout.BASIC)
