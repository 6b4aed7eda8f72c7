"""Planogram compliance: where products belong, compared with where their labels are found.

Rules, checked at bay (or endcap) granularity, for every product in the planogram:
- `missing`: none of the product's labels is located;
- `misplaced`: a label of the product is located elsewhere than planned;
- `wrong_endcap`: planned on an endcap and found on another endcap;
and for every located label bound to no product:
- `unknown_label` (a label on the shelves nobody can attribute).
A deviation is raised once (`planogram.deviation` with `state: "raised"`) and cleared when the
rule no longer holds (`state: "cleared"`), both emitted in the transaction that notices it.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import Field, model_validator

from edge.esl.map.storemap import Place, StoreMap
from edge.store import Tx
from edge.store.db import utc_now
from edge.sync.commands import Args, CommandError, CommandRegistry
from edge.sync.fields import PlaceName, Sku

KINDS = ("missing", "misplaced", "wrong_endcap", "unknown_label")


class PlannedItem(Args):
    """Where one product belongs: a run and bay (level optional), or an endcap."""

    sku: Sku
    run: PlaceName | None = None
    bay: Annotated[int, Field(ge=1, le=1000)] | None = None
    level: Annotated[int, Field(ge=1, le=100)] | None = None
    endcap: PlaceName | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> PlannedItem:
        """Either run with bay, or endcap."""
        if (self.endcap is None) == (self.run is None) or (self.run is not None and self.bay is None):
            raise ValueError("give either run and bay (and optionally level) or endcap")
        return self

    @property
    def place(self) -> Place:
        """The planned place."""
        return Place(self.run, self.bay, self.level, self.endcap)


class SetArgs(Args):
    """`planogram.set` arguments; `replace` drops products not listed."""

    items: Annotated[list[PlannedItem], Field(min_length=1, max_length=20_000)]
    replace: bool = False


class ComplianceArgs(Args):
    """`planogram.compliance` arguments."""

    limit: Annotated[int, Field(ge=0, le=1000)] = 50


def _place(row: tuple[Any, ...]) -> Place:
    """A place from (run, bay, level, endcap) columns."""
    return Place(row[0], row[1], row[2], row[3])


def _found(tx: Tx) -> tuple[dict[str, list[tuple[str, Place]]], list[tuple[str, str | None, Place]]]:
    """Located labels per SKU, and every located label as (label, sku, place)."""
    by_sku: dict[str, list[tuple[str, Place]]] = {}
    located = []
    for label, sku, *cols in tx.conn.execute(
        "SELECT p.label, l.sku, p.run, p.bay, p.level, p.endcap FROM esl_positions p"
        " LEFT JOIN esl_labels l ON l.id = p.label WHERE p.run IS NOT NULL OR p.endcap IS NOT NULL ORDER BY p.label"
    ):
        place = _place(tuple(cols))
        located.append((label, sku, place))
        if sku is not None:
            by_sku.setdefault(sku, []).append((label, place))
    return by_sku, located


def deviations(tx: Tx) -> dict[tuple[str, str, str], tuple[Place | None, Place | None]]:
    """Every deviation that holds now: (sku, label, kind) → (expected, found)."""
    plan = {r[0]: _place(r[1:]) for r in tx.conn.execute("SELECT sku, run, bay, level, endcap FROM esl_planogram")}
    if not plan:
        return {}
    by_sku, located = _found(tx)
    out: dict[tuple[str, str, str], tuple[Place | None, Place | None]] = {}
    for sku, expected in plan.items():
        found = by_sku.get(sku, [])
        if not found:
            out[(sku, "", "missing")] = (expected, None)
        for label, place in found:
            if place.spot != expected.spot:
                kind = "wrong_endcap" if expected.endcap and place.endcap else "misplaced"
                out[(sku, label, kind)] = (expected, place)
    for label, sku, place in located:
        if sku is None:
            out[("", label, "unknown_label")] = (None, place)
    return out


def check(tx: Tx) -> dict[str, int]:
    """Raise new deviations and clear fixed ones, with their events; returns how many of each."""
    now = deviations(tx)
    open_rows = {(r[1], r[2], r[3]): r[0] for r in tx.conn.execute(
        "SELECT id, sku, label, kind FROM esl_deviations WHERE cleared_at IS NULL")}
    stamp = utc_now()
    raised = cleared = 0
    for key, (expected, found) in now.items():
        if key in open_rows:
            continue
        sku, label, kind = key
        exp, fnd = (expected.as_dict() if expected else None), (found.as_dict() if found else None)
        tx.conn.execute(
            "INSERT INTO esl_deviations (sku, label, kind, expected, found, raised_at) VALUES (?, ?, ?, ?, ?, ?)",
            (sku, label, kind, json.dumps(exp), json.dumps(fnd), stamp),
        )
        tx.emit("planogram.deviation", {"state": "raised", "kind": kind, "sku": sku or None, "label": label or None,
                                        "expected": exp, "found": fnd})
        raised += 1
    for key, row_id in open_rows.items():
        if key not in now:
            sku, label, kind = key
            tx.conn.execute("UPDATE esl_deviations SET cleared_at = ? WHERE id = ?", (stamp, row_id))
            tx.emit("planogram.deviation", {"state": "cleared", "kind": kind, "sku": sku or None, "label": label or None})
            cleared += 1
    return {"raised": raised, "cleared": cleared, "open": len(now)}


class PlanogramCommands:
    """`planogram.set` and `planogram.compliance`, checked against the store map."""

    def __init__(self, store_map: StoreMap) -> None:
        """Positions in a planogram must exist on this map."""
        self._map = store_map

    def register(self, registry: CommandRegistry) -> None:
        """Add the commands."""
        registry.register("planogram.set", SetArgs, self.set, "Say where products belong (run/bay/level or endcap)")
        registry.register("planogram.compliance", ComplianceArgs, self.compliance,
                          "Share of planned products found where planned, and the open deviations")

    def set(self, tx: Tx, args: SetArgs) -> dict[str, Any]:
        """Store the planned places (unknown SKU: not_found; place not on the map: invalid_argument) and re-check."""
        seen: set[str] = set()
        for n, item in enumerate(args.items):
            if item.sku in seen:
                raise CommandError("invalid_argument", f"items[{n}].sku: {item.sku!r} listed twice")
            seen.add(item.sku)
            if not self._map.valid(item.place):
                field = "endcap" if item.endcap else ("run" if item.run not in self._map.shelves else "bay/level")
                raise CommandError("invalid_argument", f"items[{n}].{field}: {item.place.as_dict()} is not on the store map")
            if tx.conn.execute("SELECT 1 FROM products WHERE sku = ?", (item.sku,)).fetchone() is None:
                raise CommandError("not_found", f"items[{n}].sku: unknown product {item.sku!r}")
        if args.replace:
            tx.conn.execute("DELETE FROM esl_planogram")
        stamp = utc_now()
        tx.conn.executemany(
            "INSERT OR REPLACE INTO esl_planogram (sku, run, bay, level, endcap, set_at) VALUES (?, ?, ?, ?, ?, ?)",
            [(i.sku, i.run, i.bay, i.level, i.endcap, stamp) for i in args.items],
        )
        planned = tx.conn.execute("SELECT count(*) FROM esl_planogram").fetchone()[0]
        return {"planned": planned, **check(tx)}

    def compliance(self, tx: Tx, args: ComplianceArgs) -> dict[str, Any]:
        """Planned products found where planned (overall and on endcaps), open deviations by kind."""
        return summary(tx, args.limit)


def summary(tx: Tx, limit: int = 50) -> dict[str, Any]:
    """The compliance figures from the open deviations (as of the last check)."""
    planned = {r[0]: r[1] for r in tx.conn.execute("SELECT sku, endcap IS NOT NULL FROM esl_planogram")}
    rows = tx.conn.execute(
        "SELECT sku, label, kind, expected, found, raised_at FROM esl_deviations WHERE cleared_at IS NULL ORDER BY id"
    ).fetchall()
    bad = {r[0] for r in rows if r[2] != "unknown_label"}
    endcaps = [s for s, e in planned.items() if e]
    by_kind = {k: sum(r[2] == k for r in rows) for k in KINDS}
    compliant = len(planned) - len(bad & set(planned))
    return {
        "planned": len(planned), "compliant": compliant, "share": round(compliant / len(planned), 4) if planned else None,
        "endcaps": {"planned": len(endcaps), "compliant": len(endcaps) - len(bad & set(endcaps))},
        "by_kind": by_kind,
        "deviations": [{"sku": r[0] or None, "label": r[1] or None, "kind": r[2], "expected": json.loads(r[3]),
                        "found": json.loads(r[4]), "raised_at": r[5]} for r in rows[:limit]],
    }
