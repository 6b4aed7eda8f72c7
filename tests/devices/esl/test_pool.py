"""Bounded worker pool: never more than N at once, never a free worker while work waits."""

from __future__ import annotations

import asyncio
import random

import pytest

from devices.esl.pool import WorkerPool

pytestmark = pytest.mark.timeout(30)


@pytest.mark.parametrize("size", [1, 3, 8])
async def test_pool_keeps_every_worker_busy(size: int) -> None:
    """After ramp-up every job starts with all N slots taken; results keep input order; errors are results."""
    running, at_start = 0, []
    rng = random.Random(size)
    delays = [rng.uniform(0, 0.003) for _ in range(40)]

    async def job(i: int) -> int:
        nonlocal running
        running += 1
        at_start.append(running)
        try:
            await asyncio.sleep(delays[i])
            if i == 7:
                raise ValueError("label 7 failed")
            return i * 2
        finally:
            running -= 1

    async with asyncio.timeout(10):
        results = await WorkerPool(size).map(range(40), job)
    assert max(at_start) == size
    assert at_start[size - 1:] == [size] * (40 - size + 1)
    assert isinstance(results[7], ValueError)
    assert [r for i, r in enumerate(results) if i != 7] == [i * 2 for i in range(40) if i != 7]


async def test_pool_with_fewer_items_than_workers() -> None:
    """Two items on eight workers, and an empty batch."""
    async def double(x: int) -> int:
        return 2 * x

    async with asyncio.timeout(5):
        assert await WorkerPool(8).map([1, 2], double) == [2, 4]
        assert await WorkerPool(8).map([], double) == []
    with pytest.raises(ValueError):
        WorkerPool(0)
