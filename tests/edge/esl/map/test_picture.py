"""The map picture: valid SVG with every shelf, labels by confidence, deviations and numbered stops."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from edge.esl.map.picture import draw, walking_path
from edge.esl.map.storemap import Layout, MapSection, Place, build
from edge.esl.picking.routing import Router

NS = "{http://www.w3.org/2000/svg}"


def test_picture_shows_shelves_labels_deviations_and_the_route_in_walk_order():
    m = build(MapSection(layout=Layout(aisles=3, bays=4)))
    places = [Place("A01L", 2, 1), Place("A03R", 4, 2), Place(endcap="E02", level=1)]
    walk = Router(m).walk([(p, m.node(p.spot)) for p in places])
    stops = [(leg.key, "blue") for leg in walk.stops]
    svg = draw(m, labels=[(places[0], 0.95), (places[1], 0.3)], deviations=[(places[2], "wrong_endcap")], stops=stops)
    root = ET.fromstring(svg)
    titles = [t.text for t in root.iter(f"{NS}title")]
    assert set(m.shelves) <= set(titles) and "wrong_endcap" in titles
    fills = [e.get("fill") for e in root.iter(f"{NS}circle")]
    assert "#2e9e44" in fills and "#d23030" in fills  # sure label green, doubtful one red
    numbers = [t.text for t in root.iter(f"{NS}text") if t.text and t.text.isdigit()]
    assert numbers == ["1", "2", "3"]
    path = walking_path(m, [m.node(p.spot) for p, _ in stops])
    assert path[0] == m.entrance and path[-1] == m.packing
    line = next(root.iter(f"{NS}polyline")).get("points").split()
    assert len(line) == len(path)
