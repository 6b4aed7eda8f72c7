"""Price-label path cost: pricing + barcode + label render, ESC/POS raster encode, print over a pty.

    .venv/bin/python benchmarks/bench_scale_label.py
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import datetime
from decimal import Decimal

from devices.printer.escpos import EscPosPrinter, PrinterSettings, raster
from devices.printer.simulator import PrinterSimulator
from edge.scale.pricing import barcode
from edge.scale.pricing.printed_label import render_label
from edge.scale.pricing.quote import Product, price_weighed


def _timed(fn, runs: int) -> tuple[float, object]:
    """Median milliseconds of `runs` calls, and the last result."""
    times, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), result


def main() -> None:
    """Print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    product = Product(123, "红富士苹果", Decimal("8.80"))
    when = datetime(2026, 11, 25, 18, 0)

    def make_label():
        """Quote, code and image for one weighing."""
        quote = price_weighed(product, 735, max_amount_fen=99_999)
        code = barcode.build("cn18_amount_weight", prefix=22, item=quote.plu, amount_fen=quote.amount_fen, grams=quote.net_grams)
        return render_label(quote, code, "cn18_amount_weight", packed_at=when)

    render_ms, label = _timed(make_label, args.runs)
    encode_ms, data = _timed(lambda: raster(label), args.runs)
    print(f"price + barcode + render: {render_ms:.2f} ms median ({label.width}x{label.height} dots)")
    print(f"ESC/POS raster encode:    {encode_ms:.3f} ms median ({len(data):,} bytes per label)")
    with PrinterSimulator() as sim, EscPosPrinter(PrinterSettings(sim.path)) as printer:
        times = []
        for n in range(1, min(args.runs, 20) + 1):
            started = time.perf_counter()
            printer.print_image(label)
            sim.wait_pages(n, 5)
            times.append((time.perf_counter() - started) * 1000)
    print(f"print to pty simulator:   {statistics.median(times):.2f} ms median until the cut is parsed")


if __name__ == "__main__":
    main()
