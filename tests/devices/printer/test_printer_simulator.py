"""Print a rendered price label through the real driver to the pty printer and read the barcode back."""

from __future__ import annotations

import asyncio
from datetime import datetime
from decimal import Decimal

import numpy as np
import pytest

from devices.printer.escpos import EscPosPrinter, PrinterSettings, PrinterUnavailable
from devices.printer.simulator import PrinterSimulator
from edge.scale.pricing import barcode
from edge.scale.pricing.printed_label import CJK_FONT, render_label
from edge.scale.pricing.quote import Product, price_weighed

pytestmark = pytest.mark.skipif(not CJK_FONT.is_file(), reason="CJK font not installed")


@pytest.fixture
def printer_sim(tmp_path):
    """A running printer simulator on a pty."""
    with PrinterSimulator(tmp_path / "ttyPRN") as sim:
        yield sim


@pytest.mark.parametrize(("preset", "prefix"), [("cn18_amount_weight", 22), ("price", 22), ("weight", 28), ("upca_price_v4", 2)])
async def test_printed_label_decodes_to_the_same_digits(printer_sim: PrinterSimulator, preset: str, prefix: int) -> None:
    quote = price_weighed(Product(123, "红富士苹果", Decimal("8.80")), 735)
    layout = barcode.PRESETS[preset]
    code = barcode.build(
        layout,
        prefix=prefix,
        item=123,
        amount_fen=quote.amount_fen if layout.field("$") else None,
        grams=quote.net_grams if layout.field("W") else None,
    )
    label = render_label(quote, code, layout, packed_at=datetime(2026, 11, 25, 18, 0))
    with EscPosPrinter(PrinterSettings(printer_sim.path)) as printer:
        await asyncio.wait_for(printer.print_image_async(label), 10)
    (page,) = await asyncio.wait_for(asyncio.to_thread(printer_sim.wait_pages, 1, 5), 6)
    printed = page.image
    assert printed is not None
    assert np.array_equal(np.array(printed.crop((0, 0, label.width, label.height))), np.array(label))
    zxingcpp = pytest.importorskip("zxingcpp")
    decoded = [r.text for r in zxingcpp.read_barcodes(printed.convert("L"))]
    # UPC-A is read as the EAN-13 with a leading 0, as scanners report it
    assert decoded == [code if len(code) != 12 else "0" + code]


def test_text_and_missing_port(printer_sim: PrinterSimulator, tmp_path) -> None:
    with EscPosPrinter(PrinterSettings(printer_sim.path)) as printer:
        printer.print_text("称重标签 OK")
        printer.cut()
    (page,) = printer_sim.wait_pages(1, 5)
    assert page.lines == ["称重标签 OK"]
    with pytest.raises(PrinterUnavailable):
        EscPosPrinter(PrinterSettings(str(tmp_path / "missing"))).open()
