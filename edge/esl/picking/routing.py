"""Pick walks: the shortest tour from the entrance through every stop to the packing point.

Shortest paths between stops come from networkx (Dijkstra on the map's walking graph). The tour
is exact (Held–Karp dynamic programming) up to `EXACT_MAX` distinct stops, and above that a
nearest-neighbour tour and a few seeded random tours, each improved by 2-opt and Or-opt moves
until none helps, the best kept. `s_shape` is the
classic aisle-by-aisle walk, the baseline the benchmark compares with.
"""

from __future__ import annotations

import random
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from edge.esl.map.storemap import Point, StoreMap

if TYPE_CHECKING:
    import networkx as nx  # imported where a route is planned: ~12 MB a store without a map never pays (bench_fleet.py)

EXACT_MAX = 12
RESTARTS = 5


@dataclass(frozen=True)
class Leg:
    """One stop of a walk: what the caller asked to visit, the metres walked to it, and the running total."""

    key: Hashable
    node: Point
    leg_m: float
    total_m: float


@dataclass(frozen=True)
class Walk:
    """A whole walk: the stops in order and the distance to the packing point at the end."""

    stops: list[Leg]
    to_packing_m: float
    total_m: float
    exact: bool


def distance_matrix(graph: nx.Graph, nodes: Sequence[Point]) -> np.ndarray:
    """Walking distance between every pair of `nodes` (inf where no path exists)."""
    import networkx as nx

    index = {n: i for i, n in enumerate(nodes)}
    out = np.full((len(nodes), len(nodes)), np.inf)
    for i, source in enumerate(nodes):
        lengths = nx.single_source_dijkstra_path_length(graph, source, weight="weight")
        for target, length in lengths.items():
            j = index.get(target)
            if j is not None:
                out[i, j] = length
    return out


def held_karp(dist: np.ndarray) -> list[int]:
    """Exact shortest path 0 → all of 1..n-2 → n-1 (index order of the visited middle nodes)."""
    k = len(dist) - 2
    if k <= 0:
        return []
    mid = dist[1:-1, 1:-1]
    full = 1 << k
    dp = np.full((full, k), np.inf)
    parent = np.full((full, k), -1, dtype=np.int64)
    for j in range(k):
        dp[1 << j, j] = dist[0, j + 1]
    masks = np.arange(full)
    popcount = np.array([bin(m).count("1") for m in range(full)])
    for size in range(2, k + 1):
        layer = masks[popcount == size]
        for j in range(k):
            with_j = layer[(layer >> j) & 1 == 1]
            prev = with_j ^ (1 << j)
            cand = dp[prev] + mid[:, j][None, :]
            best = np.argmin(cand, axis=1)
            dp[with_j, j] = cand[np.arange(len(with_j)), best]
            parent[with_j, j] = best
    last = int(np.argmin(dp[full - 1] + dist[1:-1, -1]))
    order, mask = [], full - 1
    while last >= 0:
        order.append(last + 1)
        mask, last = mask ^ (1 << last), int(parent[mask, last])
    return order[::-1]


def improve(dist: np.ndarray, start: Sequence[int] | None = None) -> list[int]:
    """Near-optimal path 0 → all middles → n-1: `start` (default: nearest neighbour), then 2-opt and Or-opt to a local optimum."""
    n = len(dist)
    if start is None:
        left, path = set(range(1, n - 1)), [0]
        while left:
            nxt = min(left, key=lambda j: dist[path[-1], j])
            path.append(nxt)
            left.remove(nxt)
        path.append(n - 1)
    else:
        path = [0, *start, n - 1]
    d = dist.tolist()
    better = True
    while better:
        better = False
        for i in range(1, len(path) - 2):  # 2-opt: reverse path[i..j]
            a, b = path[i - 1], path[i]
            for j in range(i + 1, len(path) - 1):
                c, e = path[j], path[j + 1]
                if d[a][c] + d[b][e] < d[a][b] + d[c][e] - 1e-9:
                    path[i:j + 1] = path[i:j + 1][::-1]
                    a, b = path[i - 1], path[i]
                    better = True
        for seg in (1, 2, 3):  # Or-opt: move a run of `seg` stops elsewhere
            i = 1
            while i + seg < len(path):
                chunk = path[i:i + seg]
                p, q = path[i - 1], path[i + seg]
                gain = d[p][chunk[0]] + d[chunk[-1]][q] - d[p][q]
                rest = path[:i] + path[i + seg:]
                best, where, flip = 1e-9, -1, False
                for k in range(len(rest) - 1):
                    u, v = rest[k], rest[k + 1]
                    for rev in (False, True):
                        s, t = (chunk[-1], chunk[0]) if rev else (chunk[0], chunk[-1])
                        delta = gain - (d[u][s] + d[t][v] - d[u][v])
                        if delta > best:
                            best, where, flip = delta, k, rev
                if where >= 0:
                    path = rest[:where + 1] + (chunk[::-1] if flip else chunk) + rest[where + 1:]
                    better = True
                i += 1
    return path[1:-1]


