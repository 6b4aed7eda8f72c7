"""ESC/POS encoding against the simulator's parser: raster bands, text, cuts, barcodes, Chinese mode (pure, no port)."""

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
    assert page.lines == ["苹果 6.47"] and page.image is None and parser.resets == 1 and not parser.errors


def test_unknown_commands_are_reported_errors() -> None:
    """An unknown command cannot be skipped safely (its length is unknown): the parser reports it with its offset."""
    parser = EscPosParser()
    parser.feed(b"\x1b\xfeA\n\x1d\xfe" + escpos.FULL_CUT)
    assert parser.errors == ["byte 0: unknown command ESC 0xFE", "byte 4: unknown command GS 0xFE"]
    assert parser.pages[0].errors == parser.errors and parser.pages[0].lines == ["A"]


# What python-escpos 3.1 sends (escpos.printer.Dummy) for: set(align="center", bold=True); textln("Apple 6.47");
# barcode("6901234567892", "EAN13", function_type="A"); barcode("{B012345678", "CODE128", function_type="B");
# textln("thanks"); qr("https://shop.example.cn/p/1", native=True); cut()
PYTHON_ESCPOS = bytes.fromhex(
    "1b45011b61011b74004170706c6520362e34370a1b61011d68401d77031d66001d48021d6b0236393031323334353637383932001b6101"
    "1d68401d77031d66001d48021d6b490b7b423031323334353637387468616e6b730a1d286b0400314132001d286b03003143031d286b"
    "03003145301d286b1e0031503068747470733a2f2f73686f702e6578616d706c652e636e2f702f311d286b03003151301b64061d5600"
)


def test_a_real_clients_barcodes_do_not_leak_into_text() -> None:
    """GS k in both forms (m 0-6 NUL-terminated, m 65-78 with a length byte), GS h/w/f/H and GS ( k with their lengths."""
    parser = EscPosParser()
    for i in range(0, len(PYTHON_ESCPOS), 7):  # split anywhere
        parser.feed(PYTHON_ESCPOS[i : i + 7])
    (page,) = parser.pages
    assert page.lines == ["Apple 6.47", "thanks"] and parser.errors == []
    assert page.barcodes == [(2, "6901234567892"), (73, "{B012345678")]


def test_chinese_text_round_trips_in_chinese_mode() -> None:
    """The driver wraps GB18030 text in FS & ... FS .; without Chinese mode the same bytes read as CP437, as a printer shows them."""
    line = "称重标签 红富士苹果 ¥6.47/500g"
    data = escpos.text(line)
    assert data.startswith(b"\x1c&") and data.endswith(b"\x1c.\n") and escpos.text("OK 6.47") == b"OK 6.47\n"
    parser = EscPosParser()
    parser.feed(escpos.INIT + data + b"\x1dV\x00")
    assert parser.pages[0].lines == [line] and parser.errors == []
    bare = EscPosParser()
    bare.feed(escpos.INIT + line.encode("gb18030") + b"\n\x1dV\x00")
    assert bare.pages[0].lines == [line.encode("gb18030").decode("cp437")]


def test_text_cannot_smuggle_commands() -> None:
    """Control characters in a product name are printed as '?', never sent as commands."""
    parser = EscPosParser()
    parser.feed(escpos.text("A\x1dV\x00B 苹果") + escpos.FULL_CUT)
    assert len(parser.pages) == 1 and parser.pages[0].lines == ["A?V?B 苹果"] and parser.errors == []


@settings(max_examples=200)
@given(st.binary(max_size=300))
def test_parser_never_raises(data: bytes) -> None:
    """Any bytes: pages, text and reported errors, never an exception (the simulator thread must not die)."""
    parser = EscPosParser()
    parser.feed(data)


def test_feed_range_is_checked() -> None:
    try:
        escpos.feed(300)
    except escpos.PrinterError:
        return
    raise AssertionError("feed(300) must be refused")
