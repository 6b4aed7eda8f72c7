"""The positioning loop of the esl job: scan the anchors, locate every label, store changes, check the planogram.

Positions live in `esl_positions`; a located label found at another bay (or endcap) emits
`label.moved`. Every round that changes a position re-checks the planogram in the same
transaction. With the simulated backend the anchor field is `devices.esl.anchors.AnchorField`
and every label gets a seeded random place (`truth`), which the demo and tests can change with
`move`; `feed` accepts reports from anywhere else (they are validated like all reports).
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

import structlog

from devices.esl.anchors import AnchorField, AnchorReport, RadioModel
from edge.esl.map import planogram
from edge.esl.map.config import Positioning
from edge.esl.map.positioning import Estimate, Locator, Smoother
from edge.esl.map.storemap import Place, StoreMap
from edge.store import Store, Tx
from edge.store.db import utc_now
from edge.sync.commands import Args, CommandError, CommandRegistry
from edge.sync.fields import Sku

log = structlog.get_logger("esl.locating")


class LocateArgs(Args):
    """`locate` arguments."""

    sku: Sku


def placement(store_map: StoreMap, labels: list[str], seed: int) -> dict[str, Place]:
    """Seeded random distinct places (bay and level, or endcap level) for the simulated labels."""
    places = store_map.places()
    rng = random.Random(seed)
    picked = rng.sample(places, min(len(labels), len(places)))
    picked += [rng.choice(places) for _ in range(len(labels) - len(picked))]
    return dict(zip(labels, picked))


def locate(tx: Tx, args: LocateArgs) -> dict[str, Any]:
    """Where the product's labels are and how sure; unknown SKU: not_found."""
    labels = tx.conn.execute(
        "SELECT l.id, p.run, p.bay, p.level, p.endcap, p.confidence, p.located_at FROM esl_labels l"
        " LEFT JOIN esl_positions p ON p.label = l.id WHERE l.sku = ? ORDER BY p.confidence DESC, l.id", (args.sku,),
    ).fetchall()
    if not labels and tx.conn.execute("SELECT 1 FROM products WHERE sku = ?", (args.sku,)).fetchone() is None:
        raise CommandError("not_found", f"sku: unknown product {args.sku!r}")
    out = []
    for label, run, bay, level, endcap, confidence, located_at in labels:
        located = run is not None or endcap is not None
        out.append({"label": label, "located": located, "confidence": confidence, "located_at": located_at,
                    "position": Place(run, bay, level, endcap).as_dict() if located else None})
    best = next((e for e in out if e["located"]), None)
    return {"sku": args.sku, "located": best is not None, "position": best and best["position"],
            "confidence": best and best["confidence"], "labels": out}


def register_commands(registry: CommandRegistry) -> None:
    """Add `locate`."""
    registry.register("locate", LocateArgs, locate, "Where a product's shelf labels are, and how sure")


