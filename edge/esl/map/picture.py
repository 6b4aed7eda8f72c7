"""The store map as an SVG picture: shelves, endcaps, anchors, located labels, deviations and a pick route."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any
from xml.sax.saxutils import escape

import networkx as nx

from edge.esl.map.storemap import Place, Point, StoreMap

SCALE = 22.0  # pixels per metre
MARGIN = 30.0
_CSS_COLOURS = {"green": "#2e9e44", "blue": "#2f6fdb", "magenta": "#c2189b", "cyan": "#10a7b8", "yellow": "#d9a400",
                "red": "#d23030", "white": "#888888"}


def _confidence_colour(confidence: float) -> str:
    """Green when sure, amber when fair, red when doubtful."""
    return "#2e9e44" if confidence >= 0.9 else "#e39b12" if confidence >= 0.6 else "#d23030"


class _Canvas:
    """Metres in, flipped pixel coordinates out (the entrance at the bottom)."""

    def __init__(self, store_map: StoreMap) -> None:
        """Size the picture to the map."""
        self.height = store_map.depth * SCALE + 2 * MARGIN
        self.width = store_map.width * SCALE + 2 * MARGIN
        self.parts: list[str] = []

    def xy(self, p: Point) -> tuple[float, float]:
        """Pixel position of a floor point."""
        return round(MARGIN + p[0] * SCALE, 1), round(self.height - MARGIN - p[1] * SCALE, 1)

    def add(self, element: str) -> None:
        """Append one SVG element."""
        self.parts.append(element)

    def svg(self) -> str:
        """The whole document."""
        return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{self.width:.0f}" height="{self.height:.0f}" '
                f'viewBox="0 0 {self.width:.0f} {self.height:.0f}" font-family="sans-serif">\n'
                f'<rect width="100%" height="100%" fill="#ffffff"/>\n' + "\n".join(self.parts) + "\n</svg>\n")


def walking_path(store_map: StoreMap, nodes: Sequence[Point]) -> list[Point]:
    """The floor points a picker walks through: entrance, every stop node in order, packing point."""
    points = [store_map.entrance, *nodes, store_map.packing]
    path: list[Point] = [points[0]]
    for a, b in zip(points, points[1:]):
        if a != b:
            path += nx.dijkstra_path(store_map.graph, a, b, weight="weight")[1:]
    return path


def draw(store_map: StoreMap, labels: Sequence[tuple[Place, float]] = (), deviations: Sequence[tuple[Place, str]] = (),
         stops: Sequence[tuple[Place, str]] = (), title: str = "") -> str:
    """The picture: `labels` (place, confidence), `deviations` (place, kind), `stops` (place, colour) walked in order."""
    c = _Canvas(store_map)
    for w in store_map.walkways:
        (x1, y1), (x2, y2) = c.xy(w.start), c.xy(w.end)
        c.add(f'<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" stroke="#dddddd" stroke-width="2" stroke-dasharray="4 4"/>')
    for s in store_map.shelves.values():
        (x0, y1), (x1, y0) = c.xy((s.x0, s.y0)), c.xy((s.x1, s.y1))
        fill = "#cfd8e3" if s.kind == "run" else "#f6d7a7"
        c.add(f'<rect x="{x0}" y="{y0}" width="{x1 - x0:.1f}" height="{y1 - y0:.1f}" fill="{fill}" stroke="#6b7785" stroke-width="0.8">'
              f'<title>{escape(s.id)}</title></rect>')
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        size = 7 if s.kind == "endcap" else 9
        c.add(f'<text x="{cx:.1f}" y="{cy:.1f}" font-size="{size}" text-anchor="middle" fill="#35414d">{escape(s.id)}</text>')
    for ax, ay, _ in store_map.anchors.values():
        x, y = c.xy((ax, ay))
        c.add(f'<circle cx="{x}" cy="{y}" r="1.2" fill="#444444"/>')
    for place, confidence in labels:
        if store_map.valid(place):
            x, y = c.xy(store_map.xyz(place)[:2])
            dx = (place.level or 0) * 1.6
            c.add(f'<circle cx="{x + dx:.1f}" cy="{y:.1f}" r="2.6" fill="{_confidence_colour(confidence)}" fill-opacity="0.85"/>')
    for place, kind in deviations:
        if store_map.valid(place):
            x, y = c.xy(store_map.xyz(place)[:2])
            c.add(f'<g stroke="#d23030" stroke-width="2"><line x1="{x - 5}" y1="{y - 5}" x2="{x + 5}" y2="{y + 5}"/>'
                  f'<line x1="{x - 5}" y1="{y + 5}" x2="{x + 5}" y2="{y - 5}"/><title>{escape(kind)}</title></g>')
    if stops:
        path = walking_path(store_map, [store_map.node(p.spot) for p, _ in stops])
        points = " ".join(f"{x},{y}" for x, y in (c.xy(p) for p in path))
        c.add(f'<polyline points="{points}" fill="none" stroke="#222222" stroke-width="2" stroke-opacity="0.7"/>')
        for n, (place, colour) in enumerate(stops, start=1):
            x, y = c.xy(store_map.node(place.spot))
            fill = _CSS_COLOURS.get(colour, colour)
            c.add(f'<circle cx="{x}" cy="{y}" r="7" fill="{escape(fill)}" stroke="#ffffff" stroke-width="1"/>'
                  f'<text x="{x}" y="{y + 3}" font-size="8" text-anchor="middle" fill="#ffffff">{n}</text>')
    for point, name in ((store_map.entrance, "entrance"), (store_map.packing, "packing")):
        x, y = c.xy(point)
        c.add(f'<rect x="{x - 6}" y="{y - 6}" width="12" height="12" fill="#35414d"/>'
              f'<text x="{x}" y="{y + 18}" font-size="10" text-anchor="middle">{name}</text>')
    if title:
        c.add(f'<text x="{MARGIN}" y="{MARGIN - 10}" font-size="13" font-weight="bold">{escape(title)}</text>')
    return c.svg()


def from_db(conn: Any, store_map: StoreMap, route: Sequence[dict[str, Any]] = (), title: str = "") -> str:
    """The picture of what SQLite knows (positions, open deviations) with a `pick.route` / `pick.start` route."""
    labels = [(Place(r[0], r[1], r[2], r[3]), r[4]) for r in conn.execute(
        "SELECT run, bay, level, endcap, confidence FROM esl_positions WHERE run IS NOT NULL OR endcap IS NOT NULL")]
    deviations = []
    for kind, expected, found in conn.execute("SELECT kind, expected, found FROM esl_deviations WHERE cleared_at IS NULL"):
        where = json.loads(found) or json.loads(expected)
        if where:
            deviations.append((Place(where.get("run"), where.get("bay"), where.get("level"), where.get("endcap")), kind))
    stops = []
    for stop in route:
        if stop.get("located"):
            pos = stop["position"]
            stops.append((Place(pos.get("run"), pos.get("bay"), pos.get("level"), pos.get("endcap")), stop.get("color", "#222222")))
    return draw(store_map, labels, deviations, stops, title)
