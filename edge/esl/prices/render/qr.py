"""QR codes for scan-to-buy, sized for a phone at shelf distance and cached per URL (segno is slow)."""

from __future__ import annotations

from functools import lru_cache

import segno
from PIL import Image

from edge.esl.prices.render.errors import LayoutError
from edge.esl.prices.render.geometry import Box

QUIET_ZONE = 2  # modules of white around the symbol; the label's white margin adds to it
MIN_MODULE_PX = 2  # below 2 px per module phones miss the code at label distance


@lru_cache(maxsize=4096)
def qr_symbol(url: str) -> Image.Image:
    """The QR symbol of url at one pixel per module, error correction M, no quiet zone (255 = dark)."""
    try:
        code = segno.make(url, error="m", micro=False, boost_error=False)
    except segno.DataOverflowError as err:
        raise LayoutError(f"URL too long for a QR code: {url[:60]}...") from err
    size = code.symbol_size(border=0)[0]
    data = bytes(255 if dark else 0 for row in code.matrix for dark in row)
    return Image.frombytes("L", (size, size), data)


@lru_cache(maxsize=4096)
def _scaled(url: str, module: int) -> Image.Image:
    """The symbol blown up to module x module pixels per module, as a paste mask."""
    symbol = qr_symbol(url)
    return symbol.resize((symbol.width * module, symbol.height * module), Image.Resampling.NEAREST).convert("1")


def draw_qr(image: Image.Image, url: str, box: Box, max_module: int, ink: int = 1) -> Box:
    """Draw url's QR code centred in box at the largest module size that fits; returns the symbol's box."""
    modules = qr_symbol(url).width + 2 * QUIET_ZONE
    module = min(max_module, min(box.width, box.height) // modules)
    if module < MIN_MODULE_PX:
        raise LayoutError(
            f"QR of {url[:60]!r} needs {modules * MIN_MODULE_PX}px, label has {min(box.width, box.height)}px"
        )
    mask = _scaled(url, module)
    side = modules * module
    x = box.x0 + (box.width - side) // 2 + QUIET_ZONE * module
    y = box.y0 + (box.height - side) // 2 + QUIET_ZONE * module
    image.paste(ink, (x, y), mask)
    return Box(x, y, x + mask.width, y + mask.height)
