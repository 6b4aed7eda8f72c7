"""The map picture explains itself: a legend for every symbol, and shelf, place and legend names that never overlap."""

from __future__ import annotations

import itertools
import re
import unicodedata
import xml.etree.ElementTree as ET

import pytest

from edge.esl.map.picture import draw
from edge.esl.map.storemap import Layout, MapSection, Place, RectConfig, RunConfig, StoreMap, build
from edge.esl.picking.routing import Router

NS = "{http://www.w3.org/2000/svg}"
EM = 0.62  # average advance of Latin capitals and digits in DejaVu Sans (A 0.68, E 0.63, digits 0.64, L 0.56)
Box = tuple[float, float, float, float]


def _width(text: str, size: float) -> float:
    """Rendered width estimated from the font size (CJK one em)."""
    return size * sum(1.0 if unicodedata.east_asian_width(ch) in "WF" else EM for ch in text)


def _box(t: ET.Element) -> Box:
    """A text element's box from its position, size, anchor, baseline and quarter turn."""
    size, text = float(t.get("font-size", "16")), t.text or ""
    x, y, w = float(t.get("x", "0")), float(t.get("y", "0")), _width(text, size)
    x0 = {"start": x, "middle": x - w / 2, "end": x - w}[t.get("text-anchor", "start")]
    y0 = y - size / 2 if t.get("dominant-baseline") == "central" else y - 0.8 * size
    box = (x0, y0, x0 + w, y0 + size)
    turn = re.fullmatch(r"rotate\(-90 ([\d.-]+) ([\d.-]+)\)", t.get("transform", ""))
    if turn:
        cx, cy = float(turn[1]), float(turn[2])
        box = (cx - (box[3] - cy), cy - (box[2] - cx), cx - (box[1] - cy), cy - (box[0] - cx))  # a quarter turn about (cx, cy)
    return box


def _overlap(a: Box, b: Box) -> bool:
    """Whether two boxes share area (half a pixel of touching allowed)."""
    return min(a[2], b[2]) - max(a[0], b[0]) > 0.5 and min(a[3], b[3]) - max(a[1], b[1]) > 0.5


def _texts(root: ET.Element) -> list[tuple[str, Box]]:
    """Every piece of text with its box, stop numbers inside their circles left out."""
    return [(t.text or "", _box(t)) for t in root.iter(f"{NS}text") if t.get("class") != "stop"]


def _demo_picture(aisles: int) -> tuple[StoreMap, ET.Element]:
    """A generated floor as the demo draws it: labels of every confidence, a deviation, a three-order walk and a title."""
    m = build(MapSection(layout=Layout(aisles=aisles, bays=10)))
    labels = [(Place(s.id, b, 1) if s.kind == "run" else Place(endcap=s.id, level=1), (0.95, 0.7, 0.3)[b % 3])
              for s in m.shelves.values() for b in range(1, s.bays + 1)]
    places = [Place("A01L", 2, 1), Place("A03R", 4, 2), Place(endcap="E02", level=1), Place(endcap="E07", level=1)]
    walk = Router(m).walk([(p, m.node(p.spot)) for p in places])
    svg = draw(m, labels, [(Place(endcap="E05", level=2), "misplaced")], [(leg.key, "blue") for leg in walk.stops],
               "Pick walk WEB-2000, WEB-2001, WEB-2002")
    return m, ET.fromstring(svg)


@pytest.mark.parametrize("aisles", [3, 12, 30])
def test_no_two_names_overlap_and_every_shelf_name_is_shown_on_generated_floors(aisles):
    m, root = _demo_picture(aisles)
    texts = _texts(root)
    clashes = [(a, b) for (a, ba), (b, bb) in itertools.combinations(texts, 2) if _overlap(ba, bb)]
    assert clashes == []
    width, height = float(root.get("width", "0")), float(root.get("height", "0"))
    assert all(0 <= b[0] and b[2] <= width and 0 <= b[1] and b[3] <= height for _, b in texts)
    shown = {t for t, _ in texts}
    assert set(m.shelves) <= shown  # the generated floors leave room for every run and endcap name


def test_the_legend_names_confidence_colours_deviations_anchors_shelves_and_the_route():
    _, root = _demo_picture(12)
    legend = root.find(f".//{NS}g[@class='legend']")
    assert legend is not None
    words = " ".join(t.text or "" for t in legend.iter(f"{NS}text"))
    for needed in ("sure", "fair", "doubtful", "deviation", "anchor", "shelf run", "endcap", "pick walk"):
        assert needed in words
    colours = {c.get("fill") for c in legend.iter(f"{NS}circle")}
    assert {"#2e9e44", "#e39b12", "#d23030"} <= colours  # the same colours the labels are drawn in
    map_bottom = max(float(r.get("y", "0")) + float(r.get("height", "0")) for r in root.iter(f"{NS}rect") if r.find(f"{NS}title") is not None)
    assert all(_box(t)[1] > map_bottom for t in legend.iter(f"{NS}text"))  # under the floor, not over it

    without_route = ET.fromstring(draw(build(MapSection(layout=Layout(aisles=3, bays=4)))))
    words = " ".join(t.text or "" for t in without_route.iter(f"{NS}text"))
    assert "sure" in words and "pick walk" not in words  # the route is explained only where one is drawn


def test_dense_shelves_get_their_name_only_where_it_fits():
    narrow = [RunConfig(id=f"RUN-{i:02d}", x=2 + 0.25 * i, y=3, w=0.25, h=0.6, face="S", bays=1) for i in range(8)]
    caps = [RectConfig(id=f"CAP{i}", x=2 + 0.25 * i, y=3.6, w=0.25, h=0.25, face="N") for i in range(8)]
    m = build(MapSection(runs=narrow, endcaps=caps, walkways=[{"id": "w", "start": [1, 2], "end": [6, 2]},
                                                               {"id": "b", "start": [1, 4.5], "end": [6, 4.5]},
                                                               {"id": "v", "start": [1, 2], "end": [1, 4.5]}],
                         entrance=(1, 2), packing=(6, 2)))
    root = ET.fromstring(draw(m))
    texts = _texts(root)
    assert [(a, b) for (a, ba), (b, bb) in itertools.combinations(texts, 2) if _overlap(ba, bb)] == []
    titles = {t.text for t in root.iter(f"{NS}title")}
    assert set(m.shelves) <= titles  # a name with no room is still in the shelf's tooltip
