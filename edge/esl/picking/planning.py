"""Route planning of pick orders from the label positions in SQLite: which items can be placed, and the walk through them."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from edge.esl.map.storemap import Place
from edge.esl.picking.routing import Router

Stop = tuple[Hashable, list[str], dict[str, Any]]  # (key, labels, the route entry's fields)

_POSITION_SQL = (
    "SELECT p.label, p.run, p.bay, p.level, p.endcap, p.confidence FROM esl_positions p"
    " WHERE p.label IN ({marks}) AND (p.run IS NOT NULL OR p.endcap IS NOT NULL) ORDER BY p.confidence DESC, p.label"
)


def locate_labels(conn: Any, labels: list[str]) -> tuple[Place, float] | None:
    """The best-known place of any of `labels` and its confidence, or None when none is located."""
    if not labels:
        return None
    row = conn.execute(_POSITION_SQL.format(marks=",".join("?" * len(labels))), labels).fetchone()
    if row is None:
        return None
    return Place(row[1], row[2], row[3], row[4]), row[5]


def positions(conn: Any, router: Router | None, stops: list[Stop]) -> list[tuple[Place, float] | None]:
    """The best-known place of each stop's labels (None for every stop when there is no map): the SQL part of planning."""
    return [locate_labels(conn, labels) if router is not None else None for _, labels, _ in stops]


def walk(router: Router | None, stops: list[Stop], found: list[tuple[Place, float] | None]) -> dict[str, Any]:
    """Ordered stops for `stops` (key, labels, entry fields) placed at `found`: located ones walked in the best order, the rest last.

    Pure CPU (shortest paths and the tour: tens of milliseconds for dozens of stops), so it may
    run in a worker thread. Every entry keeps its fields and gains `located`, and when located
    `position`, `leg_m` and `total_m` (metres from the entrance, counting this stop).
    """
    placed: list[tuple[Hashable, Place]] = []
    entries: dict[Hashable, dict[str, Any]] = {}
    unlocated = []
    for (key, _labels, fields), where in zip(stops, found, strict=True):
        if where is None or router is None or not router.map.valid(where[0].spot):
            unlocated.append({**fields, "located": False})
            continue
        place = where[0]
        entries[key] = {**fields, "located": True, "position": place.as_dict()}
        placed.append((key, place))
    if not placed or router is None:
        return {"route": unlocated, "total_m": None, "to_packing_m": None, "exact": None, "unlocated": len(unlocated)}
    tour = router.walk([(key, router.map.node(place.spot)) for key, place in placed])
    route = [{**entries[leg.key], "leg_m": leg.leg_m, "total_m": leg.total_m} for leg in tour.stops]
    return {"route": route + unlocated, "total_m": tour.total_m, "to_packing_m": tour.to_packing_m, "exact": tour.exact,
            "unlocated": len(unlocated)}


def plan(conn: Any, router: Router | None, stops: list[Stop]) -> dict[str, Any]:
    """`walk` through `stops` at the positions `conn` reads now (see `walk`)."""
    return walk(router, stops, positions(conn, router, stops))
