"""The store map as an SVG picture: shelves, endcaps, anchors, located labels, deviations, a pick route and a legend.

Shelf names are placed so that no two overlap: inside the shelf (rotated along a narrow run), else
just outside its face, else left to the shelf's tooltip. Text sizes are estimated from the font
size (a conservative average glyph width), so the layout needs no font metrics.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

from edge.esl.map.storemap import Place, Point, Shelf, StoreMap

SCALE = 22.0  # pixels per metre
MARGIN = 30.0
TITLE_H, TITLE_SIZE = 22.0, 13.0
LEGEND_ROW_H = 18.0
LEGEND_SIZE, LEGEND_GAP = 10.0, 14.0
MIN_WIDTH = 320.0
GLYPH_EM = 0.68  # a Latin letter or digit is at most this wide, in ems, in common sans-serif fonts (DejaVu: 0.56-0.66)
WIDE_EM = 1.0  # CJK and other wide characters
NAME_SIZES = {"run": (9.0, 8.0, 7.0), "endcap": (7.0, 6.0)}
SURE, FAIR = 0.9, 0.6
GREEN, AMBER, RED = "#2e9e44", "#e39b12", "#d23030"
_CSS_COLOURS = {"green": GREEN, "blue": "#2f6fdb", "magenta": "#c2189b", "cyan": "#10a7b8", "yellow": "#d9a400",
                "red": RED, "white": "#888888"}


def _confidence_colour(confidence: float) -> str:
    """Green when sure, amber when fair, red when doubtful."""
    return GREEN if confidence >= SURE else AMBER if confidence >= FAIR else RED


def text_width(text: str, size: float) -> float:
    """Estimated rendered width of `text` at font size `size` (pixels)."""
    return size * sum(WIDE_EM if unicodedata.east_asian_width(ch) in "WF" else GLYPH_EM for ch in text)


@dataclass(frozen=True)
class Box:
    """An axis-aligned rectangle in pixels."""

    x0: float
    y0: float
    x1: float
    y1: float

    def overlaps(self, other: Box) -> bool:
        """Whether the two share any area."""
        return min(self.x1, other.x1) > max(self.x0, other.x0) and min(self.y1, other.y1) > max(self.y0, other.y0)

    def inside(self, other: Box) -> bool:
        """Whether this box lies within `other`."""
        return self.x0 >= other.x0 and self.y0 >= other.y0 and self.x1 <= other.x1 and self.y1 <= other.y1

    def grown(self, by: float) -> Box:
        """The box with `by` pixels added on every side."""
        return Box(self.x0 - by, self.y0 - by, self.x1 + by, self.y1 + by)


def _name_box(cx: float, cy: float, text: str, size: float, rotated: bool) -> Box:
    """The box a centred name takes, upright or turned a quarter (reading upwards)."""
    w, h = text_width(text, size) / 2, size / 2
    return Box(cx - h, cy - w, cx + h, cy + w) if rotated else Box(cx - w, cy - h, cx + w, cy + h)


def _width(store_map: StoreMap, title: str) -> float:
    """The picture's width: the floor, or enough for the title and the legend's longer items."""
    return max(store_map.width * SCALE + 2 * MARGIN, MIN_WIDTH, text_width(title, TITLE_SIZE) + 2 * MARGIN)


class _Canvas:
    """Metres in, flipped pixel coordinates out (the entrance at the bottom), with bands for a title and the legend."""

    def __init__(self, store_map: StoreMap, title: str, legend_rows: int) -> None:
        """Size the picture to the map plus its title and legend."""
        self.top = MARGIN + (TITLE_H if title else 0.0)
        self.map_h = store_map.depth * SCALE
        self.legend_y = self.top + self.map_h + MARGIN
        self.height = self.legend_y + legend_rows * LEGEND_ROW_H + 8
        self.width = _width(store_map, title)
        self.parts: list[str] = []
        self.names: list[Box] = []  # every piece of text placed so far

    def xy(self, p: Point) -> tuple[float, float]:
        """Pixel position of a floor point."""
        return round(MARGIN + p[0] * SCALE, 1), round(self.top + self.map_h - p[1] * SCALE, 1)

    def rect(self, shelf: Shelf) -> Box:
        """A shelf's footprint in pixels."""
        (x0, y1), (x1, y0) = self.xy((shelf.x0, shelf.y0)), self.xy((shelf.x1, shelf.y1))
        return Box(x0, y0, x1, y1)

    def add(self, element: str) -> None:
        """Append one SVG element."""
        self.parts.append(element)

    def text(self, x: float, y: float, text: str, size: float, anchor: str = "middle", extra: str = "") -> None:
        """A line of text with its baseline at `y`, remembered so later names avoid it."""
        w = text_width(text, size)
        x0 = {"start": x, "middle": x - w / 2, "end": x - w}[anchor]
        self.names.append(Box(x0, y - size, x0 + w, y + 0.25 * size))
        self.add(f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size:g}" text-anchor="{anchor}"{extra}>{escape(text)}</text>')

    def free(self, box: Box, shelves: Sequence[Box], own: Box | None) -> bool:
        """Whether a name may go in `box`: on the picture, clear of other names and of every shelf but its own."""
        if not box.inside(Box(0, 0, self.width, self.height)):
            return False
        if any(box.overlaps(n) for n in self.names):
            return False
        return all(s is own or not box.overlaps(s) for s in shelves)

    def svg(self) -> str:
        """The whole document."""
        return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{self.width:.0f}" height="{self.height:.0f}" '
                f'viewBox="0 0 {self.width:.0f} {self.height:.0f}" font-family="sans-serif">\n'
                f'<rect width="100%" height="100%" fill="#ffffff"/>\n' + "\n".join(self.parts) + "\n</svg>\n")


