"""The supervisor restarts a crashing component with the one reconnect object's back-off, without log spam."""

from __future__ import annotations

import asyncio

from structlog.testing import capture_logs

from devices.backoff import Backoff
from edge.component import Supervised, supervise

FAST = Backoff(initial=0.01, maximum=0.02)


class Flaky:
    """Crashes `crashes` times (after `runs_for` seconds each), then runs until cancelled or stopped."""

    name = "flaky"

    def __init__(self, crashes: int, runs_for: float = 0.0, stop: asyncio.Event | None = None) -> None:
        """Count the runs."""
        self.crashes, self.runs_for, self.stop, self.runs = crashes, runs_for, stop, 0

    async def run(self) -> None:
        """Crash, or serve."""
        self.runs += 1
        await asyncio.sleep(self.runs_for)
        if self.runs <= self.crashes:
            raise RuntimeError(f"boom {self.runs}")
        if self.stop is not None:
            await self.stop.wait()
            return
        await asyncio.Event().wait()


async def _until(predicate, timeout: float = 5.0) -> None:  # noqa: ANN001
    """Poll until true, bounded."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.005)


async def test_a_crash_loop_logs_the_first_traceback_at_error_then_debug_and_keeps_restarting() -> None:
    entry = Supervised(Flaky(crashes=3))
    with capture_logs() as logs:
        task = asyncio.create_task(supervise(entry, policy=FAST))
        await _until(lambda: entry.component.runs == 4)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    crashed = [e for e in logs if e["event"] == "component.crashed"]
    assert [e["log_level"] for e in crashed] == ["error", "debug", "debug"]
    assert crashed[0]["exc_info"] is not None and "boom 1" in crashed[0]["error"]
    assert entry.restarts == 3 and entry.last_crash == "RuntimeError('boom 3')"


async def test_a_component_that_ran_long_enough_starts_a_new_series_at_error() -> None:
    entry = Supervised(Flaky(crashes=3, runs_for=0.06))
    with capture_logs() as logs:
        task = asyncio.create_task(supervise(entry, policy=FAST, healthy_after_s=0.03))
        await _until(lambda: entry.component.runs == 4)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert [e["log_level"] for e in logs if e["event"] == "component.crashed"] == ["error", "error", "error"]


async def test_a_run_that_ends_because_stop_was_asked_is_not_a_crash() -> None:
    stop = asyncio.Event()
    entry = Supervised(Flaky(crashes=1, stop=stop))
    crashes: list[object] = []
    task = asyncio.create_task(supervise(entry, stop=stop, on_crash=crashes.append, policy=FAST))
    await _until(lambda: entry.component.runs == 2)
    stop.set()
    await asyncio.wait_for(task, 2)  # supervise returns by itself
    assert entry.restarts == 1 and [repr(c) for c in crashes] == ["RuntimeError('boom 1')"]


async def test_an_unexpected_return_counts_as_a_crash() -> None:
    class Returns:
        """Returns at once, every time."""

        name = "returns"
        runs = 0

        async def run(self) -> None:
            """Return, which a component must not do."""
            self.runs += 1

    entry = Supervised(Returns())
    task = asyncio.create_task(supervise(entry, policy=FAST))
    await _until(lambda: entry.component.runs >= 3)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert entry.restarts >= 2 and entry.last_crash == "returned unexpectedly"
