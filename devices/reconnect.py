"""The one reconnect loop (aioesphomeapi's `reconnect_logic.py` shape) for scales, cameras, MQTT and supervisors.

Explicit state; capped jittered back-off that resets only after a session stayed up `healthy_after_s`
(a flapping link keeps slowing down); one WARNING per outage, DEBUG after; clock, sleep, rng injected.
"""

from __future__ import annotations

import asyncio
import enum
import random
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

import structlog

from devices.backoff import Backoff

T = TypeVar("T")
Reason = BaseException | str


class ReconnectState(enum.Enum):
    """Where a link is in its life; drivers map it onto their own public health enums."""

    STOPPED = "stopped"  # not started yet, or stopped on purpose
    CONNECTING = "connecting"  # an attempt is running
    CONNECTED = "connected"  # the session is up
    WAITING = "waiting"  # backing off before the next attempt


@dataclass(frozen=True)
class ReconnectEvents:
    """Log event names (callers keep their historical names, tests look for them)."""

    failed: str  # a connect attempt failed (WARNING first of an outage, then DEBUG)
    lost: str  # an established session ended (WARNING if it had been healthy or opens an outage, else DEBUG)
    restored: str  # connected again after failures (INFO)
    connected: str | None = None  # every successful connect (INFO), optional