def solve(dist: np.ndarray, restarts: int = RESTARTS) -> tuple[list[int], bool]:
    """The visiting order of the middle indices, and whether it is proven optimal.

    Above `EXACT_MAX`: the best local optimum from the nearest-neighbour tour and `restarts`
    seeded random tours (the same input always gives the same walk).
    """
    if len(dist) - 2 <= EXACT_MAX:
        return held_karp(dist), True
    rng = random.Random(len(dist))
    middle = list(range(1, len(dist) - 1))
    tours = [improve(dist)] + [improve(dist, rng.sample(middle, len(middle))) for _ in range(restarts)]
    return min(tours, key=lambda t: float(sum(dist[a, b] for a, b in zip([0, *t], [*t, len(dist) - 1])))), False


class Router:
    """Tours on one store map."""

    def __init__(self, store_map: StoreMap) -> None:
        """Keep the map; distances are computed per request."""
        self.map = store_map

    def walk(self, stops: Sequence[tuple[Hashable, Point]]) -> Walk:
        """The shortest walk entrance → every stop → packing point; stops sharing a node are visited together."""
        nodes = list(dict.fromkeys(node for _, node in stops))
        dist = distance_matrix(self.map.graph, [self.map.entrance, *nodes, self.map.packing])
        if not np.isfinite(dist).all():
            raise ValueError("a stop is not connected to the walking graph")
        order, exact = solve(dist)
        by_node: dict[Point, list[Hashable]] = {}
        for key, node in stops:
            by_node.setdefault(node, []).append(key)
        legs, total, at = [], 0.0, 0
        for idx in order:
            leg = float(dist[at, idx])
            for n, key in enumerate(by_node[nodes[idx - 1]]):
                total += leg if n == 0 else 0.0
                legs.append(Leg(key, nodes[idx - 1], round(leg if n == 0 else 0.0, 2), round(total, 2)))
            at = idx
        tail = float(dist[at, -1])
        return Walk(legs, round(tail, 2), round(total + tail, 2), exact)


def s_shape(store_map: StoreMap, nodes: Sequence[Point]) -> float:
    """Length of the S-shape walk: every aisle holding a stop walked end to end, left to right, then to packing."""
    import networkx as nx

    aisles = sorted((w for w in store_map.walkways if w.kind == "aisle"), key=lambda w: w.start[0])
    if not aisles:
        raise ValueError("the S-shape walk needs aisle walkways")
    groups: dict[int, list[Point]] = {}
    for node in nodes:
        i = min(range(len(aisles)), key=lambda a: abs(aisles[a].start[0] - node[0]))
        groups.setdefault(i, []).append(node)
    waypoints: list[Point] = [store_map.entrance]
    for n, i in enumerate(sorted(groups)):
        a, b = sorted((aisles[i].start, aisles[i].end), key=lambda p: p[1])
        up = n % 2 == 0
        ends = (a, b) if up else (b, a)
        waypoints += [(round(ends[0][0], 3), round(ends[0][1], 3))]
        waypoints += sorted(groups[i], key=lambda p: p[1], reverse=not up)
        waypoints += [(round(ends[1][0], 3), round(ends[1][1], 3))]
    waypoints.append(store_map.packing)
    total = 0.0
    for p, q in zip(waypoints, waypoints[1:]):
        total += 0.0 if p == q else nx.dijkstra_path_length(store_map.graph, p, q, weight="weight")
    return total
