"""The image byte format our label firmware takes (ESLS leaves it vendor-defined), and its content hash.

Layout, all integers little-endian:

    octet 0     flags: bit 0 = body is a zlib stream; bits 7..1 RFU (0)
    octets 1-2  width in pixels (u16)
    octets 3-4  height in pixels (u16)
    octet 5     number of 1-bit planes: 1 (black) or 2 (black, then accent red/yellow)
    body        the planes, each `height` rows of ceil(width / 8) octets, the leftmost
                pixel in the most significant bit, 1 = ink; zlib-compressed when flagged

Contract with the renderer: a Pillow image in mode "P" whose values are palette indices
0 = white, 1 = black, 2 = the accent colour (three-colour displays only).
"""

from __future__ import annotations

import hashlib
import struct
import zlib

import numpy as np
from PIL import Image

from devices.esl.errors import FramebufferError
from devices.esl.info import DisplayType

WHITE, BLACK, ACCENT = 0, 1, 2
FLAG_ZLIB = 0x01
_HEADER = struct.Struct("<BHHB")
_ACCENT_RGB: dict[int, tuple[int, int, int] | None] = {
    DisplayType.BLACK_WHITE: None,
    DisplayType.RED_BLACK_WHITE: (0xD0, 0x10, 0x10),
    DisplayType.YELLOW_BLACK_WHITE: (0xF0, 0xC0, 0x00),
}


def planes_for(display_type: int) -> int:
    """Number of 1-bit planes a display type takes; other display types are not supported."""
    if display_type not in _ACCENT_RGB:
        raise FramebufferError(f"display type 0x{display_type:02X} is not supported by the framebuffer format")
    return 1 if _ACCENT_RGB[display_type] is None else 2


def packed_size(width: int, height: int, display_type: int) -> int:
    """Octets of the uncompressed image, header included."""
    return _HEADER.size + planes_for(display_type) * height * ((width + 7) // 8)


def palette_for(display_type: int) -> list[int]:
    """Flat RGB palette for a mode "P" image: white, black and the display's accent colour."""
    accent = _ACCENT_RGB.get(display_type) or (0x80, 0x80, 0x80)
    return [0xFF, 0xFF, 0xFF, 0, 0, 0, *accent]


def pack(image: Image.Image, display_type: int, *, compress: bool = True) -> bytes:
    """Pack a palette-index image for the label; pixels the display cannot show raise FramebufferError."""
    if image.mode != "P":
        raise FramebufferError(f"expected a mode 'P' image of palette indices, got mode {image.mode!r}")
    planes = planes_for(display_type)
    pixels = np.asarray(image, dtype=np.uint8)
    if int(pixels.max(initial=0)) > planes:
        raise FramebufferError(
            f"pixel value {int(pixels.max())} not allowed on display type 0x{display_type:02X}"
            f" (allowed: 0..{planes})"
        )
    bits = [pixels == BLACK] + ([pixels == ACCENT] if planes == 2 else [])
    body = b"".join(np.packbits(p, axis=1).tobytes() for p in bits)
    flags = 0
    if compress:
        body, flags = zlib.compress(body, 9), FLAG_ZLIB
    return _HEADER.pack(flags, image.width, image.height, planes) + body


def _planes(data: bytes) -> tuple[int, int, int, bytes]:
    """Header fields and the uncompressed plane bytes, checked for size."""
    if len(data) < _HEADER.size:
        raise FramebufferError(f"image data of {len(data)} octets is shorter than the header")
    flags, width, height, planes = _HEADER.unpack_from(data)
    if flags & ~FLAG_ZLIB or planes not in (1, 2):
        raise FramebufferError(f"unsupported image header: flags 0x{flags:02X}, {planes} planes")
    expected = planes * height * ((width + 7) // 8)
    body = bytes(data[_HEADER.size:])
    if flags & FLAG_ZLIB:
        inflater = zlib.decompressobj()
        try:
            body = inflater.decompress(body, expected + 1)
        except zlib.error as err:
            raise FramebufferError(f"corrupt compressed image: {err}") from err
        if not inflater.eof:
            raise FramebufferError("compressed image is truncated or larger than its header says")
    if len(body) != expected:
        raise FramebufferError(f"image body is {len(body)} octets, header implies {expected}")
    return width, height, planes, body


def unpack(data: bytes, width: int, height: int, display_type: int) -> Image.Image:
    """Decode label image bytes back into a mode "P" image (for simulators, previews and checks)."""
    got_w, got_h, planes, body = _planes(data)
    if (got_w, got_h, planes) != (width, height, planes_for(display_type)):
        raise FramebufferError(
            f"image is {got_w}x{got_h} with {planes} plane(s); display wants {width}x{height}"
            f" with {planes_for(display_type)}"
        )
    row = (width + 7) // 8
    raw = np.frombuffer(body, dtype=np.uint8).reshape(planes, height, row)
    bits = np.unpackbits(raw, axis=2)[:, :, :width]
    pixels = bits[0].astype(np.uint8)
    if planes == 2:
        pixels[bits[1] == 1] = ACCENT
    image = Image.frombytes("P", (width, height), pixels.tobytes())
    image.putpalette(palette_for(display_type))
    return image


def content_hash(data: bytes) -> str:
    """SHA-256 of the image content (size, planes, pixels), the same whether or not it was compressed."""
    width, height, planes, body = _planes(data)
    return hashlib.sha256(_HEADER.pack(0, width, height, planes) + body).hexdigest()
