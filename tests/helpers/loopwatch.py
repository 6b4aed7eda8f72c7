"""Which callbacks blocked a test's event loop, told apart from a busy machine.

asyncio's debug mode (on for every test) logs a callback that ran longer than
`slow_callback_duration` by wall clock. On a shared 2-core virtual machine wall clock alone also
catches the hypervisor stealing the CPU, garbage collection of the test process's heap, and GIL
waits while the daemon's own worker threads run (or Chromium takes both cores): none of them a
blocking call on the loop. So a test fails only for what is certainly ours:

- a callback that used at least SLOW_S of the loop thread's **CPU time** (less garbage
  collection): work that belongs in an executor;
- a **blocking primitive called on the loop thread** that itself waited at least SLOW_S:
  `time.sleep`, `Thread.join`, `Event.wait`, `Future.result`, `Queue.get`, `Popen.wait`
  (a store closed on the loop, a `write_sync` from a coroutine, a sleep where `await` belongs).
  `Thread.start` waits on an Event until the new thread runs; executors start their threads on
  the caller's thread, so that handshake (slow only when the machine is loaded) is not counted.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import gc
import queue
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

SLOW_S = 0.05


def cpu_blocking(cpu_s: float, gc_s: float) -> str | None:
    """Why a callback's CPU use blocked the loop, or None."""
    work = cpu_s - gc_s
    return f"{work * 1000:.0f} ms of CPU on the loop thread" if work >= SLOW_S else None


class Watch:
    """Measures the callbacks and blocking calls of debug-mode loops; keeps the blocking ones until `take()`."""

    def __init__(self) -> None:
        """Nothing recorded, nothing excused."""
        self._found: list[str] = []
        self._allowed = 0  # inside allowed() now
        self._entered = 0  # how often allowed() was entered, to excuse callbacks that enter or leave it
        self._starting = threading.local()  # inside Thread.start on this thread
        self._gc: dict[int, float] = {}
        self._gc_started: dict[int, float] = {}
        self._lock = threading.Lock()

    def install(self) -> None:
        """Wrap `Handle._run` and the blocking primitives, and follow the garbage collector (once per process)."""
        run = asyncio.events.Handle._run
        watch = self

        def measured(handle: asyncio.events.Handle) -> None:
            """The callback, timed in the loop thread's CPU time."""
            if not handle._loop.get_debug():  # type: ignore[attr-defined]
                run(handle)
                return
            me, excused = threading.get_ident(), (watch._allowed, watch._entered)
            cpu0, gc0 = time.thread_time(), watch._gc.get(me, 0.0)
            try:
                run(handle)
            finally:
                reason = cpu_blocking(time.thread_time() - cpu0, watch._gc.get(me, 0.0) - gc0)
                if reason is not None and not (excused[0] or watch._allowed or watch._entered != excused[1]):
                    watch._record(f"{reason}: {asyncio.base_events._format_handle(handle)}")  # type: ignore[attr-defined]

        asyncio.events.Handle._run = measured  # type: ignore[method-assign]
        gc.callbacks.append(self._on_gc)
        for owner, name in [(time, "sleep"), (threading.Thread, "join"), (threading.Event, "wait"),
                            (concurrent.futures.Future, "result"), (queue.Queue, "get"), (subprocess.Popen, "wait")]:
            setattr(owner, name, self._watched(getattr(owner, name), f"{getattr(owner, '__name__', owner)}.{name}"))
        start = threading.Thread.start

        @functools.wraps(start)
        def starting(thread: threading.Thread) -> None:
            """Thread.start, whose wait for the new thread is not a blocking call of ours."""
            self._starting.depth = getattr(self._starting, "depth", 0) + 1
            try:
                start(thread)
            finally:
                self._starting.depth -= 1

        threading.Thread.start = starting  # type: ignore[method-assign]

    def _watched(self, blocking: Callable[..., Any], label: str) -> Callable[..., Any]:
        """`blocking`, recorded when called on a watched loop's thread and waiting SLOW_S or more."""

        @functools.wraps(blocking)
        def call(*args: Any, **kwargs: Any) -> Any:
            """Time the call if it runs on an event loop's thread."""
            loop = asyncio._get_running_loop()
            if loop is None or not loop.get_debug() or self._allowed or getattr(self._starting, "depth", 0):
                return blocking(*args, **kwargs)
            started = time.perf_counter()
            try:
                return blocking(*args, **kwargs)
            finally:
                waited = time.perf_counter() - started
                if waited >= SLOW_S and not self._allowed:
                    self._record(f"{label}() waited {waited * 1000:.0f} ms on the loop thread")

        return call

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        """Add each collection's CPU time to the collecting thread's total."""
        me = threading.get_ident()
        if phase == "start":
            self._gc_started[me] = time.thread_time()
        elif me in self._gc_started:
            self._gc[me] = self._gc.get(me, 0.0) + time.thread_time() - self._gc_started.pop(me)

    def _record(self, what: str) -> None:
        """Keep one finding."""
        with self._lock:
            self._found.append(what)

    @contextlib.contextmanager
    def allowed(self) -> Iterator[None]:
        """Third-party start-up that blocks its caller's loop (Playwright starting Chromium) is not ours to fix."""
        self._allowed += 1
        self._entered += 1
        try:
            yield
        finally:
            self._allowed -= 1

    def take(self) -> list[str]:
        """The blocking callbacks and calls recorded since the last call."""
        with self._lock:
            found, self._found = self._found, []
        return found


WATCH = Watch()