def _spots(shelf: Shelf, rect: Box, size: float) -> Iterator[tuple[float, float, bool]]:
    """Where a shelf's name may go, best first: centred inside (upright, then turned), then just outside its face."""
    cx, cy = (rect.x0 + rect.x1) / 2, (rect.y0 + rect.y1) / 2
    yield cx, cy, False
    yield cx, cy, True
    half = text_width(shelf.id, size) / 2 + 1.5
    outside = {"N": (cx, rect.y0 - half), "S": (cx, rect.y1 + half), "E": (rect.x1 + half, cy), "W": (rect.x0 - half, cy)}
    for face in dict.fromkeys([shelf.face, "N", "S", "E", "W"]):
        x, y = outside[face]
        yield x, y, face in ("N", "S")  # above or below a narrow endcap: turned, so neighbours' names do not collide


def _shelf_names(c: _Canvas, shelves: Sequence[Shelf]) -> None:
    """Name every shelf where its name fits without touching another; a shelf with no such place keeps only its tooltip."""
    rects = [c.rect(s) for s in shelves]
    for shelf, rect in zip(shelves, rects):
        inner = rect.grown(-1.0)
        placed = False
        for size in NAME_SIZES[shelf.kind]:
            for n, (x, y, rotated) in enumerate(_spots(shelf, rect, size)):
                box = _name_box(x, y, shelf.id, size, rotated)
                if n < 2 and not box.inside(inner):
                    continue
                if not c.free(box.grown(0.5), rects, rect if n < 2 else None):
                    continue
                turn = f' transform="rotate(-90 {x:.1f} {y:.1f})"' if rotated else ""
                c.names.append(box)
                c.add(f'<text class="shelf-name" x="{x:.1f}" y="{y:.1f}" font-size="{size:g}" text-anchor="middle" '
                      f'dominant-baseline="central" fill="#35414d"{turn}>{escape(shelf.id)}</text>')
                placed = True
                break
            if placed:
                break


def _legend_items(route: bool) -> list[tuple[str, str]]:
    """The key to the picture's symbols: (SVG symbol drawn in a 10 px square, words)."""
    items = [
        (f'<circle cx="5" cy="-4" r="3" fill="{GREEN}"/>', f"label placed, sure (≥ {SURE:g})"),
        (f'<circle cx="5" cy="-4" r="3" fill="{AMBER}"/>', f"fair ({FAIR:g}–{SURE:g})"),
        (f'<circle cx="5" cy="-4" r="3" fill="{RED}"/>', f"doubtful (< {FAIR:g})"),
        ('<g stroke="#d23030" stroke-width="1.6"><line x1="1" y1="-8" x2="9" y2="0"/><line x1="1" y1="0" x2="9" y2="-8"/></g>',
         "planogram deviation"),
        ('<circle cx="5" cy="-4" r="1.5" fill="#444444"/>', "positioning anchor"),
        ('<rect x="0" y="-9" width="10" height="10" fill="#cfd8e3" stroke="#6b7785" stroke-width="0.8"/>', "shelf run"),
        ('<rect x="0" y="-9" width="10" height="10" fill="#f6d7a7" stroke="#6b7785" stroke-width="0.8"/>', "endcap"),
    ]
    if route:
        items.append(('<line x1="0" y1="-4" x2="10" y2="-4" stroke="#222222" stroke-width="2" stroke-opacity="0.7"/>',
                      "pick walk, stops numbered in order"))
    return items


