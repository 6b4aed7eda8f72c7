"""ESC/POS encoding against the simulator's parser: raster bands, text, cuts (pure, no port)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from devices.printer import escpos
from devices.printer.simulator import EscPosParser


def _random_image(width: int, height: int, seed: int) -> Image.Image:
    """A seeded random 1-bit image."""
    bits = np.random.default_rng(seed).integers(0, 2, (height, width), dtype=np.uint8) * 255
    return Image.fromarray(bits).convert("1")


@settings(max_examples=30)
@given(st.integers(1, 70), st.integers(1, 40), st.integers(1, 16), st.integers(0, 2**32 - 1))
def test_raster_round_trip_any_size_and_band(width: int, height: int, band: int, seed: int) -> None:
    image = _random_image(width, height, seed)
    parser = EscPosParser()
    parser.feed(escpos.raster(image, max_band_rows=band) + escpos.FULL_CUT)
    (page,) = parser.pages
    assert len(page.bands) == -(-height // band)
    printed = page.image
    assert printed is not None and printed.width == -(-width // 8) * 8
    assert np.array_equal(np.array(printed.crop((0, 0, width, height))), np.array(image))
    assert np.array(printed)[:, width:].all()  # padding is white (no dots)


def test_black_pixel_is_a_set_bit() -> None:
    image = Image.new("1", (8, 1), 1)
    image.putpixel((0, 0), 0)
    assert escpos.raster(image) == bytes([0x1D, 0x76, 0x30, 0, 1, 0, 1, 0, 0x80])


def test_text_feed_cut_and_split_delivery() -> None:
    data = escpos.INIT + escpos.text("苹果 6.47") + escpos.feed(3) + b"\x1b\x61\x01" + escpos.PARTIAL_CUT
    parser = EscPosParser()
    for i in range(len(data)):  # one byte at a time: commands split anywhere
        parser.feed(data[i : i + 1])
    (page,) = parser.pages
    assert page.lines == ["苹果 6.47"] and page.image is None and parser.resets == 1 and not parser.unknown


def test_unknown_commands_are_skipped_not_fatal() -> None:
    parser = EscPosParser()
    parser.feed(b"\x1b\xfeA\n\x1d\xfe" + escpos.FULL_CUT)
    assert parser.unknown == [b"\x1b\xfe", b"\x1d\xfe"] and parser.pages[0].lines == ["A"]


def test_feed_range_is_checked() -> None:
    try:
        escpos.feed(300)
    except escpos.PrinterError:
        return
    raise AssertionError("feed(300) must be refused")
