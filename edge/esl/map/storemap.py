"""The store map: shelf runs with bays and levels, endcaps, walkways, entrance, packing point and anchors.

Configured under `[esl.map]`: a generated layout (parallel aisles between back-to-back
gondolas, two endcaps at each end of every inner gondola) plus any explicit runs, endcaps,
walkways and anchors. Coordinates are metres, x to the right, y from the front (entrance) to
the back; heights (z) in metres above the floor. `build(section)` turns the config into a
`StoreMap` with its walking graph, and is what the config validator runs, so an overlap or an
unreachable bay is a config error with the offending key.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import Field, model_validator

from edge.esl.frozen import Frozen

if TYPE_CHECKING:
    import networkx as nx

Point = tuple[float, float]
Face = Literal["N", "S", "E", "W"]
_ID = r"^[A-Za-z0-9._-]{1,32}$"
_FACE_OFFSET_M = 0.02  # labels and anchors sit this far in front of the shelf face


class RectConfig(Frozen):
    """An axis-aligned footprint and the side staff face it from."""

    id: Annotated[str, Field(pattern=_ID)]
    x: float
    y: float
    w: Annotated[float, Field(gt=0)]
    h: Annotated[float, Field(gt=0)]
    face: Face
    levels: Annotated[int, Field(ge=1, le=12)] = 5


class RunConfig(RectConfig):
    """A shelf run: bays side by side along its face."""

    bays: Annotated[int, Field(ge=1, le=200)]


class WalkwayConfig(Frozen):
    """A straight walkable line (an aisle's centre line or a cross aisle)."""

    id: Annotated[str, Field(pattern=_ID)]
    kind: Literal["aisle", "cross"] = "cross"
    start: tuple[float, float]
    end: tuple[float, float]


class AnchorConfig(Frozen):
    """A positioning anchor fixed on a shelf."""

    id: Annotated[str, Field(pattern=_ID)]
    x: float
    y: float
    z: Annotated[float, Field(ge=0)] = 1.0


class Layout(Frozen):
    """Parameters of a generated supermarket floor: `aisles` parallel aisles running front to back."""

    aisles: Annotated[int, Field(ge=1, le=60)] = 12
    bays: Annotated[int, Field(ge=1, le=60)] = 10
    bay_m: Annotated[float, Field(gt=0.2, le=5)] = 1.0
    levels: Annotated[int, Field(ge=1, le=12)] = 5
    level_m: Annotated[float, Field(gt=0.05, le=1)] = 0.35
    aisle_m: Annotated[float, Field(gt=0.5, le=10)] = 2.0
    depth_m: Annotated[float, Field(gt=0.1, le=3)] = 0.6
    cross_m: Annotated[float, Field(gt=1, le=20)] = 3.0
    endcap_m: Annotated[float, Field(gt=0.1, le=3)] = 0.6
    anchor_every_bays: Annotated[int, Field(ge=1, le=20)] = 1
    anchor_heights_m: Annotated[list[Annotated[float, Field(ge=0, le=5)]], Field(min_length=1, max_length=4)] = [0.4, 1.6]


class MapSection(Frozen):
    """`[esl.map]`: the floor plan used by positioning, planogram checks and pick routes."""

    layout: Layout | None = None
    runs: list[RunConfig] = []
    endcaps: list[RectConfig] = []
    walkways: list[WalkwayConfig] = []
    anchors: list[AnchorConfig] = []
    entrance: tuple[float, float] | None = None
    packing: tuple[float, float] | None = None
    reach_m: Annotated[float, Field(gt=0, le=10)] = 3.0

    @model_validator(mode="after")
    def _geometry(self) -> MapSection:
        """Build the map once so overlaps, duplicates and unreachable bays are reported at config time."""
        if self.layout is None and not self.runs and not self.endcaps:
            return self
        build(self)
        return self


class MapError(ValueError):
    """The map is inconsistent (overlap, duplicate id, unreachable shelf); the message names the key."""


@dataclass(frozen=True)
class Place:
    """Where a label sits: a run with bay and level (1-based), or an endcap (with its level)."""

    run: str | None = None
    bay: int | None = None
    level: int | None = None
    endcap: str | None = None

    def as_dict(self) -> dict[str, str | int]:
        """The JSON form used by commands and events."""
        if self.endcap is not None:
            return {"endcap": self.endcap} if self.level is None else {"endcap": self.endcap, "level": self.level}
        out: dict[str, str | int] = {"run": self.run or "", "bay": self.bay or 0}
        if self.level is not None:
            out["level"] = self.level
        return out

    @property
    def spot(self) -> Place:
        """The place without its level (what pick routes and the planogram's bay checks compare)."""
        return Place(self.run, self.bay, None, self.endcap)


@dataclass(frozen=True)
class Shelf:
    """A run or an endcap as placed on the floor."""

    id: str
    kind: Literal["run", "endcap"]
    x0: float
    y0: float
    x1: float
    y1: float
    face: Face
    bays: int
    levels: int
    key: str  # config key path, for error messages
    level_z: tuple[float, ...] = ()

    def face_point(self, bay: int) -> Point:
        """Centre of bay `bay` (1-based) on the face, slightly in front of it."""
        along_x = self.face in ("N", "S")
        lo, hi = (self.x0, self.x1) if along_x else (self.y0, self.y1)
        t = lo + (bay - 0.5) * (hi - lo) / self.bays
        off = _FACE_OFFSET_M
        return {"N": (t, self.y1 + off), "S": (t, self.y0 - off), "E": (self.x1 + off, t), "W": (self.x0 - off, t)}[self.face]


@dataclass
class StoreMap:
    """The built map: shelves by id, anchors, walking graph and the access node of every bay."""

    shelves: dict[str, Shelf]
    anchors: dict[str, tuple[float, float, float]]
    walkways: list[WalkwayConfig]
    graph: nx.Graph
    entrance: Point
    packing: Point
    access: dict[tuple[str, int], Point] = field(default_factory=dict)
    width: float = 0.0
    depth: float = 0.0

    def places(self) -> list[Place]:
        """Every bay-and-level of every run, and every endcap level: the positions a label can be found at."""
        out = []
        for s in self.shelves.values():
            for bay in range(1, s.bays + 1):
                for level in range(1, s.levels + 1):
                    out.append(Place(s.id, bay, level) if s.kind == "run" else Place(endcap=s.id, level=level))
        return out

    def xyz(self, place: Place) -> tuple[float, float, float]:
        """Where a label at `place` is in space (a place without a level is taken at mid height)."""
        shelf = self.shelf(place)
        x, y = shelf.face_point(place.bay or 1)
        level = place.level or (shelf.levels + 1) // 2
        return x, y, shelf.level_z[min(level, shelf.levels) - 1]

    def shelf(self, place: Place) -> Shelf:
        """The run or endcap a place refers to; KeyError if the map has none such."""
        shelf = self.shelves[place.endcap or place.run or ""]
        if (place.endcap is not None) != (shelf.kind == "endcap"):
            raise KeyError(place.endcap or place.run)
        return shelf

    def valid(self, place: Place) -> bool:
        """Whether the place exists on this map."""
        try:
            shelf = self.shelf(place)
        except KeyError:
            return False
        return (place.endcap is not None or 1 <= (place.bay or 0) <= shelf.bays) and (
            place.level is None or 1 <= place.level <= shelf.levels)

    def node(self, place: Place) -> Point:
        """The walking-graph node a picker stands at to reach `place`."""
        return self.access[(place.endcap or place.run or "", place.bay or 1)]

    def obstacles(self) -> list[tuple[float, float, float, float]]:
        """Shelf footprints (x0, y0, x1, y1) that shadow radio paths."""
        return [(s.x0, s.y0, s.x1, s.y1) for s in self.shelves.values()]


def _generate(layout: Layout) -> tuple[list[RunConfig], list[RectConfig], list[WalkwayConfig], list[AnchorConfig], Point, Point]:
    """Runs, endcaps, walkways, anchors, entrance and packing point of a generated floor."""
    d, w, c, e = layout.depth_m, layout.aisle_m, layout.cross_m, layout.endcap_m
    pitch, length = w + 2 * d, layout.bays * layout.bay_m
    front_y, back_y = (c - e) / 2, c + length + e + (c - e) / 2
    runs, endcaps, walkways, anchors = [], [], [], []
    centres = [d + w / 2 + i * pitch for i in range(layout.aisles)]
    for i, cx in enumerate(centres):
        aisle = f"A{i + 1:02d}"
        runs.append(RunConfig(id=f"{aisle}L", x=cx - w / 2 - d, y=c, w=d, h=length, face="E", bays=layout.bays, levels=layout.levels))
        runs.append(RunConfig(id=f"{aisle}R", x=cx + w / 2, y=c, w=d, h=length, face="W", bays=layout.bays, levels=layout.levels))
        walkways.append(WalkwayConfig(id=aisle, kind="aisle", start=(cx, front_y), end=(cx, back_y)))
    n = 0
    for i in range(layout.aisles - 1):
        x0 = centres[i] + w / 2
        for y, face in ((c - e, "S"), (c + length, "N")):
            for half in range(2):
                n += 1
                endcaps.append(RectConfig(id=f"E{n:02d}", x=x0 + half * d, y=y, w=d, h=e, face=face, levels=layout.levels))  # type: ignore[arg-type]
    walkways.append(WalkwayConfig(id="front", start=(centres[0], front_y), end=(centres[-1], front_y)))
    walkways.append(WalkwayConfig(id="back", start=(centres[0], back_y), end=(centres[-1], back_y)))
    k = 0
    for run in runs:
        face_x = run.x + run.w + _FACE_OFFSET_M if run.face == "E" else run.x - _FACE_OFFSET_M
        for b in range(0, layout.bays + 1, layout.anchor_every_bays):
            for z in layout.anchor_heights_m:
                k += 1
                anchors.append(AnchorConfig(id=f"N{k:04d}", x=face_x, y=c + b * layout.bay_m, z=z))
    for cap in endcaps:
        k += 1
        y = cap.y - _FACE_OFFSET_M if cap.face == "S" else cap.y + cap.h + _FACE_OFFSET_M
        anchors.append(AnchorConfig(id=f"N{k:04d}", x=cap.x + cap.w / 2, y=y, z=1.0))
    return runs, endcaps, walkways, anchors, (centres[0], front_y), (centres[-1], front_y)


def _shelf(cfg: RectConfig, kind: Literal["run", "endcap"], key: str, level_m: float) -> Shelf:
    """A placed shelf from its config."""
    bays = cfg.bays if isinstance(cfg, RunConfig) else 1
    return Shelf(cfg.id, kind, cfg.x, cfg.y, cfg.x + cfg.w, cfg.y + cfg.h, cfg.face, bays, cfg.levels, key,
                 tuple(0.2 + level * level_m for level in range(cfg.levels)))


def _project(p: Point, a: Point, b: Point) -> tuple[Point, float, float]:
    """Closest point to `p` on segment a-b, its distance, and its parameter along the segment."""
    dx, dy = b[0] - a[0], b[1] - a[1]
    span = dx * dx + dy * dy
    t = 0.0 if span == 0 else max(0.0, min(1.0, ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / span))
    q = (a[0] + t * dx, a[1] + t * dy)
    return q, math.dist(p, q), t


def _key(p: Point) -> Point:
    """A graph node id: the point rounded to a millimetre."""
    return (round(p[0], 3), round(p[1], 3))


def build(section: MapSection) -> StoreMap:
    """The map with its walking graph; MapError names the first inconsistency found."""
    import networkx as nx  # here, not at the top: `[esl]`'s model imports this module in every daemon, with or without a map

    runs, endcaps, walkways, anchor_cfgs = list(section.runs), list(section.endcaps), list(section.walkways), list(section.anchors)
    entrance, packing = section.entrance, section.packing
    level_m = section.layout.level_m if section.layout else 0.35
    shelves: dict[str, Shelf] = {}
    if section.layout is not None:
        g_runs, g_caps, g_walks, g_anchors, g_in, g_out = _generate(section.layout)
        for r in g_runs:
            shelves[r.id] = _shelf(r, "run", f"layout (run {r.id})", level_m)
        for r in g_caps:
            shelves[r.id] = _shelf(r, "endcap", f"layout (endcap {r.id})", level_m)
        walkways = g_walks + walkways
        anchor_cfgs = g_anchors + anchor_cfgs
        entrance, packing = entrance or g_in, packing or g_out
    for kind, items in (("run", runs), ("endcap", endcaps)):
        for i, r in enumerate(items):
            key = f"{kind}s[{i}]"
            if r.id in shelves:
                raise MapError(f"{key}.id: {r.id!r} is used twice")
            shelves[r.id] = _shelf(r, kind, key, level_m)  # type: ignore[arg-type]
    listed = list(shelves.values())
    for i, a in enumerate(listed):
        for b in listed[i + 1:]:
            if min(a.x1, b.x1) - max(a.x0, b.x0) > 1e-6 and min(a.y1, b.y1) - max(a.y0, b.y0) > 1e-6:
                raise MapError(f"{b.key}: {b.kind} {b.id!r} overlaps {a.kind} {a.id!r} ({a.key})")
    if entrance is None or packing is None:
        raise MapError("packing: the map needs an entrance and a packing point (or a layout)")
    if not walkways:
        raise MapError("walkways: the map has no walkable line")
    anchors: dict[str, tuple[float, float, float]] = {}
    for i, an in enumerate(anchor_cfgs):
        if an.id in anchors:
            raise MapError(f"anchors[{i}].id: {an.id!r} is used twice")
        anchors[an.id] = (an.x, an.y, an.z)
    on_way: list[list[tuple[float, Point]]] = [[(0.0, _key(w.start)), (1.0, _key(w.end))] for w in walkways]

    def attach(p: Point, what: str) -> Point:
        """Insert the walkway point nearest `p` into the graph; MapError if no walkway is within reach."""
        best = min(((_project(p, w.start, w.end), i) for i, w in enumerate(walkways)), key=lambda r: r[0][1])
        (q, dist, t), i = best
        if dist > section.reach_m:
            raise MapError(f"{what} is {dist:.1f} m from the nearest walkway (reach_m = {section.reach_m})")
        on_way[i].append((t, _key(q)))
        return _key(q)

    access = {}
    for s in listed:
        for bay in range(1, s.bays + 1):
            access[(s.id, bay)] = attach(s.face_point(bay), f"{s.key}: {s.kind} {s.id!r} bay {bay}")
    entrance_node, packing_node = attach(entrance, "entrance"), attach(packing, "packing")
    for i, w in enumerate(walkways):  # junctions: other walkways' ends lying on this one
        for other in walkways:
            for end in (other.start, other.end):
                q, dist, t = _project(end, w.start, w.end)
                if dist < 1e-3:
                    on_way[i].append((t, _key(q)))
    graph = nx.Graph()
    for points in on_way:
        ordered = sorted(set(points))
        for (_, a), (_, b) in zip(ordered, ordered[1:]):
            if a != b:
                graph.add_edge(a, b, weight=math.dist(a, b))
        graph.add_node(ordered[0][1])
    reachable = nx.node_connected_component(graph, packing_node)
    if entrance_node not in reachable:
        raise MapError("entrance: no walkway connects the entrance to the packing point")
    for (shelf_id, bay), node in access.items():
        if node not in reachable:
            s = shelves[shelf_id]
            raise MapError(f"{s.key}: {s.kind} {shelf_id!r} bay {bay} is on a walkway cut off from the packing point")
    xs = [v for s in listed for v in (s.x0, s.x1)] + [entrance[0], packing[0]]
    ys = [v for s in listed for v in (s.y0, s.y1)] + [entrance[1], packing[1]]
    return StoreMap(shelves, anchors, walkways, graph, entrance_node, packing_node, access,
                    max(xs) + 1.0, max(ys) + 1.0)
