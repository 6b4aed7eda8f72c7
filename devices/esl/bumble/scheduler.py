"""The access point's PAwR scheduler: a command queue per group, packets packed into subevents, answers matched to slots.

One asyncio object over a `train.Train` (no threads, no locks): the train's callbacks run on the
loop and everything they touch is plain state. The logic follows Silicon Labs' ESL AP
(esl-radio.md §4; Zlib-licensed, ideas reused with attribution):

- Group_ID = subevent number. A data request for some subevents packs each requested group's
  queued commands into one packet of at most 48 octets: commands being retried first, then new
  ones in the order they came; at most one unicast command per ESL per packet (esl.md §8.3: how a
  tag answers two is not settled); broadcast commands (ESL ID 0xFF) last, because a tag answers
  in the slot numbered by its command's position and broadcasts are answered by nobody. Order
  between a label's own commands and its group's broadcasts is kept: a command that has to wait
  holds back every later broadcast, a broadcast in the packet holds back every later unicast.
- The packet asks for response slots 0..n-1, n = its unicast commands. Response Reports carry no
  event counter, so each subevent keeps a FIFO of the packets it was given with slots and a
  report answers the oldest (esl-radio.md §3).
- A slot decrypted with that ESL's response key and decoded by codec.py resolves its command. A
  silent slot, a packet the controller reports as not sent, or a response that fails its MIC
  sends the command again, up to `max_attempts` in all; then it fails with `LabelUnreachable`
  and, when the label itself stayed silent, the label is *unsynchronized* for this scheduler:
  its other commands fail too, new ones are refused at once, `on_unsynchronized(address)` tells
  the AP, and `register` brings it back once the AP has re-synced it (through the train, or
  when it advertises again).
- Keep-alive: a label not heard from for `keepalive_s` (30 min, Silicon Labs' value; tags drop
  sync after 60 min of silence) gets a Ping through the same queue (`ping_due`, `run`).

Pushing early. The controller asks for a subevent's data ahead of its air time, and by the Core
specification (and Zephyr's `bt_le_per_adv_set_subevent_data`) data is given only in reply to a
request. Answering every request eagerly (with keep-alives, say) fills the subevent before a new
command can join: it then waits for the next request and the event after it, up to 2 intervals
(esl-radio.md §3). So this scheduler never fills a subevent it has nothing for: a request that
finds a group's queue empty is answered with nothing for that subevent and stays *open*, and a
command queued while its group's request is open is packed and given at once, at the end of the
current loop step (so commands queued together share the packet), in reply to that open request.
It goes out in the very subevent the controller asked about: within about one interval of being
queued. A controller for which that answer comes too late (Silicon Labs answers PAWR_TOO_LATE)
refuses it; the commands then go back to the front of their queue, the attempt not counted, for
the next request. Keep-alive pings are ordinary queued commands, so the only data that can stand
in a new command's way is a packet full of other commands, and those were there first.

Assumed of the train (train.py's contract, said again where this code relies on it): one
`on_response_report` per subevent packet that asked for slots, in the order the packets were
given, none for packets without slots; data refused by the controller raises from
`set_subevent_data` and produces no report.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import structlog

from devices.esl.bumble.train import SlotResponse, SubeventData, Train
from devices.esl.codec import BROADCAST_ESL_ID, Command, EslAddress, Ping, Response, encode_command
from devices.esl.ead import EadKey, Randomizer
from devices.esl.errors import EslError, EslProtocolError, LabelUnreachable
from devices.esl.radio import KeyMaterial
from devices.esl.sync_packet import MAX_PAYLOAD, pack_sync_packet, parse_response

log = structlog.get_logger(__name__)

DEFAULT_KEEPALIVE_S = 30 * 60.0
_SMALLEST_COMMAND = 2  # opcode and ESL_ID


@dataclass(eq=False, slots=True)
class _Item:
    """One command on its way to its subevent, and the future its sender awaits."""

    command: Command
    size: int
    future: asyncio.Future[Response | None]
    address: EslAddress | None  # None: a broadcast to the group
    attempts: int = 0


@dataclass(eq=False, slots=True)
class _Packet:
    """One packet given to the controller: unicast commands in slot order, then broadcasts."""

    slots: list[_Item]
    broadcasts: list[_Item]


@dataclass(eq=False, slots=True)
class _Group:
    """One group's subevent: commands to retry, new commands, packets awaiting their report."""

    retry: deque[_Item] = field(default_factory=deque)
    queue: deque[_Item] = field(default_factory=deque)
    awaiting: deque[_Packet] = field(default_factory=deque)
    open_request: bool = False  # the controller asked for this subevent's data and got nothing yet
    push_scheduled: bool = False


