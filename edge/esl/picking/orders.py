"""Pick orders: `pick.start` / `pick.done` / `pick.cancel` / `pick.route`, and how an order ends.

Commands only write the order (pure DB, in the command's transaction) and wake the LED driver
(edge.esl.picking.lights), which enforces timeouts by ending an order with `expire`.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import Field

from edge.esl.picking.config import Picking
from edge.esl.picking.planning import plan
from edge.esl.picking.routing import Router
from edge.store import Tx
from edge.store.db import utc_now
from edge.sync.commands import Args, CommandError, CommandRegistry

PICK_TOPIC = "esl.pick"


class PickItem(Args):
    """One line of an order."""

    sku: Annotated[str, Field(min_length=1, max_length=32)]
    qty: Annotated[int, Field(ge=1, le=9999)] = 1


class StartArgs(Args):
    """`pick.start` arguments."""

    order_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9._:-]{1,64}$")]
    items: Annotated[list[PickItem], Field(min_length=1, max_length=200)]
    color: str | None = None


class DoneArgs(Args):
    """`pick.done` arguments: the whole order, or one SKU of it."""

    order_id: str
    sku: str | None = None


class CancelArgs(Args):
    """`pick.cancel` arguments."""

    order_id: str


class RouteArgs(Args):
    """`pick.route` arguments: one walk for a batch of orders."""

    order_ids: Annotated[list[str], Field(min_length=1, max_length=20)]


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


class PickCommands:
    """The pick commands, bound to the configured palette and timeout."""

    def __init__(self, config: Picking, router: Router | None = None) -> None:
        """Remember the palette (in preference order), the flashing timeout and the store's router (None: no map)."""
        self._config = config
        self._router = router

    def register(self, registry: CommandRegistry) -> None:
        """Add `pick.start`, `pick.done` and `pick.cancel`."""
        registry.register("pick.start", StartArgs, self.start, "Flash the labels of an order's items in the order's colour")
        registry.register("pick.done", DoneArgs, self.done, "Mark an item (or the whole order) picked and stop its lights")
        registry.register("pick.cancel", CancelArgs, self.cancel, "Cancel an order and stop its lights")
        registry.register("pick.route", RouteArgs, self.route,
                          "One shortest walk through the open items of one or several orders, ending at the packing point")

    def _colour(self, tx: Tx, wanted: str | None) -> str:
        """The requested colour, or the palette colour fewest active orders use (first in palette order on ties)."""
        palette = self._config.colours
        if wanted is not None:
            if wanted not in palette:
                raise CommandError("invalid_argument", f"color: {wanted!r} is not one of {palette}")
            return wanted
        used = Counter(r[0] for r in tx.conn.execute("SELECT color FROM esl_pick_orders WHERE status = 'active'"))
        return min(palette, key=lambda c: (used[c], palette.index(c)))

    def start(self, tx: Tx, args: StartArgs) -> dict[str, Any]:
        """Create the order, choose its colour and route, and wake the LED driver."""
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
        route, no_label = [], []
        for item in args.items:
            found = tx.conn.execute(
                "SELECT id, esl_group, esl_id FROM esl_labels WHERE sku = ? AND coalesce(leds, 0) > 0"
                " ORDER BY esl_group, esl_id", (item.sku,),
            ).fetchall()
            ids = [r[0] for r in found]
            tx.conn.execute(
                "INSERT INTO esl_pick_items (order_id, sku, qty, labels, status) VALUES (?, ?, ?, ?, ?)",
                (args.order_id, item.sku, item.qty, ",".join(ids), "open" if ids else "no_label"),
            )
            if ids:
                route.append(((found[0][1], found[0][2]), (item.sku, ids, {"sku": item.sku, "qty": item.qty, "labels": ids})))
            else:
                no_label.append(item.sku)
        tx.notify(PICK_TOPIC)
        walk = plan(tx.conn, self._router, [entry for _, entry in sorted(route, key=lambda r: r[0])])
        return {
            "order_id": args.order_id, "color": colour, "expires_at": _iso(expires), "route": walk["route"],
            "located": bool(walk["route"]) and walk["unlocated"] == 0, "total_m": walk["total_m"],
            "to_packing_m": walk["to_packing_m"], "no_label": no_label,
        }

    def route(self, tx: Tx, args: RouteArgs) -> dict[str, Any]:
        """One walk through every open item of the given orders, each stop tagged with its order and colour."""
        orders, items = [], []
        for n, order_id in enumerate(dict.fromkeys(args.order_ids)):
            row = tx.conn.execute("SELECT color, status FROM esl_pick_orders WHERE order_id = ?", (order_id,)).fetchone()
            if row is None:
                raise CommandError("not_found", f"order_ids[{n}]: unknown order {order_id!r}")
            orders.append({"order_id": order_id, "color": row[0], "status": row[1]})
            for sku, qty, labels in tx.conn.execute(
                "SELECT sku, qty, labels FROM esl_pick_items WHERE order_id = ? AND status = 'open' ORDER BY rowid",
                (order_id,),
            ):
                ids = labels.split(",") if labels else []
                items.append(((order_id, sku), ids,
                              {"order_id": order_id, "color": row[0], "sku": sku, "qty": qty, "labels": ids}))
        return {"orders": orders, **plan(tx.conn, self._router, items)}

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
