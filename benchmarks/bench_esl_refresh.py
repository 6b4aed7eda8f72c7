"""Full refresh of a simulated store (10,000 labels) over 1, 4 and 8 parallel GATT connections.

Every label gets a new price image through the production bleak access point (`GattAccessPoint`:
connect, OTS Go To, Object Size, OACP Write, CoC transfer, Checksum, Display Image, Update
Complete, disconnect) against the simulated fleet, with as many pushes in flight as there are
connections, each connection taking the next label as soon as its push ends (as the job's price
pusher does with `[esl] connections`). Air time per label: `--connect-s` connection setup, `--gatt-op-s`
per GATT round trip and the image bytes at `--throughput` B/s. All simulated time is multiplied
by a per-run scale chosen so that each pool size has the same radio limit (`--run-seconds`,
default 12 s of wall time), which keeps the whole benchmark under a minute. The figure of merit is
wall time divided by the radio's own limit (total simulated busy time x scale / connections):
1.00 is a perfect pool; the excess is Python overhead (CPU seconds are printed too).

    .venv/bin/python benchmarks/bench_esl_refresh.py
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Iterator

from PIL import Image, ImageDraw

from devices.esl import framebuffer
from devices.esl.errors import EslError
from devices.esl.gatt_ap import GattAccessPoint
from devices.esl.radio import Label
from devices.esl.simulator import MODELS, RadioTiming, SimulatedFleet, SimulatedLabel


def price_images() -> dict[str, bytes]:
    """One packed price label per model: name, big price, accent promo bar, barcode-like stripes."""
    out = {}
    for name, model in MODELS.items():
        info = model.displays[0]
        image = Image.new("P", (info.width, info.height), 0)
        draw = ImageDraw.Draw(image)
        draw.text((6, 4), "Organic Bananas 1 kg", fill=1, font_size=18)
        draw.text((6, info.height // 3), "1.99", fill=1, font_size=info.height // 3)
        if info.display_type != 1:
            draw.rectangle((info.width * 2 // 3, 4, info.width - 6, 30), fill=2)
        for x in range(6, info.width // 2, 3):
            draw.line((x, info.height - 20, x, info.height - 4), fill=1 if x % 7 else 0)
        out[name] = framebuffer.pack(image, info.display_type)
    return out


async def refresh(labels: int, connections: int, timing: RadioTiming, images: dict[str, bytes]) -> dict:
    """Refresh every label of a fresh fleet over `connections` connections; wall time and the radio-limited time."""
    fleet = SimulatedFleet(seed=1, timing=timing)
    sims = fleet.populate(labels)
    ap = GattAccessPoint(client_class=fleet.client_class, scanner=fleet.scanner,
                         transport_factory=fleet.transport_factory, connect_attempts=2, timeout=30)
    failures: list[EslError] = []

    async def connection(todo: Iterator[SimulatedLabel]) -> None:
        """One connection slot: push to the next label as soon as the last push ended; a failure is counted."""
        for sim in todo:
            assert sim.esl_address is not None
            try:
                await ap.push_image(Label(sim.address, sim.esl_address), 0, images[sim.model.name], image_index=0)
            except EslError as err:
                failures.append(err)

    todo = iter(sims)  # shared: whichever connection is free takes the next label
    start = time.perf_counter()
    await asyncio.gather(*(connection(todo) for _ in range(connections)))  # a task each: each keeps its own radio clock
    wall = time.perf_counter() - start
    limit = fleet.air_time_s * timing.time_scale / connections
    shown = sum(s.shown[0] == 0 for s in sims)
    return {"wall": wall, "limit": limit, "failures": len(failures), "shown": shown, "air": fleet.air_time_s}


def main() -> None:
    """Parse options, run the three pool sizes, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=int, default=10_000)
    parser.add_argument("--connections", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--connect-s", type=float, default=2.0)
    parser.add_argument("--gatt-op-s", type=float, default=0.03)
    parser.add_argument("--throughput", type=float, default=10_000.0, help="CoC bytes per second")
    parser.add_argument("--run-seconds", type=float, default=12.0, help="radio-limited wall time per pool size")
    args = parser.parse_args()
    images = price_images()
    mean_bytes = sum(len(v) for v in images.values()) / len(images)
    per_label = args.connect_s + 6 * args.gatt_op_s + mean_bytes / args.throughput
    print(f"labels={args.labels} connect={args.connect_s}s gatt_op={args.gatt_op_s}s "
          f"throughput={args.throughput:.0f}B/s")
    print("image bytes: " + ", ".join(f"{k}={len(v)}" for k, v in images.items()))
    print(f"{'conns':>5} {'scale':>8} {'air/label s':>11} {'real-time h':>11} {'wall s':>8} {'limit s':>8} "
          f"{'ratio':>6} {'cpu s':>6} {'failed':>6}")
    for n in args.connections:
        scale = args.run_seconds * n / (args.labels * per_label)
        timing = RadioTiming(args.connect_s, args.gatt_op_s, args.throughput, scale)
        cpu = time.process_time()
        r = asyncio.run(refresh(args.labels, n, timing, images))
        cpu = time.process_time() - cpu
        real_hours = r["air"] / n / 3600
        print(f"{n:>5} {scale:>8.5f} {r['air'] / args.labels:>11.3f} {real_hours:>11.2f} {r['wall']:>8.2f} "
              f"{r['limit']:>8.2f} {r['wall'] / r['limit']:>6.2f} {cpu:>6.2f} {r['failures']:>6}")
        assert r["shown"] == args.labels - r["failures"]


if __name__ == "__main__":
    main()
