"""Pick lights: `pick.start` / `pick.done` / `pick.cancel`, and the LED driver that makes each order's labels flash.

Commands only write the order (pure DB, in the command's transaction) and wake the driver.
The driver derives what every label should show from the active orders: one order's colour
flashes until the order times out; when several orders share a label their colours take
turns, one LED command per colour every `alternate_s` seconds. Timeouts are enforced by the
driver and end the order with a `pick.completed` event (outcome `timeout`).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

import structlog
from pydantic import Field

from devices.esl import led as leds
from devices.esl.codec import EslAddress
from devices.esl.errors import EslError
from devices.esl.led import LedColor, LedParams
from devices.esl.radio import EslRadio, Label
from edge.esl.config import Picking
from edge.esl.pickroute import plan
from edge.esl.routing import Router
from edge.store import Store, Tx
from edge.store.db import utc_now
from edge.sync.commands import Args, CommandError, CommandRegistry

log = structlog.get_logger("esl.picking")

PICK_TOPIC = "esl.pick"
COLOURS: dict[str, LedColor] = {
    "red": leds.RED, "green": leds.GREEN, "blue": leds.BLUE, "yellow": leds.YELLOW,
    "cyan": leds.CYAN, "magenta": leds.MAGENTA, "white": leds.WHITE,
}
_FAILURE_PAUSE_S = 5.0


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


class PrioritySlots:
    """N radio connections; waiters with the lower priority go first, so a new order's first light never
    queues behind colour turns of orders already flashing."""

    def __init__(self, size: int) -> None:
        """`size` connections, all free."""
        self._free = size
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    async def acquire(self, priority: int) -> None:
        """Wait for a free connection (priority 0 before 1, first come first served within one)."""
        if self._free > 0 and not self._waiters:
            self._free -= 1
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (priority, next(self._seq), fut))
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self.release()  # handed a connection while being cancelled: pass it on
            raise

    def release(self) -> None:
        """Hand the connection to the best waiter, or mark it free."""
        while self._waiters:
            _, _, fut = heapq.heappop(self._waiters)
            if not fut.done():
                fut.set_result(None)
                return
        self._free += 1


@dataclass
class _Lit:
    """What the driver last told one label's LED: the colour of `order`, sent when `orders` shared the label."""

    colour: str
    until: float
    sent_at: float
    orders: tuple[str, ...]
    order: str


def _active(db: Any) -> tuple[list[tuple[str, str, float]], dict[str, tuple[int, int]], dict[str, list[tuple[str, float, str]]]]:
    """Active orders (id, colour, expiry), label addresses, and per label the open orders' colours in start order."""
    orders = db.execute(
        "SELECT order_id, color, expires_at FROM esl_pick_orders WHERE status = 'active' ORDER BY started_ts, order_id"
    ).fetchall()
    wanted: dict[str, list[tuple[str, float, str]]] = {}
    for order_id, colour, expires in orders:
        for (labels,) in db.execute(
            "SELECT labels FROM esl_pick_items WHERE order_id = ? AND status = 'open'", (order_id,),
        ):
            for label in labels.split(","):
                wanted.setdefault(label, []).append((colour, expires, order_id))
    addresses = {}
    if wanted:
        marks = ",".join("?" * len(wanted))
        addresses = {r[0]: (r[1], r[2]) for r in db.execute(
            f"SELECT id, esl_group, esl_id FROM esl_labels WHERE id IN ({marks})", list(wanted))}
    return orders, addresses, wanted


