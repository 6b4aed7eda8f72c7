"""The order in which one access point connects to labels through its train.

A connection through the train starts with a connect request sent in the next occurrence of the
label's subevent, and HCI allows one pending connect per controller. So the cost of a refresh is
decided by the order of its connects:

- **air order**: after a connect in subevent g, the next occurrence on air is g + 1's, one
  subevent interval (55 ms by default) later, while another connect in g waits a whole periodic
  interval. Among the waiting connects the pacer grants the one whose subevent comes first.
  In random order a connect waits half an interval on average: 15x slower (BENCHMARKS.md);
- **commands first**: a connect request takes the subevent's packet, so a group with commands
  waiting (pick lights, sensor reads) is passed over for a group without, for two intervals at
  most, so pushes are never starved;
- **sync**: the labels of a group hear nothing in an occurrence that carries a connect request,
  and a label that hears nothing for its sync timeout (20 s in NCS's `peripheral_esl`) loses the
  train. A group that has had connects in every interval for `sync_timeout_s` less a margin is
  rested until one occurrence has gone out with its packet.

Scanned connections (onboarding, a label that lost the train) take no subevent and go first.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from devices.esl.bumble.train import TrainParams

#: NCS `peripheral_esl`'s PAST sync timeout: what a label tolerates without hearing its subevent.
TAG_SYNC_TIMEOUT_S = 20.0
#: How long a connect waits for a group with commands queued before it goes anyway, in intervals.
YIELD_INTERVALS = 2.0


@dataclass(eq=False)
class _Waiter:
    """A connect waiting for its turn: its subevent (None: a scanned connection)."""

    group: int | None
    granted: asyncio.Future[None] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class ConnectPacer:
    """Grants one connect at a time, in air order, commands first, never starving a group's sync; bounds open connections."""

    def __init__(self, params: TrainParams, busy: Callable[[int], bool], *, max_connections: int,
                 sync_timeout_s: float = TAG_SYNC_TIMEOUT_S) -> None:
        """`busy(group)` says whether the group has commands waiting for its subevent; `max_connections` open at once."""
        self.params = params
        self._busy = busy
        self._max_open = max_connections
        # Connects in every interval for this long, then one free occurrence: 3 intervals of margin.
        self._streak_limit_s = max(sync_timeout_s - 3 * params.interval_s, params.interval_s)
        self._waiting: list[_Waiter] = []
        self._holder: _Waiter | None = None
        self._open = 0
        self._last_group: int | None = None
        self._last_connect: dict[int, float] = {}  # group -> when its last connect request went out
        self._streak_start: dict[int, float] = {}  # group -> start of its run of intervals with connects
        self._busy_since: dict[int, float] = {}  # group -> when it was first seen with commands waiting
        self._timer: asyncio.TimerHandle | None = None

    @contextlib.asynccontextmanager
    async def connection(self, group: int | None) -> AsyncIterator[Callable[[], None]]:
        """A connection's life: wait for the turn to connect in `group`'s subevent (None: scanned) and a free slot.

        The body connects, then calls the callback it is given: the turn passes to the next
        connect, the slot stays taken until the body ends.
        """
        waiter = _Waiter(group)
        self._waiting.append(waiter)
        self._open += 1  # counted from the start: a waiter is granted only while the others leave room
        self._grant()
        try:
            await waiter.granted
        except BaseException:
            if waiter in self._waiting:
                self._waiting.remove(waiter)
            self._open -= 1
            self._pass_turn(waiter, used=False)
            raise
        try:
            yield lambda: self._pass_turn(waiter, used=True)
        finally:
            self._open -= 1
            self._pass_turn(waiter, used=True)

    def resting(self, group: int, now: float) -> bool:
        """Whether `group` must have an occurrence without a connect before its next one."""
        start = self._streak_start.get(group)
        return start is not None and now - start >= self._streak_limit_s and not self._had_free_occurrence(group, now)

    def _had_free_occurrence(self, group: int, now: float) -> bool:
        """Whether an occurrence of the group's subevent went out without a connect since its last one."""
        last = self._last_connect.get(group)
        return last is None or now - last >= self.params.interval_s + self.params.subevent_interval_s

    def _yielding(self, group: int, now: float) -> bool:
        """Whether the group's commands go first: it has some waiting, and has not had them for 2 intervals yet."""
        if not self._busy(group):
            self._busy_since.pop(group, None)
            return False
        return now - self._busy_since.setdefault(group, now) < YIELD_INTERVALS * self.params.interval_s

    def _pass_turn(self, waiter: _Waiter, *, used: bool) -> None:
        """The waiter's connect went out (or was abandoned): note the subevent it took, grant the next."""
        if self._holder is waiter:
            self._holder = None
            if used and waiter.group is not None:
                now = asyncio.get_running_loop().time()
                if self._had_free_occurrence(waiter.group, now):
                    self._streak_start[waiter.group] = now
                self._last_connect[waiter.group] = now
                self._last_group = waiter.group
        self._grant()

    def _grant(self) -> None:
        """Give the turn to the best waiter, or look again a subevent later when every waiter is passed over."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._waiting = [w for w in self._waiting if not w.granted.done()]  # cancelled, not yet woken to leave
        if self._holder is not None or not self._waiting:
            return
        if self._open - len(self._waiting) >= self._max_open:  # every slot is held by a connection past its turn
            return
        loop = asyncio.get_running_loop()
        chosen = self._choose(loop.time())
        if chosen is None:
            self._timer = loop.call_later(self.params.subevent_interval_s, self._grant)
            return
        self._waiting.remove(chosen)
        self._holder = chosen
        chosen.granted.set_result(None)

    def _choose(self, now: float) -> _Waiter | None:
        """Scanned first; else the eligible waiter whose subevent comes soonest on air; None: wait a subevent."""
        scanned = [w for w in self._waiting if w.group is None]
        if scanned:
            return scanned[0]
        eligible = [w for w in self._waiting
                    if w.group is not None and not self.resting(w.group, now) and not self._yielding(w.group, now)]
        if not eligible:
            return None
        start = 0 if self._last_group is None else self._last_group + 1
        groups = self.params.num_subevents
        return min(eligible, key=lambda w: ((w.group or 0) - start) % groups)
