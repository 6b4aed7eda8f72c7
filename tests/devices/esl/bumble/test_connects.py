"""The connect pacer on looptime's clock: air order, commands first, a free occurrence per group, bounded connections."""

from __future__ import annotations

import asyncio

import pytest

from devices.esl.bumble.connects import ConnectPacer
from devices.esl.bumble.train import TrainParams

pytestmark = [pytest.mark.looptime, pytest.mark.timeout(60)]

PARAMS = TrainParams(interval=240, num_subevents=8, subevent_interval=30, response_slot_delay=10,
                     response_slot_spacing=20, num_response_slots=8)  # 300 ms interval, 37.5 ms per subevent


async def connect(pacer: ConnectPacer, group: int | None, log: list[tuple[int | None, float]], *,
                  hold_s: float = 0.0) -> None:
    """One connect: the turn, a subevent's worth of time for the connect request, then `hold_s` connected."""
    loop = asyncio.get_running_loop()
    async with pacer.connection(group) as connected:
        log.append((group, loop.time()))
        await asyncio.sleep(PARAMS.subevent_interval_s)
        connected()
        await asyncio.sleep(hold_s)


async def test_waiting_connects_are_granted_in_air_order_after_the_last_subevent_used() -> None:
    pacer = ConnectPacer(PARAMS, lambda _: False, max_connections=4)
    log: list[tuple[int | None, float]] = []
    first = asyncio.create_task(connect(pacer, 5, log))
    await asyncio.sleep(0)  # group 5 holds the turn while the others ask
    await asyncio.gather(first, *(connect(pacer, g, log) for g in (2, 7, 0, 6, 3)))
    assert [g for g, _ in log] == [5, 6, 7, 0, 2, 3]


async def test_a_scanned_connect_goes_before_train_connects() -> None:
    pacer = ConnectPacer(PARAMS, lambda _: False, max_connections=4)
    log: list[tuple[int | None, float]] = []
    first = asyncio.create_task(connect(pacer, 1, log))
    await asyncio.sleep(0)
    await asyncio.gather(first, connect(pacer, 2, log), connect(pacer, None, log))
    assert [g for g, _ in log] == [1, None, 2]


async def test_a_group_with_commands_waiting_is_passed_over_for_two_intervals_at_most() -> None:
    busy = {3}
    pacer = ConnectPacer(PARAMS, lambda g: g in busy, max_connections=4)
    log: list[tuple[int | None, float]] = []
    started = asyncio.get_running_loop().time()
    await asyncio.gather(connect(pacer, 3, log), connect(pacer, 4, log))
    assert [g for g, _ in log] == [4, 3]
    assert log[1][1] - started == pytest.approx(2 * PARAMS.interval_s, abs=PARAMS.subevent_interval_s)


async def test_a_group_connected_in_every_interval_is_rested_before_its_labels_lose_the_train() -> None:
    """Sync timeout 3 s: once its connects have run for 2.1 s (3 s less 3 intervals) the group waits until one of its
    occurrences has gone out without a connect (a gap of more than an interval between connect requests), so its labels
    hear their subevent well within 3 s; the rests cost about one interval in eight."""
    pacer = ConnectPacer(PARAMS, lambda _: False, max_connections=4, sync_timeout_s=3.0)
    sent: list[float] = []
    loop = asyncio.get_running_loop()
    for _ in range(30):  # a refresh of one group: the next connect asked for as soon as the last one went out
        async with pacer.connection(0) as connected:
            await asyncio.sleep(PARAMS.subevent_interval_s)
            connected()
            sent.append(loop.time())
        await asyncio.sleep(PARAMS.interval_s - 2 * PARAMS.subevent_interval_s)
    free_after = [n for n, (a, b) in enumerate(zip(sent, sent[1:])) if b - a >= PARAMS.interval_s + PARAMS.subevent_interval_s]
    assert len(free_after) >= 3
    starts = [sent[0]] + [sent[n + 1] for n in free_after]
    ends = [sent[n] for n in free_after] + [sent[-1]]
    assert max(end - start for start, end in zip(starts, ends)) < 3.0 - PARAMS.interval_s
    assert sent[-1] - sent[0] < 29 * PARAMS.interval_s * 1.25