class LedDriver:
    """Keeps every label's LED in line with the active orders, with a few connections of its own."""

    def __init__(self, store: Store, radio: EslRadio, config: Picking, clock: Any = time.time) -> None:
        """Nothing runs until `run`."""
        self._store = store
        self._radio = radio
        self._config = config
        self._clock = clock
        self._lit: dict[str, _Lit] = {}
        self._busy: set[str] = set()
        self._paused: dict[str, float] = {}
        self._slots = PrioritySlots(config.connections)
        self._tasks: set[asyncio.Task[None]] = set()
        self.first_command_at: dict[str, float] = {}  # order -> wall time its first LED command went out
        self.commands = 0
        self._kick = asyncio.Event()  # an LED operation ended while a label waited for it
        self._deferred = False

    async def run(self) -> None:
        """React to order changes at once, and tick to alternate colours and enforce timeouts."""
        wake = self._store.changed(PICK_TOPIC)
        tick = min(1.0, self._config.alternate_s / 2)
        try:
            while True:
                wake.clear()
                self._kick.clear()
                await self.step()
                waits = [asyncio.ensure_future(wake.wait()), asyncio.ensure_future(self._kick.wait())]
                try:
                    await asyncio.wait(waits, timeout=tick, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for w in waits:
                        w.cancel()
        finally:
            for task in self._tasks:
                task.cancel()

    def _choose(self, label: str, entries: list[tuple[str, float, str]], now: float) -> tuple[tuple[str, float, str], int] | None:
        """The order whose colour the label should show next and the command's priority, or None to leave it.

        A label that is dark, or that an order has just joined, shows the newest order at once
        (priority 0). Otherwise orders sharing the label take turns every `alternate_s` (priority 1).
        """
        lit = self._lit.get(label)
        if lit is None:
            return entries[-1], 0
        new = [e for e in entries if e[2] not in lit.orders]
        if new:
            return new[-1], 0
        current = next((i for i, e in enumerate(entries) if e[2] == lit.order), None)
        if current is None:
            return entries[0], 1
        if len(entries) > 1 and now - lit.sent_at >= self._config.alternate_s:
            return entries[(current + 1) % len(entries)], 1
        if lit.until <= now:
            return entries[current], 1
        return None

    async def step(self) -> None:
        """Expire overdue orders, then send whatever LED commands the current orders need."""
        now = self._clock()
        orders, addresses, wanted = await self._store.read(_active)
        overdue = [o for o, _, expires in orders if expires <= now]
        if overdue:
            await self._store.write(lambda tx: expire(tx, overdue))
            orders, addresses, wanted = await self._store.read(_active)
        active = {o for o, _, _ in orders}
        for order in [o for o in self.first_command_at if o not in active]:
            del self.first_command_at[order]
        for label, entries in wanted.items():
            entries = [e for e in entries if e[1] > now]
            if not entries or self._paused.get(label, 0) > now:
                continue
            if label in self._busy:
                self._deferred = True
                continue
            choice = self._choose(label, entries, now)
            if choice is None:
                continue
            (colour, expires, order), priority = choice
            seconds = max(1, math.ceil(expires - now)) if len(entries) == 1 else self._config.alternate_s + 1
            lit = _Lit(colour, now + seconds, now, tuple(e[2] for e in entries), order)
            self._send(label, addresses[label], lit, priority)
        for label in [lab for lab in self._lit if lab not in wanted and lab not in self._busy]:
            self._stop(label)

    def _spawn(self, label: str, op: Callable[[], Awaitable[None]], priority: int) -> None:
        """Run one LED operation in the background, at most one per label at a time."""
        self._busy.add(label)
        task = asyncio.create_task(self._guarded(label, op, priority), name=f"esl-led-{label}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _guarded(self, label: str, op: Callable[[], Awaitable[None]], priority: int) -> None:
        """One LED operation on one of the driver's connections; a failure pauses that label briefly."""
        try:
            await self._slots.acquire(priority)
            try:
                await op()
            finally:
                self._slots.release()
        except (EslError, TimeoutError) as err:
            log.info("esl.led.failed", label=label, error=str(err) or type(err).__name__)
            self._lit.pop(label, None)
            self._paused[label] = self._clock() + _FAILURE_PAUSE_S
        finally:
            self._busy.discard(label)
            if self._deferred:
                self._deferred = False
                self._kick.set()

    def _send(self, label: str, address: tuple[int, int], lit: _Lit, priority: int) -> None:
        """Flash the chosen order's colour until `lit.until` (the next command replaces it)."""
        target = Label(label, EslAddress(*address))
        seconds = max(1, math.ceil(lit.until - lit.sent_at))
        params = LedParams.flash(COLOURS[lit.colour], pattern=0b1010, on_ms=250, off_ms=250, seconds=min(seconds, 0x7FFF))
        self._lit[label] = lit

        async def op() -> None:
            """Send the LED command."""
            self.commands += 1
            self.first_command_at.setdefault(lit.order, time.time())
            await self._radio.flash_led(target, 0, params)

        self._spawn(label, op, priority)

    def _stop(self, label: str) -> None:
        """Turn the LED off (its orders are done, cancelled or timed out)."""
        del self._lit[label]

        async def op() -> None:
            """Look the label up and turn its LED off."""
            row = await self._store.read(lambda db: db.execute(
                "SELECT esl_group, esl_id FROM esl_labels WHERE id = ?", (label,)).fetchone())
            if row is not None:
                self.commands += 1
                await self._radio.stop_led(Label(label, EslAddress(*row)), 0)

        self._spawn(label, op, 1)

    def health(self) -> dict[str, Any]:
        """Lit labels and LED commands sent, for status."""
        return {"lit_labels": len(self._lit), "led_commands": self.commands}
