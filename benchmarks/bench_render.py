"""Shelf-label rendering throughput on one core, per layout: `python benchmarks/bench_render.py`.

Two figures per layout:
- price change: same product, a new (never seen) price each render; the QR and the name fit come
  from the caches, the price figure is laid out afresh. This is the daemon's common case.
- cold: a new product each render (new URL, name and price), so the QR code (zxing-cpp), name fitting
  and price layout are all computed; only loaded fonts are reused.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge.esl.prices.render.content import LabelContent, LabelSpec  # noqa: E402
from edge.esl.prices.render.render import render_label  # noqa: E402

SIZES = {'2.13" 250x122': (250, 122), '2.9" 296x128': (296, 128), '4.2" 400x300': (400, 300)}
BASE = LabelContent(
    sku="2000001",
    name="红富士苹果",
    name_en="Fuji Apple",
    price=Decimal("6.40"),
    unit="500g",
    spec="约250g/个",
    origin="山东",
    qr_url="https://shop.example.cn/p/2000001",
)
KINDS = {
    "regular": replace(BASE, unit="piece", spec="550ml", origin=None),
    "by-weight": BASE,
    "promotion": replace(BASE, promo_price=Decimal("4.99"), promo_end=date(2026, 11, 30)),
}
NAMES = ("红富士苹果", "蒙牛纯牛奶 250ml×12盒", "新西兰进口佳沛阳光金奇异果特大果超甜多汁礼盒装十二个装")


def price_change(content: LabelContent, i: int) -> LabelContent:
    """The same product with the i-th distinct price."""
    price = Decimal(100 + i) / 100
    if content.on_promotion:
        return replace(content, promo_price=price, price=price + 1)
    return replace(content, price=price)


def new_product(content: LabelContent, i: int) -> LabelContent:
    """A product never rendered before: new URL, name and price."""
    changed = price_change(content, i)
    return replace(changed, sku=f"69{i:011d}", name=f"{NAMES[i % 3]}{i}", qr_url=f"https://shop.example.cn/p/69{i:011d}")


def rate(spec: LabelSpec, content: LabelContent, vary, count: int, offset: int) -> float:
    """Labels per second over count renders of vary(content, i)."""
    inputs = [vary(content, offset + i) for i in range(count)]
    start = time.perf_counter()
    for item in inputs:
        render_label(item, spec)
    return count / (time.perf_counter() - start)


def main() -> int:
    """Warm up, then print labels/s per size x kind x colour set."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=400, help="renders per figure (cold uses a quarter)")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    offset = 10_000
    print(f"{'layout':16} {'kind':10} {'colours':7} {'price change/s':>15} {'cold/s':>8}")
    for size_name, (width, height) in SIZES.items():
        for kind, content in KINDS.items():
            for colours in ("bw", "bwr"):
                spec = LabelSpec(width, height, colours)
                render_label(content, spec)  # load the fonts once
                warm = rate(spec, content, price_change, args.count, offset)
                cold = rate(spec, content, new_product, max(1, args.count // 4), offset)
                offset += args.count
                print(f"{size_name:16} {kind:10} {colours:7} {warm:15.0f} {cold:8.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