def _legend_layout(width: float, route: bool) -> list[tuple[float, int, str, str]]:
    """The legend's items flowed into rows of the picture's width: (x, row, symbol, words)."""
    x, row = MARGIN, 0
    placed = []
    for symbol, words in _legend_items(route):
        item_w = 14 + text_width(words, LEGEND_SIZE)
        if x + item_w > width - MARGIN and x > MARGIN:
            x, row = MARGIN, row + 1
        placed.append((x, row, symbol, words))
        x += item_w + LEGEND_GAP
    return placed


def _draw_legend(c: _Canvas, layout: Sequence[tuple[float, int, str, str]]) -> None:
    """The legend in its band under the map."""
    c.add('<g class="legend">')
    for x, row, symbol, words in layout:
        y = c.legend_y + row * LEGEND_ROW_H + 10
        c.add(f'<g transform="translate({x:.1f} {y:.1f})">{symbol}</g>')
        c.text(x + 14, y, words, LEGEND_SIZE, anchor="start", extra=' fill="#35414d"')
    c.add("</g>")


def walking_path(store_map: StoreMap, nodes: Sequence[Point]) -> list[Point]:
    """The floor points a picker walks through: entrance, every stop node in order, packing point."""
    import networkx as nx  # here, not at the top: only a drawn route needs the graph library

    points = [store_map.entrance, *nodes, store_map.packing]
    path: list[Point] = [points[0]]
    for a, b in zip(points, points[1:]):
        if a != b:
            path += nx.dijkstra_path(store_map.graph, a, b, weight="weight")[1:]
    return path


def draw(store_map: StoreMap, labels: Sequence[tuple[Place, float]] = (), deviations: Sequence[tuple[Place, str]] = (),
         stops: Sequence[tuple[Place, str]] = (), title: str = "") -> str:
    """The picture: `labels` (place, confidence), `deviations` (place, kind), `stops` (place, colour) walked in order."""
    legend = _legend_layout(_width(store_map, title), bool(stops))
    c = _Canvas(store_map, title, legend[-1][1] + 1)
    if title:
        c.text(MARGIN, MARGIN + 6, title, TITLE_SIZE, anchor="start", extra=' font-weight="bold"')
    for w in store_map.walkways:
        (x1, y1), (x2, y2) = c.xy(w.start), c.xy(w.end)
        c.add(f'<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" stroke="#dddddd" stroke-width="2" stroke-dasharray="4 4"/>')
    shelves = list(store_map.shelves.values())
    for s in shelves:
        r = c.rect(s)
        fill = "#cfd8e3" if s.kind == "run" else "#f6d7a7"
        c.add(f'<rect x="{r.x0}" y="{r.y0}" width="{r.x1 - r.x0:.1f}" height="{r.y1 - r.y0:.1f}" fill="{fill}" stroke="#6b7785" '
              f'stroke-width="0.8"><title>{escape(s.id)}</title></rect>')
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
            c.names.append(Box(x - 7, y - 7, x + 7, y + 7))  # shelf names keep clear of the numbered stops
            c.add(f'<circle cx="{x}" cy="{y}" r="7" fill="{escape(fill)}" stroke="#ffffff" stroke-width="1"/>'
                  f'<text class="stop" x="{x}" y="{y + 3}" font-size="8" text-anchor="middle" fill="#ffffff">{n}</text>')
    for point, name in ((store_map.entrance, "entrance"), (store_map.packing, "packing")):
        x, y = c.xy(point)
        c.add(f'<rect x="{x - 6}" y="{y - 6}" width="12" height="12" fill="#35414d"/>')
        c.text(x, y + 18, name, 10)
    _shelf_names(c, shelves)
    _draw_legend(c, legend)
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
