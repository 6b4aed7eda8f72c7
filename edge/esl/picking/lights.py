"""Pick lights: the LED driver that makes each active order's labels flash in the order's colour.

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
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import structlog

from devices.esl import led as leds
from devices.esl.codec import EslAddress
from devices.esl.errors import EslError
from devices.esl.led import LedColor, LedParams
from devices.esl.radio import EslRadio, Label
from edge.esl.picking.config import Picking
from edge.esl.picking.orders import PICK_TOPIC, expire
from edge.store import Store

log = structlog.get_logger("esl.picking")

COLOURS: dict[str, LedColor] = {
    "red": leds.RED, "green": leds.GREEN, "blue": leds.BLUE, "yellow": leds.YELLOW,
    "cyan": leds.CYAN, "magenta": leds.MAGENTA, "white": leds.WHITE,
}
_FAILURE_PAUSE_S = 5.0


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

    def __init__(self, store: Store, radio: EslRadio, config: Picking, clock: Any = time.time,
                 slots: int | None = None) -> None:
        """Nothing runs until `run`; `slots` LED commands at once (default `config.connections`).

        In connected mode every command is a connection, so a few; over PAwR a command waits in
        its group's subevent, and the train carries 3 LED commands per group per interval, so the
        backend asks for that many (edge/esl/radio/backend.py) and the priorities still decide
        who waits when more are due.
        """
        self._store = store
        self._radio = radio
        self._config = config
        self._clock = clock
        self._lit: dict[str, _Lit] = {}
        self._busy: set[str] = set()
        self._paused: dict[str, float] = {}
        self._slots = PrioritySlots(slots or config.connections)
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