@dataclass(slots=True)
class _Counts:
    """Running totals since start (see SchedulerFigures)."""

    packets: int = 0
    commands: int = 0
    retries: int = 0
    unanswered: int = 0
    not_sent: int = 0
    silent_slots: int = 0
    bad_responses: int = 0
    stray_reports: int = 0
    reports_missing: int = 0
    early_pushes: int = 0
    early_refused: int = 0


@dataclass(frozen=True, slots=True)
class SchedulerFigures:
    """A snapshot for health and benchmarks: queues now, totals since start."""

    queued: dict[int, int]  # commands waiting per group (retries included); empty groups left out
    awaiting_reports: int  # packets given with response slots whose report has not come
    packets: int  # packets given to the controller
    commands: int  # commands given, retries included
    retries: int  # commands sent again after a silent slot, a packet not sent or a bad response
    unanswered: int  # commands that failed after max_attempts
    not_sent: int  # packets the controller reported as not transmitted
    silent_slots: int  # response slots that held nothing
    bad_responses: int  # slots that failed their MIC or did not decode
    stray_reports: int  # reports for a subevent with no packet awaiting one
    reports_missing: int  # packets given up on because later packets of their subevent were given meanwhile
    early_pushes: int  # packets given at once into a group's open request
    early_refused: int  # of those, refused by the controller (too late)
    registered: int
    unsynchronized: int


