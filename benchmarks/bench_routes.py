"""Pick walk length against the S-shape walk and the exact optimum, and the time to compute, at 10/30/60 stops.

Where the exact optimum is out of reach (30, 60 stops) the reference is the best of 30 local searches
from random starting orders (an upper bound of the optimum, so the ratio is a lower bound of the gap).

Run: .venv/bin/python benchmarks/bench_routes.py [--trials 10]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from edge.esl.map.storemap import Layout, MapSection, build
from edge.esl.picking.routing import EXACT_MAX, Router, distance_matrix, held_karp, improve, s_shape


def _length(dist, order) -> float:  # noqa: ANN001
    """Length of entrance → order → packing."""
    path = [0, *order, len(dist) - 1]
    return float(sum(dist[a, b] for a, b in zip(path, path[1:])))


def main() -> None:
    """Random pick lists on the demo floor; exact reference by Held–Karp where the stops allow it."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=10)
    args = parser.parse_args()
    store_map = build(MapSection(layout=Layout(aisles=12)))
    router = Router(store_map)
    spots = sorted({p.spot for p in store_map.places()}, key=str)
    rng = random.Random(3)
    for stops in (10, 12, 30, 60):
        vs_s, vs_exact, vs_best, times = [], [], [], []
        for _ in range(args.trials):
            picked = rng.sample(spots, stops)
            t0 = time.perf_counter()
            walk = router.walk([(p, store_map.node(p)) for p in picked])
            times.append(time.perf_counter() - t0)
            nodes = list(dict.fromkeys(store_map.node(p) for p in picked))
            vs_s.append(walk.total_m / s_shape(store_map, nodes))
            if len(nodes) <= EXACT_MAX:
                dist = distance_matrix(store_map.graph, [store_map.entrance, *nodes, store_map.packing])
                vs_exact.append(_length(dist, improve(dist)) / _length(dist, held_karp(dist)))
            else:
                dist = distance_matrix(store_map.graph, [store_map.entrance, *nodes, store_map.packing])
                middle = list(range(1, len(nodes) + 1))
                best = min(_length(dist, improve(dist, rng.sample(middle, len(middle)))) for _ in range(30))
                vs_best.append(walk.total_m / best)
        exact = (f"router exact; single-start local search/exact mean {statistics.mean(vs_exact):.4f} max {max(vs_exact):.4f}" if vs_exact
                 else f"vs best of 30 random-start searches mean {statistics.mean(vs_best):.4f} max {max(vs_best):.4f}")
        print(f"{stops:2d} stops: route/S-shape mean {statistics.mean(vs_s):.3f}; {exact}; "
              f"compute median {statistics.median(times) * 1000:.1f} ms, max {max(times) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