class Locating:
    """Anchor scans → smoothed readings → places in SQLite, every `interval_s`."""

    def __init__(self, store: Store, store_map: StoreMap, config: Positioning) -> None:
        """Nothing is computed until `run` (the locator's prediction table takes a second or so)."""
        self._store = store
        self.map = store_map
        self.config = config
        sim = config.simulated
        self.model = RadioModel(noise_db=sim.noise_db, miss_rate=sim.miss_rate, shelf_db=sim.shelf_db)
        self.field = AnchorField(store_map.anchors, store_map.obstacles(), self.model, seed=sim.seed, dead=set(sim.dead))
        self.smoother = Smoother(store_map.anchors, alpha=config.alpha, forget_rounds=config.forget_rounds)
        self.locator: Locator | None = None
        self.truth: dict[str, Place] = {}
        self._known: dict[str, tuple[Place, float]] = {}
        self._fed: list[AnchorReport] = []
        self._warned: set[str] = set()
        self.rounds = 0
        self.rejected = 0

    def move(self, label: str, place: Place) -> None:
        """Simulation: put a label somewhere else on the map."""
        self.truth[label] = place
        self.field.place({label: self.map.xyz(place)})

    def feed(self, reports: list[AnchorReport]) -> None:
        """Reports from outside the simulator, folded in at the next round."""
        self._fed.extend(reports)

    async def run(self) -> None:
        """Build the locator, place the simulated labels, then locate every `interval_s` until cancelled."""
        self.locator = await asyncio.to_thread(Locator, self.map, self.model)
        ids = await self._store.read(lambda db: [r[0] for r in db.execute("SELECT id FROM esl_labels ORDER BY id")])
        self.truth = placement(self.map, ids, self.config.simulated.seed)
        await asyncio.to_thread(self.field.place, {k: self.map.xyz(p) for k, p in self.truth.items()})
        rows = await self._store.read(lambda db: db.execute(
            "SELECT label, run, bay, level, endcap, confidence FROM esl_positions").fetchall())
        self._known = {r[0]: (Place(r[1], r[2], r[3], r[4]), r[5]) for r in rows}
        while True:
            await self.round()
            await asyncio.sleep(self.config.interval_s)

    async def round(self) -> int:
        """One scan and locate; returns how many positions changed."""
        assert self.locator is not None, "run() builds the locator"
        reports = await asyncio.to_thread(self.field.scan)
        fed, self._fed = self._fed, []
        for anchor, reason in self.smoother.update([*reports, *fed]):
            self.rejected += 1
            (log.debug if anchor in self._warned else log.warning)("esl.anchor.rejected", anchor=anchor, reason=reason)
            self._warned.add(anchor)
        estimates = await asyncio.to_thread(self.locator.locate_all, self.smoother)
        changes = {k: e for k, e in estimates.items() if self._changed(k, e)}
        if changes:
            await self._store.write(lambda tx: self._record(tx, changes))
        self.rounds += 1
        return len(changes)

    def _changed(self, label: str, est: Estimate) -> bool:
        """Worth a write: confident enough, and a new place or a clearly different confidence."""
        if est.confidence < self.config.min_confidence:
            return False
        known = self._known.get(label)
        return known is None or known[0] != est.place or abs(known[1] - est.confidence) >= 0.05

    def _record(self, tx: Tx, changes: dict[str, Estimate]) -> None:
        """Store new places, emit `label.moved` for labels found at another bay or endcap, re-check the planogram."""
        stamp = utc_now()
        for label, est in changes.items():
            known = self._known.get(label)
            moved = known is not None and known[0].spot != est.place.spot
            p = est.place
            tx.conn.execute(
                "INSERT INTO esl_positions (label, run, bay, level, endcap, confidence, located_at, changed_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(label) DO UPDATE SET run = excluded.run, bay = excluded.bay,"
                " level = excluded.level, endcap = excluded.endcap, confidence = excluded.confidence,"
                " located_at = excluded.located_at,"
                " changed_at = CASE WHEN ? THEN excluded.changed_at ELSE esl_positions.changed_at END",
                (label, p.run, p.bay, p.level, p.endcap, est.confidence, stamp, stamp, moved or known is None),
            )
            if moved:
                sku = tx.conn.execute("SELECT sku FROM esl_labels WHERE id = ?", (label,)).fetchone()
                tx.emit("label.moved", {"label": label, "sku": sku[0] if sku else None, "from": known[0].as_dict(),  # type: ignore[index]
                                        "to": p.as_dict(), "confidence": est.confidence})
        tx.after_commit(lambda: self._known.update({k: (e.place, e.confidence) for k, e in changes.items()}))
        planogram.check(tx)

    def placed(self, label: str) -> Place | None:
        """Where positioning last put a label (bay or endcap, no level), or None."""
        known = self._known.get(label)
        return known[0].spot if known else None

    def health(self) -> dict[str, Any]:
        """Rounds run, labels located, readings rejected."""
        return {"rounds": self.rounds, "located": len(self._known), "rejected": self.rejected}