class Reconnect:
    """State, back-off and log policy of one link: `run`/`run_blocking` drive it, or call the transitions.

    An outage lasts until a session stays up `healthy_after_s`: meanwhile `failures` grows the delay,
    and only its first connect failure and its first lost session log at WARNING.
    """

    def __init__(self, name: str, events: ReconnectEvents, *, policy: Backoff = Backoff(),
                 healthy_after_s: float = 30.0, clock: Callable[[], float] = time.monotonic,
                 rng: random.Random | None = None, logger: Any = None,
                 sleep: Callable[[float], Coroutine[Any, Any, object]] = asyncio.sleep, **log_context: Any) -> None:
        """Configure; nothing runs until a transition is called or `run` is awaited."""
        self.name, self.events, self.policy, self.healthy_after_s = name, events, policy, healthy_after_s
        self._clock, self._rng, self._sleep = clock, rng or random.Random(), sleep
        self._log = logger if logger is not None else structlog.get_logger("reconnect").bind(device=name, **log_context)
        self._lock = threading.Lock()  # transitions come from the loop or from a capture thread
        self._state, self._failures = ReconnectState.STOPPED, 0
        self._warned_failed = False  # this outage's first connect failure was logged at WARNING
        self._connected_at: float | None = None
        self.total_failures = 0  # every failure since construction (for health/status)
        self.last_error: str | None = None  # why the last attempt failed or the last session ended

    @property
    def state(self) -> ReconnectState:
        """The current state."""
        return self._state

    @property
    def failures(self) -> int:
        """Consecutive failures of the current outage (drives the delay); 0 once a session is healthy."""
        return self.health()["failures"]

    def _up_s(self) -> tuple[float | None, bool]:
        """How long the current session has been up (None: no session), and whether that ends the outage."""
        up = None if self._connected_at is None else self._clock() - self._connected_at
        return up, up is not None and up >= self.healthy_after_s

    def attempting(self) -> None:
        """An attempt starts."""
        with self._lock:
            self._state, self._connected_at = ReconnectState.CONNECTING, None

    def connected(self) -> None:
        """The session is up: log `restored` when it ends a run of failures, and start the healthy clock."""
        with self._lock:
            failures, self._state, self._connected_at = self._failures, ReconnectState.CONNECTED, self._clock()
        if failures:
            self._log.info(self.events.restored, failures=failures)
        if self.events.connected:
            self._log.info(self.events.connected)

    def _count(self, reason: Reason) -> tuple[str, int, float]:
        """Count one failure of the outage (lock held); returns the reason, the attempt number and the delay."""
        self._failures += 1
        self.total_failures += 1
        self.last_error = text = reason if isinstance(reason, str) else str(reason) or type(reason).__name__
        self._state, self._connected_at = ReconnectState.WAITING, None
        return text, self._failures, self.policy.delay(self._failures - 1, self._rng)

    def failed(self, error: Reason) -> float:
        """A connect attempt failed: count it, log it (WARNING once per outage) and return the delay."""
        with self._lock:
            first, self._warned_failed = not self._warned_failed, True
            reason, attempt, delay = self._count(error)
        level = self._log.warning if first else self._log.debug
        level(self.events.failed, error=reason, attempt=attempt, delay_s=round(delay, 3))
        return delay

    def lost(self, reason: Reason) -> float:
        """A session ended: a healthy one starts a new outage (fast retry, WARNING); a flapping one backs off."""
        with self._lock:
            up_s, healthy = self._up_s()
            if healthy:
                self._failures, self._warned_failed = 0, False
            first = self._failures == 0
            text, attempt, delay = self._count(reason)
        level = self._log.warning if first else self._log.debug
        level(self.events.lost, reason=text, attempt=attempt, delay_s=round(delay, 3), connected_for_s=up_s)
        return delay

    def stopped(self) -> None:
        """Stopped on purpose."""
        with self._lock:
            self._state, self._connected_at = ReconnectState.STOPPED, None

    def health(self) -> dict[str, Any]:
        """A JSON-able snapshot for status pages."""
        with self._lock:
            up, healthy = self._up_s()
            return {"state": self._state.value, "failures": 0 if healthy else self._failures,
                    "total_failures": self.total_failures, "last_error": self.last_error, "connected_for_s": up}

    async def run(self, connect: Callable[[], Awaitable[T]], serve: Callable[[T], Awaitable[object]], *,
                  retry_on: tuple[type[BaseException], ...], stop: asyncio.Event | None = None) -> None:
        """Connect and serve until `stop` is set or cancelled; errors outside `retry_on` propagate (bugs surface).

        `stop` ends the back-off waits (a `serve` that must end on it watches it); errors once it is set do not count.
        """
        try:
            while stop is None or not stop.is_set():
                self.attempting()
                try:
                    session = await connect()
                except retry_on as err:
                    outcome: object = err
                    record = self.failed
                else:
                    self.connected()
                    try:
                        outcome = await serve(session)
                    except retry_on as err:
                        outcome = err
                    record = self.lost
                if stop is not None and stop.is_set():
                    break
                await self._wait(record(outcome if isinstance(outcome, str | BaseException) else "ended"), stop)
        finally:
            self.stopped()

    async def _wait(self, delay: float, stop: asyncio.Event | None) -> None:
        """Sleep `delay` with the injected sleep, ending early when `stop` is set."""
        if stop is None:
            await self._sleep(delay)
            return
        sleeper = asyncio.create_task(self._sleep(delay), name=f"reconnect:{self.name}:backoff")
        stopper = asyncio.create_task(stop.wait(), name=f"reconnect:{self.name}:stop")
        try:
            done, _ = await asyncio.wait((sleeper, stopper), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sleeper, stopper):
                task.cancel()
            await asyncio.gather(sleeper, stopper, return_exceptions=True)
        if sleeper in done:
            sleeper.result()  # an injected sleep that fails (or is cancelled) ends the run like a plain await would

    def run_blocking(self, connect: Callable[[], T], serve: Callable[[T], object], *,
                     retry_on: tuple[type[BaseException], ...], stop: threading.Event,
                     close: Callable[[T], None] | None = None) -> None:
        """The same loop for a thread: waits on `stop`, calls `close(session)` after each session."""
        try:
            while not stop.is_set():
                self.attempting()
                try:
                    session = connect()
                except retry_on as err:
                    outcome: object = err
                    record = self.failed
                else:
                    self.connected()
                    try:
                        outcome = serve(session)
                    except retry_on as err:
                        outcome = err
                    finally:
                        if close is not None:
                            close(session)
                    record = self.lost
                if stop.is_set():
                    break
                stop.wait(record(outcome if isinstance(outcome, str | BaseException) else "ended"))
        finally:
            self.stopped()