async def test_no_more_connections_are_open_at_once_than_allowed() -> None:
    pacer = ConnectPacer(PARAMS, lambda _: False, max_connections=2)
    log: list[tuple[int | None, float]] = []
    open_now, most = 0, 0

    async def session(group: int) -> None:
        """A connect held for one interval, counting connections open at once."""
        nonlocal open_now, most
        async with pacer.connection(group) as connected:
            connected()
            open_now += 1
            most = max(most, open_now)
            log.append((group, asyncio.get_running_loop().time()))
            await asyncio.sleep(PARAMS.interval_s)
            open_now -= 1

    await asyncio.gather(*(session(g) for g in range(6)))
    assert most == 2 and len(log) == 6


async def test_a_connect_cancelled_while_waiting_or_holding_the_turn_frees_it() -> None:
    pacer = ConnectPacer(PARAMS, lambda _: False, max_connections=1)
    log: list[tuple[int | None, float]] = []
    holder = asyncio.create_task(connect(pacer, 0, log, hold_s=10.0))
    waiting = asyncio.create_task(connect(pacer, 1, log))
    await asyncio.sleep(1.0)
    waiting.cancel()
    holder.cancel()
    await asyncio.gather(holder, waiting, return_exceptions=True)
    async with asyncio.timeout(1.0):
        await connect(pacer, 2, log)
    assert [g for g, _ in log] == [0, 2]


async def test_commands_go_first_even_when_the_connects_have_waited_long() -> None:
    """Two intervals of patience count from when the group has commands waiting, not from when the connect asked."""
    busy: set[int] = set()
    pacer = ConnectPacer(PARAMS, lambda g: g in busy, max_connections=4)
    log: list[tuple[int | None, float]] = []

    async def slow() -> None:
        """A connect that holds the turn for 10 intervals (a label slow to answer) while a backlog waits."""
        async with pacer.connection(5) as connected:
            log.append((5, asyncio.get_running_loop().time()))
            await asyncio.sleep(10 * PARAMS.interval_s)
            connected()

    holder = asyncio.create_task(slow())
    await asyncio.sleep(0)
    backlog = [asyncio.create_task(connect(pacer, g, log)) for g in (6, 7)]
    await asyncio.sleep(9 * PARAMS.interval_s)
    busy.add(6)  # pick lights for group 6 arrive just before the turn is free
    await asyncio.gather(holder, *backlog)
    assert [g for g, _ in log] == [5, 7, 6]


async def test_a_waiter_cancelled_just_before_the_turn_passes_is_skipped() -> None:
    """Cancelled in the same loop step in which the holder passes the turn (a stop cancels every push at once): the
    turn goes to the next waiter, not to the cancelled one (which used to raise InvalidStateError in the holder)."""
    pacer = ConnectPacer(PARAMS, lambda _: False, max_connections=4)
    log: list[tuple[int | None, float]] = []
    passed = asyncio.Event()

    async def holder() -> None:
        """Holds the turn until told, then passes it while a waiter's cancel is still pending."""
        async with pacer.connection(0) as connected:
            await passed.wait()
            waiting.cancel()
            connected()
            log.append((0, 0.0))

    first = asyncio.create_task(holder())
    await asyncio.sleep(0)
    waiting = asyncio.create_task(connect(pacer, 1, log))
    after = asyncio.create_task(connect(pacer, 2, log))
    await asyncio.sleep(0.1)
    passed.set()
    await asyncio.gather(first, after)
    assert waiting.cancelled() and [g for g, _ in log] == [0, 2]
