"""Label image format: pack/unpack round trips, refusals, content hash."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from devices.esl.errors import FramebufferError
from devices.esl.framebuffer import content_hash, pack, packed_size, unpack
from devices.esl.info import DisplayType


def _image(pixels: np.ndarray) -> Image.Image:
    """A mode P image of palette indices."""
    return Image.frombytes("P", (pixels.shape[1], pixels.shape[0]), pixels.astype(np.uint8).tobytes())


@settings(max_examples=40, deadline=None)
@given(
    st.integers(1, 40), st.integers(1, 20), st.sampled_from([DisplayType(1), DisplayType(6), DisplayType(7)]),
    st.booleans(), st.integers(0, 2**32 - 1),
)
def test_round_trip_any_size(width: int, height: int, display: DisplayType, compress: bool, seed: int) -> None:
    """Every pixel comes back, for odd widths too, compressed or not."""
    colours = 2 if display == DisplayType.BLACK_WHITE else 3
    pixels = np.random.default_rng(seed).integers(0, colours, size=(height, width))
    data = pack(_image(pixels), display, compress=compress)
    if not compress:
        assert len(data) == packed_size(width, height, display)
    back = unpack(data, width, height, display)
    assert back.mode == "P"
    assert np.array_equal(np.asarray(back), pixels)


def test_planes_layout_msb_first() -> None:
    """Black plane then accent plane, leftmost pixel in the most significant bit, 1 = ink."""
    pixels = np.zeros((1, 9), dtype=np.uint8)
    pixels[0, 0], pixels[0, 8], pixels[0, 1] = 1, 1, 2
    data = pack(_image(pixels), DisplayType.RED_BLACK_WHITE, compress=False)
    assert data[:6] == bytes.fromhex("00 0900 0100 02")
    assert data[6:] == bytes((0x80, 0x80, 0x40, 0x00))


def test_palette_shows_accent_colour() -> None:
    """The unpacked palette maps index 2 to red or yellow by display type."""
    img = _image(np.full((2, 2), 2))
    red = unpack(pack(img, DisplayType.RED_BLACK_WHITE), 2, 2, DisplayType.RED_BLACK_WHITE).convert("RGB")
    yellow = unpack(pack(img, DisplayType.YELLOW_BLACK_WHITE), 2, 2, DisplayType.YELLOW_BLACK_WHITE).convert("RGB")
    r, g, b = red.getpixel((0, 0))
    assert r > 150 and g < 80
    r, g, b = yellow.getpixel((0, 0))
    assert r > 150 and g > 150 and b < 80


def test_refusals() -> None:
    """Accent on black/white, wrong mode, unsupported display type, wrong size, corrupt bytes."""
    accent = _image(np.full((4, 4), 2))
    with pytest.raises(FramebufferError):
        pack(accent, DisplayType.BLACK_WHITE)
    with pytest.raises(FramebufferError):
        pack(Image.new("L", (4, 4)), DisplayType.BLACK_WHITE)
    with pytest.raises(FramebufferError):
        pack(accent, DisplayType.FULL_RGB)
    data = pack(accent, DisplayType.RED_BLACK_WHITE)
    with pytest.raises(FramebufferError):
        unpack(data, 5, 4, DisplayType.RED_BLACK_WHITE)
    for bad in (data[:3], data[:-2], data[:6] + b"garbage", b"\x04" + data[1:]):
        with pytest.raises(FramebufferError):
            unpack(bad, 4, 4, DisplayType.RED_BLACK_WHITE)


def test_zip_bomb_is_refused() -> None:
    """A compressed body larger than its header claims is refused without inflating it all."""
    import zlib
    header = pack(_image(np.zeros((1, 8))), DisplayType.BLACK_WHITE)[:6]
    with pytest.raises(FramebufferError):
        unpack(header + zlib.compress(b"\x00" * 10_000_000), 8, 1, DisplayType.BLACK_WHITE)


def test_content_hash_ignores_compression_but_not_pixels() -> None:
    """Same picture, same hash; one pixel changed, another hash."""
    pixels = np.zeros((122, 250), dtype=np.uint8)
    pixels[10:20, 10:200] = 1
    a = _image(pixels)
    assert content_hash(pack(a, 6)) == content_hash(pack(a, 6, compress=False))
    pixels[50, 50] = 2
    assert content_hash(pack(_image(pixels), 6)) != content_hash(pack(a, 6))
