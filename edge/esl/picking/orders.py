"""Pick orders: `pick.start` / `pick.done` / `pick.cancel` / `pick.route`, and how an order ends.

Commands write the order in the command's transaction (pure DB; walks are planned before it, see
`PickCommands`) and wake the LED driver (edge.esl.picking.lights), which enforces timeouts by
ending an order with `expire`.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import Field

from edge.esl.map.storemap import Place, StoreMap
from edge.esl.picking.config import Picking
from edge.esl.picking.planning import Stop, plan, positions, walk
from edge.esl.picking.routing import Router
from edge.store import Store, Tx
from edge.store.db import utc_now
from edge.sync.commands import Args, CommandError, CommandRegistry
from edge.sync.fields import Sku, StrictId

PICK_TOPIC = "esl.pick"


class PickItem(Args):
    """One line of an order."""

    sku: Sku
    qty: Annotated[int, Field(ge=1, le=9999)] = 1


class StartArgs(Args):
    """`pick.start` arguments."""

    order_id: StrictId
    items: Annotated[list[PickItem], Field(min_length=1, max_length=200)]
    color: Annotated[str, Field(max_length=32)] | None = None


class DoneArgs(Args):
    """`pick.done` arguments: the whole order, or one SKU of it."""

    order_id: StrictId
    sku: Sku | None = None


class CancelArgs(Args):
    """`pick.cancel` arguments."""

    order_id: StrictId


class RouteArgs(Args):
    """`pick.route` arguments: one walk for a batch of orders."""

    order_ids: Annotated[list[StrictId], Field(min_length=1, max_length=20)]


def _elapsed_ms(tx: Tx, order_id: str) -> int:
    """Milliseconds since the order started."""
    started = tx.conn.execute("SELECT started_ts FROM esl_pick_orders WHERE order_id = ?", (order_id,)).fetchone()[0]
    return max(0, round((time.time() - started) * 1000))


def _active_order(tx: Tx, order_id: str) -> None:
    """Refuse an unknown (`not_found`) or finished (`conflict`) order."""
    row = tx.conn.execute("SELECT status FROM esl_pick_orders WHERE order_id = ?", (order_id,)).fetchone()
    if row is None:
        raise CommandError("not_found", f"order_id: unknown order {order_id!r}")
    if row[0] != "active":
        raise CommandError("conflict", f"order_id: order {order_id!r} is already {row[0]}")


def finish_order(tx: Tx, order_id: str, outcome: str) -> dict[str, Any]:
    """End an order (done, cancelled or timeout) with its `pick.completed` event."""
    total, done = tx.conn.execute(
        "SELECT count(*), sum(status = 'done') FROM esl_pick_items WHERE order_id = ?", (order_id,),
    ).fetchone()
    data = {"order_id": order_id, "outcome": outcome, "items": total, "items_done": done or 0,
            "duration_ms": _elapsed_ms(tx, order_id)}
    tx.conn.execute(
        "UPDATE esl_pick_orders SET status = ?, ended_at = ? WHERE order_id = ?", (outcome, utc_now(), order_id),
    )
    tx.emit("pick.completed", data)
    tx.notify(PICK_TOPIC)
    return data


def expire(tx: Tx, order_ids: list[str]) -> None:
    """End overdue orders that are still active (one may have been picked meanwhile)."""
    for order_id in order_ids:
        row = tx.conn.execute("SELECT status FROM esl_pick_orders WHERE order_id = ?", (order_id,)).fetchone()
        if row is not None and row[0] == "active":
            finish_order(tx, order_id, "timeout")


@dataclass(frozen=True)
class Planned:
    """A walk planned before the transaction, with the stops it was planned for."""

    stops: list[Stop]
    walk: dict[str, Any]


def _start_stops(conn: Any, items: list[PickItem]) -> tuple[list[Stop], list[list[str]], list[str]]:
    """A new order's stops (ordered by the ESL address of their first label), each item's LED labels, SKUs without any."""
    route, labels, no_label = [], [], []
    for item in items:
        found = conn.execute(
            "SELECT id, esl_group, esl_id FROM esl_labels WHERE sku = ? AND coalesce(leds, 0) > 0"
            " ORDER BY esl_group, esl_id", (item.sku,),
        ).fetchall()
        ids = [r[0] for r in found]
        labels.append(ids)
        if ids:
            route.append(((found[0][1], found[0][2]), (item.sku, ids, {"sku": item.sku, "qty": item.qty, "labels": ids})))
        else:
            no_label.append(item.sku)
    return [entry for _, entry in sorted(route, key=lambda r: r[0])], labels, no_label


def _route_stops(conn: Any, order_ids: list[str]) -> tuple[list[dict[str, Any]], list[Stop]]:
    """The orders of a `pick.route` (unknown one: `not_found`) and the stops of their open items."""
    orders, items = [], []
    for n, order_id in enumerate(dict.fromkeys(order_ids)):
        row = conn.execute("SELECT color, status FROM esl_pick_orders WHERE order_id = ?", (order_id,)).fetchone()
        if row is None:
            raise CommandError("not_found", f"order_ids[{n}]: unknown order {order_id!r}")
        orders.append({"order_id": order_id, "color": row[0], "status": row[1]})
        for sku, qty, labels in conn.execute(
            "SELECT sku, qty, labels FROM esl_pick_items WHERE order_id = ? AND status = 'open' ORDER BY rowid",
            (order_id,),
        ):
            ids = labels.split(",") if labels else []
            items.append(((order_id, sku), ids,
                          {"order_id": order_id, "color": row[0], "sku": sku, "qty": qty, "labels": ids}))
    return orders, items


class PickCommands:
    """The pick commands, bound to the configured palette and timeout and to the store map's router.

    `pick.start` and `pick.route` plan their walk in the effect-free prepare phase, before the
    single writer's transaction: the label positions are read on the read connection and the
    tour is solved in a worker thread, so neither the loop nor the writer waits for it. Positions
    are advisory (a label may be moved at any time anyway), so a plan from a read a few
    milliseconds old is as good as one from inside the transaction. Everything else is checked
    again in the transaction: the order id, the colour, the labels bound to the items and the
    orders' open items; when those stops differ from the ones planned for, the walk is planned
    again there.
    """

    def __init__(self, config: Picking, store: Store, store_map: StoreMap | None = None) -> None:
        """Remember the palette (in preference order), the flashing timeout, the store and a router on the map (None: no map)."""
        self._config = config
        self._store = store
        self._router = Router(store_map) if store_map is not None else None

    def register(self, registry: CommandRegistry) -> None:
        """Add `pick.start`, `pick.done`, `pick.cancel` and `pick.route`."""
        registry.register("pick.start", StartArgs, self.start, "Flash the labels of an order's items in the order's colour",
                          prepare=self._prepare_start)
        registry.register("pick.done", DoneArgs, self.done, "Mark an item (or the whole order) picked and stop its lights")
        registry.register("pick.cancel", CancelArgs, self.cancel, "Cancel an order and stop its lights")
        registry.register("pick.route", RouteArgs, self.route,
                          "One shortest walk through the open items of one or several orders, ending at the packing point",
                          prepare=self._prepare_route)

    async def _prepare_start(self, args: StartArgs) -> Planned | None:
        """Prepare `pick.start`: the walk through the items' labels as bound now (None without a map)."""
        if self._router is None:
            return None
        router = self._router

        def read(db: Any) -> tuple[list[Stop], list[tuple[Place, float] | None]]:
            """The stops and where their labels are, on the read connection."""
            stops = _start_stops(db, args.items)[0]
            return stops, positions(db, router, stops)

        return await self._planned(*await self._store.read(read))

    async def _prepare_route(self, args: RouteArgs) -> Planned | None:
        """Prepare `pick.route`: the walk through the orders' open items as they are now (None without a map)."""
        if self._router is None:
            return None
        router = self._router

        def read(db: Any) -> tuple[list[Stop], list[tuple[Place, float] | None]] | None:
            """The stops and where their labels are, on the read connection; None when an order is unknown (yet)."""
            try:
                stops = _route_stops(db, args.order_ids)[1]
            except CommandError:
                return None  # the transaction decides, and replies
            return stops, positions(db, router, stops)

        found = await self._store.read(read)
        return None if found is None else await self._planned(*found)

    async def _planned(self, stops: list[Stop], found: list[tuple[Place, float] | None]) -> Planned | None:
        """Solve the walk in a worker thread; None (plan in the transaction, failing there as before) if it cannot be solved."""
        try:
            return Planned(stops, await asyncio.to_thread(walk, self._router, stops, found))
        except ValueError:
            return None

    def _walk(self, tx: Tx, stops: list[Stop], planned: Planned | None) -> dict[str, Any]:
        """The walk planned before the transaction if it was planned for these very stops, else planned now."""
        if planned is not None and planned.stops == stops:
            return planned.walk
        return plan(tx.conn, self._router, stops)

    def _colour(self, tx: Tx, wanted: str | None) -> str:
        """The requested colour, or the palette colour fewest active orders use (first in palette order on ties)."""
        palette = self._config.colours
        if wanted is not None:
            if wanted not in palette:
                raise CommandError("invalid_argument", f"color: {wanted!r} is not one of {palette}")
            return wanted
        used = Counter(r[0] for r in tx.conn.execute("SELECT color FROM esl_pick_orders WHERE status = 'active'"))
        return min(palette, key=lambda c: (used[c], palette.index(c)))

    def start(self, tx: Tx, args: StartArgs, planned: Planned | None) -> dict[str, Any]:
        """Create the order, choose its colour, take its route (planned before, see the class), and wake the LED driver."""
        if tx.conn.execute("SELECT 1 FROM esl_pick_orders WHERE order_id = ?", (args.order_id,)).fetchone():
            raise CommandError("conflict", f"order_id: order {args.order_id!r} already exists")
        skus = [i.sku for i in args.items]
        if len(set(skus)) != len(skus):
            dup = next(s for s in skus if skus.count(s) > 1)
            raise CommandError("invalid_argument", f"items[{skus.index(dup, skus.index(dup) + 1)}].sku: {dup!r} listed twice")
        colour = self._colour(tx, args.color)
        now = time.time()
        expires = now + self._config.timeout_s
        tx.conn.execute(
            "INSERT INTO esl_pick_orders (order_id, color, status, started_at, started_ts, expires_at)"
            " VALUES (?, ?, 'active', ?, ?, ?)",
            (args.order_id, colour, utc_now(), now, expires),
        )
        stops, labels, no_label = _start_stops(tx.conn, args.items)
        for item, ids in zip(args.items, labels, strict=True):
            tx.conn.execute(
                "INSERT INTO esl_pick_items (order_id, sku, qty, labels, status) VALUES (?, ?, ?, ?, ?)",
                (args.order_id, item.sku, item.qty, ",".join(ids), "open" if ids else "no_label"),
            )
        tx.notify(PICK_TOPIC)
        walk = self._walk(tx, stops, planned)
        return {
            "order_id": args.order_id, "color": colour, "expires_at": _iso(expires), "route": walk["route"],
            "located": bool(walk["route"]) and walk["unlocated"] == 0, "total_m": walk["total_m"],
            "to_packing_m": walk["to_packing_m"], "no_label": no_label,
        }

    def route(self, tx: Tx, args: RouteArgs, planned: Planned | None) -> dict[str, Any]:
        """One walk through every open item of the given orders, each stop tagged with its order and colour."""
        orders, stops = _route_stops(tx.conn, args.order_ids)
        return {"orders": orders, **self._walk(tx, stops, planned)}

    def done(self, tx: Tx, args: DoneArgs) -> dict[str, Any]:
        """Mark one SKU (or every open one) picked; `pick.progress` per item, `pick.completed` when none is left."""
        _active_order(tx, args.order_id)
        if args.sku is not None:
            row = tx.conn.execute(
                "SELECT status FROM esl_pick_items WHERE order_id = ? AND sku = ?", (args.order_id, args.sku),
            ).fetchone()
            if row is None:
                raise CommandError("not_found", f"sku: {args.sku!r} is not in order {args.order_id!r}")
            skus = [args.sku] if row[0] != "done" else []
        else:
            skus = [r[0] for r in tx.conn.execute(
                "SELECT sku FROM esl_pick_items WHERE order_id = ? AND status != 'done'", (args.order_id,))]
        elapsed = _elapsed_ms(tx, args.order_id)
        for sku in skus:
            tx.conn.execute(
                "UPDATE esl_pick_items SET status = 'done', done_at = ? WHERE order_id = ? AND sku = ?",
                (utc_now(), args.order_id, sku),
            )
        total, done = tx.conn.execute(
            "SELECT count(*), sum(status = 'done') FROM esl_pick_items WHERE order_id = ?", (args.order_id,),
        ).fetchone()
        for sku in skus:
            tx.emit("pick.progress", {"order_id": args.order_id, "sku": sku, "items_done": done, "items": total,
                                      "elapsed_ms": elapsed})
        tx.notify(PICK_TOPIC)
        if done == total:
            return {"order_id": args.order_id, "completed": True, **finish_order(tx, args.order_id, "done")}
        return {"order_id": args.order_id, "completed": False, "items_done": done, "items": total}

    def cancel(self, tx: Tx, args: CancelArgs) -> dict[str, Any]:
        """Stop the order's lights; `pick.completed` with outcome `cancelled`."""
        _active_order(tx, args.order_id)
        return finish_order(tx, args.order_id, "cancelled")


def _iso(ts: float) -> str:
    """RFC 3339 UTC of an epoch time."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
