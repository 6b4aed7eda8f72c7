"""Pick walks: exact on small cases (checked by brute force), near-exact and better than S-shape on large ones."""

from __future__ import annotations

import itertools
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.esl.map.storemap import Layout, MapSection, Place, build
from edge.esl.picking.routing import Router, distance_matrix, held_karp, improve, s_shape, solve


@pytest.fixture(scope="module")
def floor():
    """The demo-sized generated floor."""
    return build(MapSection(layout=Layout(aisles=12)))


def _brute(dist: np.ndarray) -> float:
    """Shortest 0 → all → last path by trying every order."""
    n = len(dist)
    return min(sum(dist[a, b] for a, b in zip((0, *p), (*p, n - 1))) for p in itertools.permutations(range(1, n - 1)))


def _length(dist: np.ndarray, order: list[int]) -> float:
    """Length of 0 → order → last."""
    path = [0, *order, len(dist) - 1]
    return float(sum(dist[a, b] for a, b in zip(path, path[1:])))


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 7), st.integers(0, 10_000))
def test_held_karp_matches_brute_force_on_random_asymmetric_matrices(k, seed):
    rng = np.random.default_rng(seed)
    dist = rng.uniform(1, 50, size=(k + 2, k + 2))
    order = held_karp(dist)
    assert sorted(order) == list(range(1, k + 1))
    assert _length(dist, order) == pytest.approx(_brute(dist))


@pytest.mark.parametrize("k", [3, 6, 8])
def test_store_walks_are_optimal_by_brute_force(floor, k):
    rng = random.Random(k)
    places = rng.sample([p for p in floor.places() if p.level == 1], k)
    nodes = list(dict.fromkeys(floor.node(p) for p in places))
    dist = distance_matrix(floor.graph, [floor.entrance, *nodes, floor.packing])
    walk = Router(floor).walk([(p, floor.node(p)) for p in places])
    assert walk.exact and walk.total_m == pytest.approx(_brute(dist), abs=0.02)
    assert {leg.key for leg in walk.stops} == set(places)
    assert walk.stops[-1].total_m + walk.to_packing_m == pytest.approx(walk.total_m, abs=0.02)
    assert sum(leg.leg_m for leg in walk.stops) == pytest.approx(walk.stops[-1].total_m, abs=0.05)


def test_heuristic_is_within_a_few_percent_of_exact_and_beats_s_shape(floor):
    rng = random.Random(7)
    candidates = [p for p in floor.places() if p.level == 1]
    for _ in range(5):
        nodes = list(dict.fromkeys(floor.node(p) for p in rng.sample(candidates, 11)))
        dist = distance_matrix(floor.graph, [floor.entrance, *nodes, floor.packing])
        exact = _length(dist, held_karp(dist))
        assert exact <= _length(dist, improve(dist)) <= exact * 1.05
    nodes = list(dict.fromkeys(floor.node(p) for p in rng.sample(candidates, 60)))
    dist = distance_matrix(floor.graph, [floor.entrance, *nodes, floor.packing])
    order, exact = solve(dist)
    assert not exact and sorted(order) == list(range(1, len(nodes) + 1))
    assert _length(dist, order) <= s_shape(floor, nodes)


def test_stops_at_one_place_share_a_zero_leg(floor):
    node = floor.node(Place("A02L", 3))
    walk = Router(floor).walk([("a", node), ("b", node)])
    assert [leg.leg_m > 0 for leg in walk.stops] == [True, False]
