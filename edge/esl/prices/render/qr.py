"""QR codes for scan-to-buy, sized for a phone at shelf distance, encoded by zxing-cpp and cached per URL."""

from __future__ import annotations

from functools import lru_cache

import zxingcpp
from PIL import Image, ImageOps

from edge.esl.prices.render.errors import LayoutError
from edge.esl.prices.render.geometry import Box

QUIET_ZONE = 2  # modules of white around the symbol; the label's white margin adds to it
MIN_MODULE_PX = 2  # below 2 px per module phones miss the code at label distance


@lru_cache(maxsize=4096)
def qr_symbol(url: str) -> Image.Image:
    """The QR symbol of url at one pixel per module, error correction M, no quiet zone (255 = dark).

    A full QR code (never Micro QR) of the smallest version holding the URL at level M (15 % of
    the symbol may be lost), as libzint inside zxing-cpp chooses it; the level is not raised when
    the version has room to spare.
    """
    try:
        url.encode("utf-8")  # zxing-cpp answers a lone surrogate with a bare RuntimeError
        code = zxingcpp.create_barcode(url, zxingcpp.BarcodeFormat.QRCode, ec_level="M")
    except ValueError as err:  # too long for any version, empty, or not encodable
        raise LayoutError(f"URL cannot be a QR code ({err}): {url[:60]!r}") from err
    light = code.to_image(add_quiet_zones=False)  # 0 = dark, 255 = light
    height, width = light.shape
    return ImageOps.invert(Image.frombuffer("L", (width, height), light, "raw", "L", 0, 1))


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
