"""The loop watch of the test suite catches real blocking calls on the loop and lets a busy machine through."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from tests.helpers.loopwatch import SLOW_S, WATCH, cpu_blocking


def test_cpu_use_counts_without_garbage_collection() -> None:
    assert cpu_blocking(0.10, 0.0) is not None
    assert cpu_blocking(0.10, 0.08) is None  # the collector ran during the callback
    assert cpu_blocking(0.03, 0.0) is None


def _run_watched(coro_fn) -> list[str]:  # noqa: ANN001
    """Run a coroutine on a fresh debug loop and return what the watch found."""
    loop = asyncio.new_event_loop()
    loop.set_debug(True)
    loop.slow_callback_duration = SLOW_S
    try:
        WATCH.take()
        loop.run_until_complete(coro_fn())
        return WATCH.take()
    finally:
        loop.close()


def test_a_sleep_a_busy_loop_a_join_and_a_blocking_result_on_the_loop_are_caught() -> None:
    async def sleeps() -> None:
        time.sleep(0.1)

    async def spins() -> None:
        end = time.thread_time() + 0.1  # 0.1 s of this thread's CPU, however loaded the machine (wall time is not)
        while time.thread_time() < end:
            pass

    async def joins() -> None:
        worker = threading.Thread(target=time.sleep, args=(0.1,))
        worker.start()
        worker.join()

    async def waits_for_a_result() -> None:
        with ThreadPoolExecutor(1) as pool:
            pool.submit(time.sleep, 0.1).result()

    expected = {sleeps: "sleep()", spins: "ms of CPU", joins: "Thread.join()", waits_for_a_result: "Future.result()"}
    for fn, what in expected.items():
        found = _run_watched(fn)
        assert found and what in found[0], (fn.__name__, found)


def test_the_same_work_awaited_off_the_loop_is_not_caught() -> None:
    async def offloaded() -> None:
        await asyncio.to_thread(time.sleep, 0.1)
        await asyncio.sleep(0.1)
        await asyncio.get_running_loop().run_in_executor(None, sum, range(3_000_000))

    assert _run_watched(offloaded) == []


def test_starting_a_thread_is_not_a_blocking_call() -> None:
    class SlowToStart(threading.Thread):
        """A thread whose start handshake takes long, as on a loaded machine."""

        def run(self) -> None:
            """Nothing."""

    async def starts() -> None:
        original = threading.Event.set
        thread = SlowToStart()

        def late_set(event: threading.Event) -> None:
            """Signal 'started' only after a while."""
            time.sleep(0.1)
            original(event)

        threading.Event.set = late_set  # type: ignore[method-assign]
        try:
            thread.start()
        finally:
            threading.Event.set = original  # type: ignore[method-assign]
        thread.join(0)

    assert _run_watched(starts) == []


def test_allowed_start_up_is_not_reported() -> None:
    async def third_party_start() -> None:
        with WATCH.allowed():
            time.sleep(0.1)
            end = time.perf_counter() + 0.1
            while time.perf_counter() < end:
                pass

    assert _run_watched(third_party_start) == []
