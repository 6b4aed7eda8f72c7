"""The label's QR code: the symbol a phone at shelf distance needs, made fast enough for cold renders (issue 11, item 18)."""

from __future__ import annotations

import statistics
import time

import numpy as np
import pytest
import zxingcpp
from PIL import Image

from edge.esl.prices.render.errors import LayoutError
from edge.esl.prices.render.qr import qr_symbol

URLS = ["https://shop.example.cn/p/6901028075831", "https://shop.example.cn/p/2000001", "https://shop.example.cn/p/苹果-红富士"]


def _read(symbol: Image.Image) -> zxingcpp.Barcode:
    """Decode a 1-px-per-module symbol (255 = dark) at 4 px per module with a 4-module white margin."""
    light = 255 - np.asarray(symbol)
    big = np.kron(light, np.ones((4, 4), dtype=np.uint8))
    found = zxingcpp.read_barcodes(np.pad(big, 16, constant_values=255))
    assert len(found) == 1
    return found[0]


@pytest.mark.parametrize("url", URLS)
def test_symbol_is_a_full_qr_code_at_level_m(url: str) -> None:
    """A regular QR code (never Micro QR), error correction M, the smallest version, no quiet zone of its own."""
    symbol = qr_symbol(url)
    code = _read(symbol)
    assert code.text == url and code.format == zxingcpp.BarcodeFormat.QRCode
    assert code.extra["ECLevel"] == "M"
    version = int(code.extra["Version"])
    assert symbol.size == (17 + 4 * version, 17 + 4 * version)
    dark = np.asarray(symbol) == 255
    assert dark[0].any() and dark[-1].any() and dark[:, 0].any() and dark[:, -1].any()  # finder patterns touch every edge


def test_symbol_version_grows_with_the_url_only_as_needed() -> None:
    """Level M in byte mode: 14 characters fit version 1, 15 need version 2, a 40-character URL version 3 (as segno chose)."""
    assert qr_symbol("https://x.cn/1").size == (21, 21)
    assert qr_symbol("https://x.cn/12").size == (25, 25)
    assert qr_symbol("https://shop.example.cn/p/6901028075831").size == (29, 29)


@pytest.mark.parametrize("url", ["https://shop.example.cn/p/\ud800", "https://shop.example.cn/p/" + "x" * 3000, ""])
def test_unencodable_url_is_a_layout_error(url: str) -> None:
    """A URL no QR code can hold (lone surrogate, too long, empty) is refused as the label's layout error."""
    with pytest.raises(LayoutError, match="QR"):
        qr_symbol(url)


def test_new_url_costs_well_under_a_millisecond_of_cpu() -> None:
    """A cold render encodes a never-seen URL: the median CPU time per symbol stays under 1 ms (segno took ~4 ms)."""
    samples = []
    for i in range(60):
        start = time.thread_time()
        qr_symbol(f"https://shop.example.cn/p/69{i:011d}-cpu")
        samples.append(time.thread_time() - start)
    assert statistics.median(samples) < 0.001, f"median {statistics.median(samples) * 1000:.2f} ms"
