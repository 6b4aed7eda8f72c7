"""Awaiting Bumble without losing a cancel.

Bumble waits for HCI responses and connections with `asyncio.wait_for`, which on Python 3.11
returns a result that arrives in the same loop step as a cancel of the waiting task and drops the
cancel. A push being stopped then carried on (connect retries for tens of seconds) and the
daemon's stop hung. Awaited in a task of its own, the call can finish or fail as it likes: the
cancel is delivered to the caller at our own await.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def keeping_cancel(awaitable: Awaitable[T], *, on_late_result: Callable[[T], Awaitable[None]] | None = None) -> T:
    """Await `awaitable` in its own task; a cancel of the caller cancels it and is raised in the caller.

    `on_late_result` receives a result that was ready as the cancel came (a connection to close).
    """
    task = asyncio.ensure_future(awaitable)
    try:
        await asyncio.wait({task})
    except asyncio.CancelledError:
        if not task.done():
            task.cancel()
        elif on_late_result is not None and not task.cancelled() and task.exception() is None:
            await on_late_result(task.result())
        raise
    return task.result()


def raise_if_cancelled() -> None:
    """Before a retry or a fallback: raise CancelledError if the task was cancelled and a library dropped the cancel.

    A task's `cancelling()` stays above zero until the cancel is handled (a timeout that fires
    undoes its own), so a cancel lost inside a call is still visible here.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
