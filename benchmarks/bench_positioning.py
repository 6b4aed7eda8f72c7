"""Positioning accuracy and speed on the simulated 12-aisle store with 5,000 labels, at two noise levels.

Run: .venv/bin/python benchmarks/bench_positioning.py [--labels 5000] [--scans 5]
"""

from __future__ import annotations

import argparse
import random
import time

from devices.esl.anchors import AnchorField, RadioModel
from edge.esl.map.positioning import Locator, Smoother
from edge.esl.map.storemap import Layout, MapSection, build


def main() -> None:
    """Place labels at random, scan a few rounds, locate every label, compare with the truth."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--labels", type=int, default=5000)
    parser.add_argument("--scans", type=int, default=5)
    args = parser.parse_args()
    store_map = build(MapSection(layout=Layout(aisles=12)))
    places = store_map.places()
    rng = random.Random(1)
    truth = {f"L{n:05d}": rng.choice(places) for n in range(args.labels)}
    print(f"store: {len(store_map.shelves)} shelves, {len(store_map.anchors)} anchors, {len(places)} places; "
          f"{args.labels} labels, {args.scans} scans")
    for noise in (4.0, 8.0):
        model = RadioModel(noise_db=noise)
        t0 = time.perf_counter()
        locator = Locator(store_map, model)
        t_build = time.perf_counter() - t0
        field = AnchorField(store_map.anchors, store_map.obstacles(), model, seed=2)
        field.place({k: store_map.xyz(p) for k, p in truth.items()})
        smoother = Smoother(store_map.anchors)
        for _ in range(args.scans):
            smoother.update(field.scan())
        t0 = time.perf_counter()
        found = locator.locate_all(smoother)
        t_all = time.perf_counter() - t0
        n = len(truth)
        bay = sum(k in found and found[k].place.spot == p.spot for k, p in truth.items()) / n
        run = sum(k in found and (found[k].place.run, found[k].place.endcap) == (p.run, p.endcap) for k, p in truth.items()) / n
        level = sum(k in found and found[k].place == p for k, p in truth.items()) / n
        print(f"noise {noise:.0f} dB (miss rate {model.miss_rate:.0%}): bay {bay:.2%}, run/endcap {run:.2%}, level {level:.2%}; "
              f"recompute all {t_all * 1000:.0f} ms ({t_all / n * 1e6:.0f} µs/label); locator build {t_build:.2f} s")


if __name__ == "__main__":
    main()
