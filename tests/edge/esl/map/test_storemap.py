"""The store map: generated demo floor, config errors with key paths, places and access nodes."""

from __future__ import annotations

import networkx as nx
import pytest

from edge.config import ConfigError, parse_config
from edge.esl.map.storemap import Layout, MapSection, Place, build


def test_generated_floor_has_aisles_endcaps_and_a_connected_graph():
    m = build(MapSection(layout=Layout(aisles=12)))
    runs = [s for s in m.shelves.values() if s.kind == "run"]
    caps = [s for s in m.shelves.values() if s.kind == "endcap"]
    assert len(runs) == 24 and len(caps) >= 40
    assert nx.is_connected(m.graph)
    for place in (Place("A03L", 4, 2), Place(endcap="E07")):
        assert m.valid(place) and m.node(place) in m.graph
    assert not m.valid(Place("A03L", 99, 1)) and not m.valid(Place(endcap="A03L"))
    # both sides of one aisle share the aisle's walkway, so they are reached from the same line
    assert m.node(Place("A05L", 3)) == m.node(Place("A05R", 3))


def test_overlap_is_a_config_error_with_its_key():
    bad = {"layout": {"aisles": 2}, "runs": [{"id": "X", "x": 0.1, "y": 4, "w": 1, "h": 1, "face": "E", "bays": 2}]}
    with pytest.raises(ConfigError) as err:
        parse_config({"store": {"id": "s1"}, "esl": {"map": bad}}, env={})
    assert "esl.map" in str(err.value) and "runs[0]" in str(err.value) and "overlaps" in str(err.value)


def test_unreachable_shelf_and_disconnected_walkway_are_errors():
    far = {"id": "X", "x": 40, "y": 4, "w": 1, "h": 1, "face": "E", "bays": 2}
    with pytest.raises(ConfigError, match=r"runs\[0\].*from the nearest walkway"):
        parse_config({"store": {"id": "s1"}, "esl": {"map": {"layout": {"aisles": 2}, "runs": [far]}}}, env={})
    island = {"runs": [far], "walkways": [{"id": "w", "start": [42.5, 3], "end": [42.5, 6]}]}
    with pytest.raises(ConfigError, match=r"runs\[0\].*cut off"):
        parse_config({"store": {"id": "s1"}, "esl": {"map": {"layout": {"aisles": 2}, **island}}}, env={})


def test_duplicate_ids_and_missing_packing_are_reported():
    run = {"id": "R1", "x": 0, "y": 0, "w": 0.6, "h": 4, "face": "E", "bays": 4}
    with pytest.raises(ConfigError, match=r"runs\[1\]\.id"):
        parse_config({"store": {"id": "s1"}, "esl": {"map": {"runs": [run, {**run, "x": 5}]}}}, env={})
    with pytest.raises(ConfigError, match="packing"):
        parse_config({"store": {"id": "s1"}, "esl": {"map": {"runs": [run], "walkways": [
            {"id": "w", "start": [1.5, 0], "end": [1.5, 4]}]}}}, env={})
