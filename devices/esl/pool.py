"""A bounded-concurrency worker pool: N radio connections, none left idle while work waits."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class WorkerPool(Generic[T, R]):
    """Runs a job over many items with at most `size` running at once.

    Each of `size` workers pulls the next item as soon as its previous job ends, so a slow
    label never holds a free connection back. A job's exception is that item's result, not
    the end of the batch (this pool is the supervisor of its jobs).
    """

    def __init__(self, size: int) -> None:
        """`size` is the number of simultaneous connections the radio allows."""
        if size < 1:
            raise ValueError("a pool needs at least one worker")
        self.size = size

    async def map(self, items: Iterable[T], job: Callable[[T], Awaitable[R]]) -> list[R | Exception]:
        """Results (or exceptions) in the order of `items`."""
        work = list(enumerate(items))
        results: list[R | Exception] = [RuntimeError("not run")] * len(work)
        queue: asyncio.Queue[tuple[int, T]] = asyncio.Queue()
        for entry in work:
            queue.put_nowait(entry)

        async def worker() -> None:
            """Take items until none are left."""
            while not queue.empty():
                index, item = queue.get_nowait()
                try:
                    results[index] = await job(item)
                except Exception as err:
                    results[index] = err

        async with asyncio.TaskGroup() as group:
            for n in range(min(self.size, len(work))):
                group.create_task(worker(), name=f"esl-pool-worker-{n}")
        return results
