"""The one reconnect object: states, back-off growth/cap/jitter/reset, the log policy, stop and errors."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from typing import Any

import pytest
from structlog.testing import capture_logs

from devices.backoff import Backoff
from devices.reconnect import Reconnect, ReconnectEvents, ReconnectState

EVENTS = ReconnectEvents(failed="x.connect.failed", lost="x.link.lost", restored="x.restored", connected="x.connected")
FLAT = Backoff(initial=1.0, maximum=8.0, jitter=0.0)


class FakeTime:
    """A clock and an async sleep that advances it instantly, recording every delay slept."""

    def __init__(self) -> None:
        """Start at t = 0 with nothing slept."""
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        """The current fake time."""
        return self.now

    async def sleep(self, delay: float) -> None:
        """Record the delay, advance the clock, and yield to the loop once."""
        self.slept.append(delay)
        self.now += delay
        await asyncio.sleep(0)


def make(fake: FakeTime | None = None, policy: Backoff = FLAT, **kwargs: Any) -> Reconnect:
    """A Reconnect on fake time with a seeded rng."""
    fake = fake or FakeTime()
    return Reconnect("dev-1", EVENTS, policy=policy, clock=fake, sleep=fake.sleep, rng=random.Random(7), **kwargs)


def levels(logs: list[dict[str, Any]], event: str) -> list[str]:
    """The log levels of one event name, in order."""
    return [e["log_level"] for e in logs if e["event"] == event]


async def test_run_walks_the_states_and_waits_the_back_off() -> None:
    fake = FakeTime()
    link = make(fake)
    stop = asyncio.Event()
    seen: list[ReconnectState] = []
    attempts = iter([OSError("refused"), OSError("refused"), "session"])

    async def connect() -> str:
        seen.append(link.state)
        outcome = next(attempts)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    async def serve(session: str) -> None:
        seen.append(link.state)
        assert session == "session"
        stop.set()

    assert link.state is ReconnectState.STOPPED
    await asyncio.wait_for(link.run(connect, serve, retry_on=(OSError,), stop=stop), 5)
    assert seen == [ReconnectState.CONNECTING] * 3 + [ReconnectState.CONNECTED]
    assert fake.slept == [1.0, 2.0]
    assert link.state is ReconnectState.STOPPED
    assert link.total_failures == 2 and link.last_error == "refused"  # a stop while serving is no failure


@pytest.mark.parametrize("with_stop", [False, True])
async def test_state_is_waiting_during_the_back_off(with_stop: bool) -> None:
    during: list[ReconnectState] = []

    async def sleep(delay: float) -> None:
        during.append(link.state)
        raise asyncio.CancelledError  # end the run here

    link = Reconnect("dev-1", EVENTS, policy=FLAT, sleep=sleep)

    async def connect() -> None:
        raise OSError("no")

    with pytest.raises(asyncio.CancelledError):
        stop = asyncio.Event() if with_stop else None
        await asyncio.wait_for(link.run(connect, lambda s: asyncio.sleep(0), retry_on=(OSError,), stop=stop), 5)
    assert during == [ReconnectState.WAITING] and link.state is ReconnectState.STOPPED


def test_delays_grow_are_capped_and_jittered() -> None:
    link = make(policy=Backoff(initial=1.0, maximum=8.0, jitter=0.5))
    delays = [link.failed(OSError("down")) for _ in range(10)]
    bases = [1, 2, 4, 8, 8, 8, 8, 8, 8, 8]
    assert all(base / 2 <= d <= base for d, base in zip(delays, bases))
    assert len({round(d, 6) for d in delays[3:]}) > 1  # not lock-step at the cap
    assert link.failures == 10 and link.state is ReconnectState.WAITING


def test_seeded_rng_makes_delays_reproducible() -> None:
    policy = Backoff(initial=1.0, maximum=8.0, jitter=0.5)
    first, second = make(policy=policy), make(policy=policy)
    assert [first.failed("x") for _ in range(6)] == [second.failed("x") for _ in range(6)]


def test_warning_once_through_an_outage_then_restored_at_info() -> None:
    link = make(store_id="s1")
    with capture_logs() as logs:
        for n in range(6):
            link.failed(OSError(f"refused #{n}"))
        link.connected()
    assert levels(logs, "x.connect.failed") == ["warning"] + ["debug"] * 5
    (restored,) = [e for e in logs if e["event"] == "x.restored"]
    assert restored["log_level"] == "info" and restored["failures"] == 6
    assert levels(logs, "x.connected") == ["info"]
    assert all(e["device"] == "dev-1" and e["store_id"] == "s1" for e in logs)
    first = logs[0]
    assert first["error"] == "refused #0" and first["attempt"] == 1 and first["delay_s"] == 1.0


def test_first_connect_logs_connected_but_not_restored() -> None:
    with capture_logs() as logs:
        make().connected()
    assert [e["event"] for e in logs] == ["x.connected"]


def test_a_healthy_session_resets_the_outage() -> None:
    fake = FakeTime()
    link = make(fake, healthy_after_s=30.0)
    for _ in range(4):
        link.failed("refused")
    link.connected()
    assert link.failures == 4
    fake.now += 30.0
    assert link.failures == 0 and link.health()["failures"] == 0  # healthy: the outage is over
    with capture_logs() as logs:
        delay = link.lost("port closed")
        second = link.failed("refused")
    assert delay == 1.0 and second == 2.0  # fast retry, growing again from the start
    assert levels(logs, "x.link.lost") == ["warning"] and levels(logs, "x.connect.failed") == ["warning"]
    assert logs[0]["connected_for_s"] == 30.0 and link.total_failures == 6


def test_a_flapping_session_keeps_growing_the_delay_and_logs_debug() -> None:
    fake = FakeTime()
    link = make(fake, healthy_after_s=30.0)
    delays = []
    with capture_logs() as logs:
        for _ in range(5):
            link.connected()
            fake.now += 2.0  # never healthy
            delays.append(link.lost(ConnectionResetError("reset")))
    assert delays == [1.0, 2.0, 4.0, 8.0, 8.0]
    assert levels(logs, "x.link.lost") == ["warning"] + ["debug"] * 4
    assert link.failures == 5 and link.last_error == "reset"


def test_a_lost_session_then_failed_connects_warn_once_each() -> None:
    link = make()
    link.connected()
    with capture_logs() as logs:
        link.lost("unplugged")
        for _ in range(3):
            link.failed("no such port")
    assert levels(logs, "x.link.lost") == ["warning"]
    assert levels(logs, "x.connect.failed") == ["warning", "debug", "debug"]


def test_health_snapshot() -> None:
    fake = FakeTime()
    link = make(fake)
    assert link.health() == {"state": "stopped", "failures": 0, "total_failures": 0, "last_error": None,
                             "connected_for_s": None}
    link.attempting()
    link.failed(TimeoutError())
    assert link.health()["last_error"] == "TimeoutError"  # an exception without a message keeps its type
    link.attempting()
    link.connected()
    fake.now += 5.0
    assert link.health() == {"state": "connected", "failures": 1, "total_failures": 1, "last_error": "TimeoutError",
                             "connected_for_s": 5.0}
    link.stopped()
    assert link.health()["state"] == "stopped" and link.health()["connected_for_s"] is None


async def test_serve_outcomes_become_the_lost_reason() -> None:
    fake = FakeTime()
    link = make(fake)
    stop = asyncio.Event()
    outcomes = iter([lambda: "broker closed", lambda: None, lambda: (_ for _ in ()).throw(OSError("reset"))])

    async def serve(session: object) -> object:
        try:
            return next(outcomes)()
        except StopIteration:
            stop.set()
            return None

    with capture_logs() as logs:
        await asyncio.wait_for(link.run(lambda: asyncio.sleep(0), serve, retry_on=(OSError,), stop=stop), 5)
    reasons = [e["reason"] for e in logs if e["event"] == "x.link.lost"]
    assert reasons == ["broker closed", "ended", "reset"]


async def test_stop_ends_the_wait_early() -> None:
    link = Reconnect("slow", EVENTS, policy=Backoff(initial=60.0, maximum=60.0))
    stop = asyncio.Event()

    async def connect() -> None:
        raise OSError("down")

    task = asyncio.create_task(link.run(connect, lambda s: asyncio.sleep(0), retry_on=(OSError,), stop=stop))
    while link.state is not ReconnectState.WAITING:
        await asyncio.sleep(0.001)
    started = time.monotonic()
    stop.set()
    await asyncio.wait_for(task, 2)
    assert time.monotonic() - started < 1.0 and link.state is ReconnectState.STOPPED
    assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("reconnect:slow")]  # waits cleaned up


async def test_errors_outside_retry_on_propagate() -> None:
    link = make()

    async def broken_connect() -> None:
        raise ValueError("bug in connect")

    with pytest.raises(ValueError, match="bug in connect"):
        await asyncio.wait_for(link.run(broken_connect, lambda s: asyncio.sleep(0), retry_on=(OSError,)), 5)
    assert link.state is ReconnectState.STOPPED and link.total_failures == 0

    async def broken_serve(session: object) -> None:
        raise KeyError("bug in serve")

    with pytest.raises(KeyError):
        await asyncio.wait_for(link.run(lambda: asyncio.sleep(0), broken_serve, retry_on=(OSError,)), 5)
    assert link.state is ReconnectState.STOPPED


async def test_cancelling_the_run_stops_it() -> None:
    link = make()
    task = asyncio.create_task(link.run(lambda: asyncio.sleep(0), lambda s: asyncio.Event().wait(), retry_on=(OSError,)))
    while link.state is not ReconnectState.CONNECTED:
        await asyncio.sleep(0.001)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 2)
    assert link.state is ReconnectState.STOPPED and link.total_failures == 0


def test_run_blocking_in_a_thread_closes_sessions_and_stops() -> None:
    link = Reconnect("cam", EVENTS, policy=Backoff(initial=0.001, maximum=0.002), rng=random.Random(1))
    stop = threading.Event()
    opens = iter([OSError("refused"), OSError("refused"), "s1", "s2"])
    served: list[str] = []
    closed: list[str] = []

    def connect() -> str:
        outcome = next(opens)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def serve(session: str) -> str:
        served.append(session)
        if session == "s2":
            stop.set()
            return "stopped"
        raise OSError("cable pulled")

    with capture_logs() as logs:
        thread = threading.Thread(target=link.run_blocking, args=(connect, serve),
                                  kwargs={"retry_on": (OSError,), "stop": stop, "close": closed.append})
        thread.start()
        thread.join(5)
    assert not thread.is_alive()
    assert served == ["s1", "s2"] and closed == ["s1", "s2"]
    assert link.state is ReconnectState.STOPPED and link.total_failures == 3  # two refusals and one pulled cable
    assert levels(logs, "x.connect.failed") == ["warning", "debug"]
    assert levels(logs, "x.restored") == ["info", "info"]
    assert [e["reason"] for e in logs if e["event"] == "x.link.lost"] == ["cable pulled"]


def test_run_blocking_stop_ends_the_wait_early() -> None:
    link = Reconnect("cam", EVENTS, policy=Backoff(initial=60.0, maximum=60.0))
    stop = threading.Event()

    def connect() -> None:
        raise OSError("down")

    thread = threading.Thread(target=link.run_blocking, args=(connect, lambda s: None),
                              kwargs={"retry_on": (OSError,), "stop": stop})
    thread.start()
    deadline = time.monotonic() + 5
    while link.state is not ReconnectState.WAITING and time.monotonic() < deadline:
        time.sleep(0.001)
    stop.set()
    thread.join(2)
    assert not thread.is_alive() and link.state is ReconnectState.STOPPED and link.total_failures == 1


def test_an_injected_logger_is_used_as_is() -> None:
    calls: list[tuple[str, str]] = []

    class Recorder:
        """Records level and event of every call."""

        def __getattr__(self, level: str) -> Any:
            """Any level method records its event."""
            return lambda event, **kw: calls.append((level, event))

    link = Reconnect("x", EVENTS, logger=Recorder())
    link.failed("a")
    link.failed("b")
    link.connected()
    assert calls == [("warning", "x.connect.failed"), ("debug", "x.connect.failed"), ("info", "x.restored"),
                     ("info", "x.connected")]
