"""Scale path throughput: framer parsing rates, and live polling rate/latency over a real pty.

Parsing: a stream of valid replies with 10 % garbage lines, fed in 64-byte chunks, per protocol.
Polling: the production driver against each simulator with `poll_interval=0`, counting readings
for a few seconds (each reading is one full request → reply round trip through the pty).

    .venv/bin/python benchmarks/bench_scale_codecs.py
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from decimal import Decimal

from devices.scale import mtsics, toledo8217
from devices.scale.driver import ScaleDriver, default_settings
from devices.scale.simulator import MtSicsSimulator, ScaleModel, Toledo8217Simulator


def _stream(protocol: str, lines: int, seed: int) -> bytes:
    """A seeded byte stream of valid replies with one garbage line in ten."""
    rng = random.Random(seed)
    out = bytearray()
    for _ in range(lines):
        grams = rng.randrange(0, 15_000, 5)
        if rng.random() < 0.1:
            out += bytes(rng.randrange(256) for _ in range(12)) + b"\r\n"
        elif protocol == "mt-sics":
            out += mtsics.encode_weight_reply("S", rng.choice("SD"), Decimal(grams) / 1000, "kg", 3)
        else:
            out += toledo8217.encode_weight(Decimal(grams) / 1000, rng.random() < 0.3)
    return bytes(out)


def bench_parse(protocol: str, lines: int) -> tuple[float, int]:
    """Lines per second through the framer (and how many items came out)."""
    data = _stream(protocol, lines, seed=1)
    framer = mtsics.MtSicsFramer() if protocol == "mt-sics" else toledo8217.Toledo8217Framer()
    started = time.perf_counter()
    items = 0
    for offset in range(0, len(data), 64):
        items += sum(1 for _ in framer.feed(data[offset : offset + 64]))
    return lines / (time.perf_counter() - started), items


async def bench_poll(protocol: str, seconds: float) -> tuple[float, float]:
    """Readings per second and mean round trip (ms) polling as fast as the scale answers."""
    simulator = MtSicsSimulator if protocol == "mt-sics" else Toledo8217Simulator
    with simulator(ScaleModel(time_scale=10)) as sim:
        sim.model.place(735)
        count = 0

        def on_reading(_reading: object) -> None:
            """Count readings."""
            nonlocal count
            count += 1

        driver = ScaleDriver(default_settings(protocol, sim.path), protocol, poll_interval=0.0)  # type: ignore[arg-type]
        driver.add_listener(on_reading)
        async with driver:
            await asyncio.wait_for(driver.wait_health("connected"), 5)  # type: ignore[arg-type]
            await asyncio.sleep(0.2)
            count = 0
            await asyncio.sleep(seconds)
            rate = count / seconds
    return rate, 1000 / rate if rate else float("inf")


def main() -> None:
    """Print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    for protocol in ("mt-sics", "toledo-8217"):
        rate, items = bench_parse(protocol, args.lines)
        print(f"{protocol:12s} framer: {rate:,.0f} lines/s ({items:,} items from {args.lines:,} lines, 64-byte chunks)")
    for protocol in ("mt-sics", "toledo-8217"):
        rate, latency = asyncio.run(bench_poll(protocol, args.seconds))
        print(f"{protocol:12s} pty polling: {rate:,.0f} readings/s, mean round trip {latency:.2f} ms")


if __name__ == "__main__":
    main()