class PawrScheduler:
    """Fills a PAwR train's subevents with ESL commands and matches the response slots to them.

    `on_unsynchronized(address)` is called from the train's report callback, once per label given
    up on: it must return quickly and not raise (start the AP's recovery as a task).
    """

    def __init__(
        self,
        train: Train,
        ap_sync_key: KeyMaterial,
        *,
        max_attempts: int = 3,
        keepalive_s: float = DEFAULT_KEEPALIVE_S,
        push_early: bool = True,
        max_awaiting: int = 4,
        randomizer: Randomizer | None = None,
        clock: Callable[[], float] | None = None,
        on_unsynchronized: Callable[[EslAddress], None] | None = None,
    ) -> None:
        """Take over the train's callbacks; call inside the running loop (its clock is the default)."""
        if max_attempts < 1 or max_awaiting < 1:
            raise ValueError("max_attempts and max_awaiting must be at least 1")
        self._loop = asyncio.get_running_loop()
        self.train = train
        self.max_attempts = max_attempts
        self.keepalive_s = keepalive_s
        self.push_early = push_early
        self.max_awaiting = max_awaiting
        self.on_unsynchronized = on_unsynchronized
        self._sync_key = EadKey(ap_sync_key)
        self._randomizer = randomizer if randomizer is not None else Randomizer()
        self._clock = clock if clock is not None else self._loop.time
        self._groups = [_Group() for _ in range(train.params.num_subevents)]
        self._keys: dict[EslAddress, EadKey] = {}
        self._heard: dict[EslAddress, float] = {}
        self._in_flight: dict[EslAddress, int] = {}
        self._unsynced: set[EslAddress] = set()
        self._counts = _Counts()
        self._handing: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        train.on_data_request = self.on_data_request
        train.on_response_report = self.on_response_report

    # Labels -----------------------------------------------------------------------------------
    def register(self, address: EslAddress, response_key: KeyMaterial) -> None:
        """A label synchronized to this train (after PAST, or brought back): its answers decrypt with `response_key`."""
        self._group_of(address.group_id)
        self._keys[address] = EadKey(response_key)
        self._unsynced.discard(address)
        self._heard[address] = self._clock()

    def forget(self, address: EslAddress) -> None:
        """The label left this train (unassociated, moved to another AP): its commands fail, its key is dropped."""
        self._keys.pop(address, None)
        self._heard.pop(address, None)
        self._unsynced.discard(address)
        self._fail_label(address, LabelUnreachable(f"ESL {_name(address)} was removed from this access point's train"))

    def is_synchronized(self, address: EslAddress) -> bool:
        """Registered and not given up on."""
        return address in self._keys and address not in self._unsynced

    # Sending ----------------------------------------------------------------------------------
    async def send(self, address: EslAddress, command: Command) -> Response:
        """Send one command to one label in its group's subevent and return its answer (an Error response included).

        Raises LabelUnreachable when the label is unknown, unsynchronized, or stays silent for
        `max_attempts` packets; the train's own error when the controller keeps refusing data.
        """
        if command.esl_id != address.esl_id:
            raise EslProtocolError(f"command for ESL ID {command.esl_id} sent to ESL {_name(address)}")
        if address not in self._keys:
            raise LabelUnreachable(f"ESL {_name(address)} is not synchronized to this access point's train")
        if address in self._unsynced:
            raise LabelUnreachable(f"ESL {_name(address)} stopped answering: unsynchronized until the AP brings it back")
        item = _Item(command, len(encode_command(command)), self._loop.create_future(), address)
        self._in_flight[address] = self._in_flight.get(address, 0) + 1
        item.future.add_done_callback(lambda _: self._landed(address))
        self._enqueue(address.group_id, item)
        response = await item.future
        assert response is not None  # unicast items resolve with a response
        return response

    async def broadcast(self, group: int, command: Command) -> None:
        """Send one command to every label of a group (ESL ID 0xFF); returns once it has gone out in its subevent.

        Nobody answers a broadcast: "gone out" means given to the controller, or, when it shared
        a packet with unicast commands, reported as transmitted.
        """
        if command.esl_id != BROADCAST_ESL_ID:
            raise EslProtocolError(f"a broadcast command carries ESL ID 0xFF, not {command.esl_id}")
        self._group_of(group)
        item = _Item(command, len(encode_command(command)), self._loop.create_future(), None)
        self._enqueue(group, item)
        await item.future

    def _enqueue(self, group_id: int, item: _Item) -> None:
        """Queue behind the group's other commands; push it into an open request when there is one."""
        group = self._groups[group_id]
        group.queue.append(item)
        if self.push_early and group.open_request and not group.push_scheduled:
            group.push_scheduled = True
            self._loop.call_soon(self._push, group_id)

    def _push(self, group_id: int) -> None:
        """Answer the group's open data request with what was queued in this loop step (see the module docstring)."""
        group = self._groups[group_id]
        group.push_scheduled = False
        if not group.open_request:
            return
        packet = self._pack(group)
        if packet is None:
            return
        group.open_request = False
        self._counts.early_pushes += 1
        self._hand_over([(group_id, packet)], early=True)

    # The train's callbacks --------------------------------------------------------------------
    def on_data_request(self, start: int, count: int) -> None:
        """The controller wants data for subevents start..start+count-1: one packet per group that has commands."""
        given: list[tuple[int, _Packet]] = []
        for k in range(count):
            group_id = (start + k) % len(self._groups)
            group = self._groups[group_id]
            packet = self._pack(group)
            group.open_request = packet is None
            if packet is not None:
                given.append((group_id, packet))
        if given:
            self._hand_over(given, early=False)

    def on_response_report(self, subevent: int, sent: bool, responses: Sequence[SlotResponse]) -> None:
        """The slots of the oldest packet awaiting a report in `subevent`: resolve, or retry what got no answer."""
        if not 0 <= subevent < len(self._groups) or not self._groups[subevent].awaiting:
            self._counts.stray_reports += 1
            log.debug("esl.pawr.report.stray", subevent=subevent)
            return
        group = self._groups[subevent]
        packet = group.awaiting.popleft()
        if not sent:
            self._counts.not_sent += 1
            for item in packet.slots + packet.broadcasts:
                self._retry(group, item, LabelUnreachable("the controller did not transmit the packet"), silent=False)
            return
        for item in packet.broadcasts:
            _resolve(item, None)
        data = {r.slot: r.data for r in responses if r.data is not None}
        for slot, item in enumerate(packet.slots):
            if item.future.done():
                continue
            assert item.address is not None
            raw = data.get(slot)
            key = self._keys.get(item.address)
            if raw is None or key is None:
                self._counts.silent_slots += 1
                self._retry(group, item, None, silent=True)
                continue
            try:
                answers = parse_response(key, raw)
                if not answers:
                    raise EslProtocolError("an empty response")
            except EslProtocolError as err:
                self._counts.bad_responses += 1
                log.debug("esl.pawr.response.bad", esl=_name(item.address), error=str(err))
                self._retry(group, item, None, silent=True)
                continue
            self._heard[item.address] = self._clock()
            _resolve(item, answers[0])

    # Packing and handing over -----------------------------------------------------------------
    def _pack(self, group: _Group) -> _Packet | None:
        """Take what fits one packet from the group's queues (module docstring: order and limits); None if nothing."""
        slots: list[_Item] = []
        broadcasts: list[_Item] = []
        size = 1  # Group_ID
        in_packet: set[int] = set()
        held: set[int] = set()
        unicast_closed = broadcast_held = False
        max_slots = self.train.params.num_response_slots
        for source in (group.retry, group.queue):
            kept: deque[_Item] = deque()
            while source:
                if size > MAX_PAYLOAD - _SMALLEST_COMMAND or (unicast_closed and broadcast_held):
                    kept.extend(source)
                    source.clear()
                    break
                item = source.popleft()
                if item.future.done():
                    continue  # its sender gave up, or its label was forgotten
                fits = size + item.size <= MAX_PAYLOAD
                if item.address is None:
                    if fits and not broadcast_held:
                        broadcasts.append(item)
                        size += item.size
                    else:
                        kept.append(item)
                        broadcast_held = True
                    unicast_closed = True
                    continue
                esl = item.address.esl_id
                if fits and not unicast_closed and esl not in in_packet and esl not in held and len(slots) < max_slots:
                    slots.append(item)
                    in_packet.add(esl)
                    size += item.size
                else:
                    kept.append(item)
                    held.add(esl)
                    broadcast_held = True
            source.extend(kept)
        if not slots and not broadcasts:
            return None
        return _Packet(slots, broadcasts)

    def _hand_over(self, given: list[tuple[int, _Packet]], *, early: bool) -> None:
        """Encrypt the packets, note those with slots in their subevent's FIFO now, and give them in order."""
        data = []
        for group_id, packet in given:
            group = self._groups[group_id]
            commands = [item.command for item in packet.slots + packet.broadcasts]
            for item in packet.slots + packet.broadcasts:
                item.attempts += 1
            data.append(SubeventData(group_id, 0, len(packet.slots),
                                     pack_sync_packet(self._sync_key, self._randomizer.next(), group_id, commands)))
            if packet.slots:
                group.awaiting.append(packet)
                if len(group.awaiting) > self.max_awaiting:
                    self._counts.reports_missing += 1
                    lost = group.awaiting.popleft()
                    for item in lost.slots + lost.broadcasts:
                        self._retry(group, item, LabelUnreachable("no response report came for the packet"), silent=False)
            self._counts.packets += 1
            self._counts.commands += len(commands)
        previous = self._handing
        task = self._loop.create_task(self._give(previous, data, given, early))
        self._handing = task
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _give(self, previous: asyncio.Task[None] | None, data: list[SubeventData],
                    given: list[tuple[int, _Packet]], early: bool) -> None:
        """Hand one batch to the controller after the batch before it (HCI order = FIFO order)."""
        if previous is not None and not previous.done():
            await asyncio.wait([previous])
        try:
            await self.train.set_subevent_data(data)
        except EslError as err:
            self._refused(given, err, early)
            return
        for _, packet in given:
            if not packet.slots:
                for item in packet.broadcasts:
                    _resolve(item, None)

    def _refused(self, given: list[tuple[int, _Packet]], err: EslError, early: bool) -> None:
        """The controller took none of the batch: out of the FIFOs, back to the front of their queues."""
        if early:
            self._counts.early_refused += 1
        log.debug("esl.pawr.data.refused", early=early, error=str(err))
        for group_id, packet in given:
            group = self._groups[group_id]
            if packet in group.awaiting:
                group.awaiting.remove(packet)
            items = packet.slots + packet.broadcasts
            if early:  # too late for that event: the next request takes them, the attempt not counted
                for item in items:
                    item.attempts -= 1
                group.retry.extendleft(reversed(items))
                continue
            for item in reversed(items):
                if item.attempts >= self.max_attempts:
                    self._counts.unanswered += 1
                    _fail(item, err)
                else:
                    self._counts.retries += 1
                    group.retry.appendleft(item)

    def _retry(self, group: _Group, item: _Item, error: EslError | None, *, silent: bool) -> None:
        """Send it again, or give up after max_attempts (a silent label is then unsynchronized)."""
        if item.future.done():
            return
        if item.address is not None and item.address in self._unsynced:
            _fail(item, LabelUnreachable(f"ESL {_name(item.address)} is unsynchronized"))
            return
        if item.attempts < self.max_attempts:
            self._counts.retries += 1
            group.retry.append(item)
            return
        self._counts.unanswered += 1
        if item.address is None:
            _fail(item, error or LabelUnreachable("the broadcast did not go out"))
            return
        what = type(item.command).__name__
        if not silent:
            _fail(item, LabelUnreachable(f"ESL {_name(item.address)}: {what} not delivered in {item.attempts} attempts ({error})"))
            return
        _fail(item, LabelUnreachable(f"ESL {_name(item.address)} did not answer {what} in {item.attempts} attempts"))
        self._unsynchronize(item.address)

    def _unsynchronize(self, address: EslAddress) -> None:
        """Give the label up until the AP brings it back: its other commands fail, the AP is told."""
        if address in self._unsynced or address not in self._keys:
            return
        self._unsynced.add(address)
        log.info("esl.pawr.unsynchronized", esl=_name(address))
        self._fail_label(address, LabelUnreachable(f"ESL {_name(address)} stopped answering: unsynchronized"))
        if self.on_unsynchronized is not None:
            self.on_unsynchronized(address)

    def _fail_label(self, address: EslAddress, err: EslError) -> None:
        """Fail every command of one label, queued or awaiting a report."""
        group = self._groups[address.group_id]
        for source in (group.retry, group.queue):
            for item in source:
                if item.address == address:
                    _fail(item, err)
        for packet in group.awaiting:
            for item in packet.slots:
                if item.address == address:
                    _fail(item, err)

    def _landed(self, address: EslAddress) -> None:
        """One command of the label finished, whichever way."""
        left = self._in_flight.get(address, 1) - 1
        if left:
            self._in_flight[address] = left
        else:
            self._in_flight.pop(address, None)

    def _group_of(self, group_id: int) -> _Group:
        """The group's subevent, refusing a group this train has no subevent for."""
        if not 0 <= group_id < len(self._groups):
            raise EslProtocolError(f"group {group_id} has no subevent on this train ({len(self._groups)} subevents)")
        return self._groups[group_id]

    def busy(self, group_id: int) -> bool:
        """Whether commands for this group wait to be sent or answered (a connection through its subevent would delay them)."""
        group = self._group_of(group_id)
        return bool(group.awaiting) or any(not item.future.done() for item in (*group.retry, *group.queue))

    # Keep-alive -------------------------------------------------------------------------------
    def ping_due(self) -> list[EslAddress]:
        """Synchronized labels not heard from for keepalive_s and with nothing on its way to them."""
        now = self._clock()
        return [a for a, t in self._heard.items()
                if now - t >= self.keepalive_s and a not in self._unsynced and a not in self._in_flight]

    async def run(self, check_every_s: float | None = None) -> None:
        """Queue a Ping for every label whose keep-alive is due, checking every `check_every_s` (keepalive_s / 30)."""
        period = check_every_s if check_every_s is not None else self.keepalive_s / 30
        while True:
            await asyncio.sleep(period)
            for address in self.ping_due():
                task = self._loop.create_task(self._ping(address), name=f"esl-keepalive-{_name(address)}")
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _ping(self, address: EslAddress) -> None:
        """One keep-alive; a silent label is handled by `_retry` (unsynchronized, the AP told)."""
        try:
            await self.send(address, Ping(address.esl_id))
        except LabelUnreachable:
            pass

    # Figures and end --------------------------------------------------------------------------
    def figures(self) -> SchedulerFigures:
        """Queues now and totals since start."""
        queued = {g: n for g, group in enumerate(self._groups)
                  if (n := sum(not i.future.done() for i in group.retry) + sum(not i.future.done() for i in group.queue))}
        c = self._counts
        return SchedulerFigures(
            queued=queued, awaiting_reports=sum(len(g.awaiting) for g in self._groups), packets=c.packets,
            commands=c.commands, retries=c.retries, unanswered=c.unanswered, not_sent=c.not_sent,
            silent_slots=c.silent_slots, bad_responses=c.bad_responses, stray_reports=c.stray_reports,
            reports_missing=c.reports_missing, early_pushes=c.early_pushes, early_refused=c.early_refused,
            registered=len(self._keys), unsynchronized=len(self._unsynced),
        )

    async def aclose(self) -> None:
        """Let go of the train: every command still waiting fails, hand-overs and keep-alives stop."""
        if self.train.on_data_request == self.on_data_request:
            self.train.on_data_request = None
        if self.train.on_response_report == self.on_response_report:
            self.train.on_response_report = None
        err = LabelUnreachable("the access point's PAwR scheduler stopped")
        for group in self._groups:
            for item in [*group.retry, *group.queue, *(i for p in group.awaiting for i in p.slots + p.broadcasts)]:
                _fail(item, err)
            group.retry.clear()
            group.queue.clear()
            group.awaiting.clear()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)


def _resolve(item: _Item, response: Response | None) -> None:
    """Give the sender its answer, unless it stopped waiting."""
    if not item.future.done():
        item.future.set_result(response)


def _fail(item: _Item, err: EslError) -> None:
    """Give the sender its error, unless it stopped waiting."""
    if not item.future.done():
        item.future.set_exception(err)


def _name(address: EslAddress) -> str:
    """`group/id` for logs and messages."""
    return f"{address.group_id}/{address.esl_id}"
