"""keeping_cancel: a cancel that meets a Bumble result in the same loop step still reaches the caller."""

from __future__ import annotations

import asyncio
import sys

import pytest

from devices.esl.bumble.cancel import keeping_cancel, raise_if_cancelled


async def bumble_like(fut: asyncio.Future[int]) -> int:
    """How Bumble waits for an HCI response or a connection."""
    return await asyncio.wait_for(fut, 10)


async def caller(fut: asyncio.Future[int], wrapped: bool, reached: list[str]) -> None:
    """A push awaiting Bumble, then carrying on (as a retry loop would) unless cancelled."""
    await (keeping_cancel(bumble_like(fut)) if wrapped else bumble_like(fut))
    reached.append("carried on")


@pytest.mark.parametrize("wrapped", [False, True])
async def test_a_cancel_arriving_with_the_result_is_kept(wrapped: bool) -> None:
    fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    reached: list[str] = []
    task = asyncio.create_task(caller(fut, wrapped, reached))
    for _ in range(3):
        await asyncio.sleep(0)
    fut.set_result(1)
    task.cancel()  # the same loop step: a stop cancelling a push whose connection just completed
    await asyncio.gather(task, return_exceptions=True)
    if wrapped:
        assert task.cancelled() and reached == []
    elif sys.version_info < (3, 12):
        assert reached == ["carried on"]  # the reason for keeping_cancel: 3.11's wait_for drops the cancel



async def test_a_cancel_dropped_inside_a_call_is_raised_at_the_next_retry() -> None:
    """raise_if_cancelled: the retry loop of a connect whose cancel a library dropped stops at its next attempt."""
    fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    attempts: list[int] = []

    async def retrying() -> None:
        """Three attempts, like EslCentral.connect; the first one's wait drops the cancel."""
        for attempt in range(3):
            raise_if_cancelled()
            attempts.append(attempt)
            if attempt == 0:
                await bumble_like(fut)

    task = asyncio.create_task(retrying())
    for _ in range(3):
        await asyncio.sleep(0)
    fut.set_result(1)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert task.cancelled() and attempts == [0]
