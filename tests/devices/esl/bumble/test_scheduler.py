"""The PAwR scheduler against a small fake train the test drives: packing, slot matching, retries, pushing early."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence

import pytest

from devices.esl.bumble.scheduler import PawrScheduler
from devices.esl.bumble.train import SlotResponse, SubeventData, TrainParams
from devices.esl.codec import (
    BasicState, BasicStateFlag, Command, DisplayImage, EslAddress, LedControl, LedState, Ping, ReadSensorData,
    Response, SensorValue,
)
from devices.esl.ead import EadKey, Randomizer
from devices.esl.errors import LabelUnreachable, TransportUnavailable
from devices.esl.led import GREEN, LedParams
from devices.esl.radio import KeyMaterial
from devices.esl.sync_packet import SyncPacket, pack_response, parse_sync_packet

SYNC_KEY = KeyMaterial(bytes(range(16)), bytes(range(16, 24)))
FLASH = LedParams(GREEN)


class FakeTrain:
    """A Train the test drives: it records what it is given and refuses when told to."""

    def __init__(self, params: TrainParams | None = None) -> None:
        """No callbacks until the scheduler takes them."""
        self.params = params or TrainParams()
        self.on_data_request: Callable[[int, int], None] | None = None
        self.on_response_report: Callable[[int, bool, Sequence[SlotResponse]], None] | None = None
        self.batches: list[list[SubeventData]] = []
        self.refuse = 0
        self.slow: list[int] = []  # loop steps each coming hand-over takes

    async def set_subevent_data(self, items: Sequence[SubeventData]) -> None:
        """Accept the batch, or refuse it `refuse` more times."""
        for _ in range(self.slow.pop(0) if self.slow else 1):
            await asyncio.sleep(0)
        if self.refuse:
            self.refuse -= 1
            raise TransportUnavailable("controller: too late for that subevent")
        self.batches.append(list(items))

    async def request(self, start: int, count: int = 1) -> list[SubeventData]:
        """The controller asks for subevent data; what the scheduler gave in reply."""
        before = len(self.batches)
        assert self.on_data_request is not None
        self.on_data_request(start, count)
        await settle()
        return [sd for batch in self.batches[before:] for sd in batch]

    def report(self, subevent: int, responses: Sequence[SlotResponse], sent: bool = True) -> None:
        """The controller reports a subevent's response slots."""
        assert self.on_response_report is not None
        self.on_response_report(subevent, sent, responses)

    async def exchange(self, subevent: int, tags: Tags, silent: Sequence[int] = ()) -> SubeventData:
        """The controller asks for one subevent's packet and reports its labels' answers (none from `silent`)."""
        (sd,) = await self.request(subevent)
        self.report(subevent, tags.answer(sd, silent))
        return sd


async def settle() -> None:
    """Let the scheduler's hand-over tasks and callbacks run."""
    for _ in range(5):
        await asyncio.sleep(0)


class Tags:
    """Labels on the air: they read sync packets with the AP Sync Key and answer with their own key."""

    def __init__(self) -> None:
        """No labels yet."""
        self.keys: dict[EslAddress, KeyMaterial] = {}
        self.sync = EadKey(SYNC_KEY)
        self.rand = Randomizer(start=0)

    def add(self, scheduler: PawrScheduler, *addresses: EslAddress) -> None:
        """Onboard labels: each gets a response key the scheduler learns."""
        for address in addresses:
            self.keys[address] = KeyMaterial.generate()
            scheduler.register(address, self.keys[address])

    def read(self, sd: SubeventData) -> SyncPacket:
        """What a label in that subevent decrypts."""
        return parse_sync_packet(self.sync, sd.data)

    def answer(self, sd: SubeventData, silent: Sequence[int] = (), key_for: Callable[[EslAddress], KeyMaterial] | None = None) -> list[SlotResponse]:
        """Each slot's label answers its command, except those listed silent."""
        packet = self.read(sd)
        out = []
        for slot, command in enumerate(packet.commands[: sd.response_slot_count]):
            address = EslAddress(packet.group_id, command.esl_id)
            key = key_for(address) if key_for else self.keys[address]
            data = None if command.esl_id in silent else pack_response(EadKey(key), self.rand.next(), [_response(command)])
            out.append(SlotResponse(slot, data))
        return out


def _response(command: Command) -> Response:
    """What a reference tag answers."""
    match command:
        case LedControl(led_index=i):
            return LedState(i)
        case ReadSensorData(sensor_index=i):
            return SensorValue(i, b"\x08")
        case _:
            return BasicState(BasicStateFlag.SYNCHRONIZED)


def _ids(packet: SyncPacket) -> list[int]:
    """The ESL IDs of a packet's commands, in slot order."""
    return [c.esl_id for c in packet.commands]


@pytest.fixture
def train() -> FakeTrain:
    """Silicon Labs' layout: 28 subevents, 23 slots."""
    return FakeTrain()


@pytest.fixture
def tags() -> Tags:
    """Labels on the air, none onboarded yet."""
    return Tags()


@pytest.fixture
async def scheduler(train: FakeTrain) -> AsyncIterator[PawrScheduler]:
    """The scheduler over the fake train, with a fixed randomizer start."""
    s = PawrScheduler(train, SYNC_KEY, randomizer=Randomizer(start=100))
    yield s
    await s.aclose()


def _send(scheduler: PawrScheduler, address: EslAddress, command: Command) -> asyncio.Task[Response]:
    """Send in the background, as the AP's callers do."""
    return asyncio.get_running_loop().create_task(scheduler.send(address, command))


async def queued(scheduler: PawrScheduler, tags: Tags, address: EslAddress, command: Command) -> asyncio.Task[Response]:
    """Onboard one label and send it a command in the background, settled into the scheduler's queue."""
    tags.add(scheduler, address)
    task = _send(scheduler, address, command)
    await settle()
    return task


async def test_packets_hold_three_led_commands_and_retries_go_before_new_ones(train: FakeTrain, scheduler: PawrScheduler, tags: Tags) -> None:
    """4 LED commands: 3 fit; label 1 is silent, so its command leads the next packet, before 4 and the newer 5."""
    addrs = [EslAddress(2, i) for i in range(1, 6)]
    tags.add(scheduler, *addrs)
    sends = [_send(scheduler, a, LedControl(a.esl_id, 0, FLASH)) for a in addrs[:4]]
    await settle()
    (first,) = await train.request(2)
    assert (first.subevent, first.response_slot_start, first.response_slot_count) == (2, 0, 3)
    assert _ids(tags.read(first)) == [1, 2, 3]
    late = _send(scheduler, addrs[4], LedControl(5, 0, FLASH))
    await settle()
    train.report(2, tags.answer(first, silent=[1]))
    second = await train.exchange(2, tags)
    assert _ids(tags.read(second)) == [1, 4, 5]
    assert [await t for t in (*sends, late)] == [LedState(0)] * 5
    figures = scheduler.figures()
    assert (figures.packets, figures.commands, figures.retries, figures.silent_slots) == (2, 6, 1, 1)


async def test_one_unicast_command_per_label_per_packet(train: FakeTrain, scheduler: PawrScheduler, tags: Tags) -> None:
    """Two commands for label 1 and one for label 2: the second for label 1 waits, in its order."""
    one, two = EslAddress(0, 1), EslAddress(0, 2)
    tags.add(scheduler, one, two)
    a = _send(scheduler, one, DisplayImage(1, 0, 1))
    b = _send(scheduler, one, DisplayImage(1, 0, 2))
    c = _send(scheduler, two, Ping(2))
    await settle()
    first = await train.exchange(0, tags)
    assert tags.read(first).commands == (DisplayImage(1, 0, 1), Ping(2))
    second = await train.exchange(0, tags)
    assert tags.read(second).commands == (DisplayImage(1, 0, 2),)
    await asyncio.gather(a, b, c)


async def test_a_broadcast_takes_no_slot_and_resolves_once_given(train: FakeTrain, scheduler: PawrScheduler, tags: Tags) -> None:
    """LED on for the whole group: 0 response slots, nothing awaits a report for it, done when handed over."""
    done = asyncio.create_task(scheduler.broadcast(4, LedControl(0xFF, 0, FLASH)))
    await settle()
    (sd,) = await train.request(4)
    assert (sd.response_slot_start, sd.response_slot_count) == (0, 0)
    assert tags.read(sd) == SyncPacket(4, (LedControl(0xFF, 0, FLASH),))
    await asyncio.wait_for(done, 1)
    assert scheduler.figures().awaiting_reports == 0
    train.report(4, [])
    assert scheduler.figures().stray_reports == 1


async def test_broadcasts_go_after_the_unicast_commands_and_keep_their_order(train: FakeTrain, scheduler: PawrScheduler, tags: Tags) -> None:
    """U1, B, U2: the packet is [U1, B] with one slot; U2 may not overtake B, so it waits for the next packet."""
    u1, u2 = EslAddress(3, 1), EslAddress(3, 2)
    tags.add(scheduler, u1, u2)
    first_u = _send(scheduler, u1, Ping(1))
    await settle()
    b = asyncio.create_task(scheduler.broadcast(3, LedControl(0xFF, 0, FLASH)))
    await settle()
    second_u = _send(scheduler, u2, Ping(2))
    await settle()
    sd = await train.exchange(3, tags)
    assert (_ids(tags.read(sd)), sd.response_slot_count) == ([1, 0xFF], 1)
    await asyncio.wait_for(b, 1)  # shared a packet with a slot: resolved by the report
    assert _ids(tags.read(await train.exchange(3, tags))) == [2]
    await asyncio.gather(first_u, second_u)


async def test_reports_match_packets_in_order_per_subevent_with_two_outstanding(train: FakeTrain, scheduler: PawrScheduler, tags: Tags) -> None:
    """Two packets given to subevent 1 before either report: the first report is the first packet's."""
    one, two = EslAddress(1, 1), EslAddress(1, 2)
    tags.add(scheduler, one, two)
    a = _send(scheduler, one, ReadSensorData(1, 0))
    await settle()
    (p1,) = await train.request(1)
    b = _send(scheduler, two, Ping(2))
    await settle()
    (p2,) = await train.request(1)
    assert scheduler.figures().awaiting_reports == 2
    train.report(1, tags.answer(p1))
    assert await asyncio.wait_for(a, 1) == SensorValue(0, b"\x08")
    assert not b.done()
    train.report(1, tags.answer(p2))
    assert await asyncio.wait_for(b, 1) == BasicState(BasicStateFlag.SYNCHRONIZED)
    assert scheduler.figures().bad_responses == 0


async def test_hand_overs_reach_the_controller_in_the_order_they_were_packed(train: FakeTrain, scheduler: PawrScheduler, tags: Tags) -> None:
    """Two requests back to back, the first hand-over slower: the controller still gets them in FIFO order."""
    one = EslAddress(1, 1)
    tags.add(scheduler, one)
    tasks = [_send(scheduler, one, Ping(1)), _send(scheduler, one, ReadSensorData(1, 0))]
    await settle()
    train.slow = [4, 1]
    assert train.on_data_request is not None
    train.on_data_request(1, 1)
    train.on_data_request(1, 1)
    await settle()
    await settle()
    assert [tags.read(batch[0]).commands for batch in train.batches] == [(Ping(1),), (ReadSensorData(1, 0),)]
    for batch in train.batches:
        train.report(1, tags.answer(batch[0]))
    await asyncio.wait_for(asyncio.gather(*tasks), 1)


async def test_three_silent_slots_make_the_label_unreachable_and_unsynchronized(train: FakeTrain, tags: Tags) -> None:
    """Attempts 1-3 unanswered: LabelUnreachable, the AP is told once, its queued command fails, new ones are refused."""
    lost: list[EslAddress] = []
    scheduler = PawrScheduler(train, SYNC_KEY, on_unsynchronized=lost.append)
    gone = EslAddress(5, 9)
    first = await queued(scheduler, tags, gone, LedControl(9, 0, FLASH))
    (sd,) = await train.request(5)
    queued_behind = _send(scheduler, gone, Ping(9))
    for attempt in (1, 2, 3):
        assert _ids(tags.read(sd)) == [9]
        train.report(5, tags.answer(sd, silent=[9]))
        if attempt < 3:
            (sd,) = await train.request(5)
    with pytest.raises(LabelUnreachable, match="did not answer LedControl in 3 attempts"):
        await asyncio.wait_for(first, 1)
    with pytest.raises(LabelUnreachable, match="unsynchronized"):
        await asyncio.wait_for(queued_behind, 1)
    assert lost == [gone] and not scheduler.is_synchronized(gone)
    with pytest.raises(LabelUnreachable, match="unsynchronized"):
        await scheduler.send(gone, Ping(9))
    assert await train.request(5) == []
    figures = scheduler.figures()
    assert (figures.unanswered, figures.unsynchronized, figures.retries) == (1, 1, 2)
    again = await queued(scheduler, tags, gone, Ping(9))  # the AP brought it back
    (sd,) = train.batches[-1]  # pushed into the request that had found nothing
    train.report(5, tags.answer(sd))
    assert await asyncio.wait_for(again, 1) == BasicState(BasicStateFlag.SYNCHRONIZED)
    await scheduler.aclose()


async def test_a_packet_reported_not_sent_is_sent_again(train: FakeTrain, scheduler: PawrScheduler, tags: Tags) -> None:
    """Tx status 'not transmitted': the same command in the next packet, the label not blamed."""
    task = await queued(scheduler, tags, EslAddress(6, 1), Ping(1))
    (sd,) = await train.request(6)
    train.report(6, [], sent=False)
    sd2 = await train.exchange(6, tags)
    assert tags.read(sd2).commands == (Ping(1),) and sd2.data != sd.data  # a new randomizer
    await asyncio.wait_for(task, 1)
    assert (scheduler.figures().not_sent, scheduler.figures().retries) == (1, 1)


async def test_never_sent_three_times_fails_without_unsynchronizing(train: FakeTrain, scheduler: PawrScheduler, tags: Tags) -> None:
    """The controller's fault, not the label's: LabelUnreachable for the command, the label stays synchronized."""
    address = EslAddress(6, 2)
    task = await queued(scheduler, tags, address, Ping(2))
    for _ in range(3):
        await train.request(6)
        train.report(6, [], sent=False)
    with pytest.raises(LabelUnreachable, match="not delivered in 3 attempts"):
        await asyncio.wait_for(task, 1)
    assert scheduler.is_synchronized(address)


async def test_a_response_failing_its_mic_is_retried(train: FakeTrain, scheduler: PawrScheduler, tags: Tags) -> None:
    """A slot answered under another key (a neighbour, a collision): not accepted, the command goes again."""
    task = await queued(scheduler, tags, EslAddress(7, 3), LedControl(3, 0, FLASH))
    (sd,) = await train.request(7)
    stranger = KeyMaterial.generate()
    train.report(7, tags.answer(sd, key_for=lambda _: stranger))
    assert not task.done()
    await train.exchange(7, tags)
    assert await asyncio.wait_for(task, 1) == LedState(0)
    assert (scheduler.figures().bad_responses, scheduler.figures().retries) == (1, 1)


async def test_many_groups_in_one_request(train: FakeTrain, scheduler: PawrScheduler, tags: Tags) -> None:
    """One request for all 28 subevents: one batch, one packet per group that has a command, Group_ID = subevent."""
    addrs = [EslAddress(g, 1) for g in range(0, 28, 2)]
    tags.add(scheduler, *addrs)
    tasks = [_send(scheduler, a, Ping(1)) for a in addrs]
    await settle()
    given = await train.request(0, 28)
    assert len(train.batches) == 1
    assert [sd.subevent for sd in given] == list(range(0, 28, 2))
    assert all(tags.read(sd).group_id == sd.subevent for sd in given)
    for sd in given:
        train.report(sd.subevent, tags.answer(sd))
    await asyncio.wait_for(asyncio.gather(*tasks), 1)


async def test_a_request_wrapping_past_the_last_subevent(train: FakeTrain, scheduler: PawrScheduler, tags: Tags) -> None:
    """Subevents 27, 0, 1 in one request."""
    addrs = [EslAddress(g, 4) for g in (27, 0, 1)]
    tags.add(scheduler, *addrs)
    tasks = [_send(scheduler, a, Ping(4)) for a in addrs]
    await settle()
    assert [sd.subevent for sd in await train.request(27, 3)] == [27, 0, 1]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def test_no_more_unicast_commands_than_response_slots(tags: Tags) -> None:
    """A train with 2 response slots: 3 pings to one group go 2 + 1."""
    train = FakeTrain(TrainParams(num_response_slots=2))
    scheduler = PawrScheduler(train, SYNC_KEY)
    addrs = [EslAddress(0, i) for i in range(3)]
    tags.add(scheduler, *addrs)
    tasks = [_send(scheduler, a, Ping(a.esl_id)) for a in addrs]
    await settle()
    (sd,) = await train.request(0)
    assert (_ids(tags.read(sd)), sd.response_slot_count) == ([0, 1], 2)
    await scheduler.aclose()
    assert all(isinstance(r, LabelUnreachable) for r in await asyncio.gather(*tasks, return_exceptions=True))


async def test_a_command_queued_into_an_open_request_goes_at_once(train: FakeTrain, scheduler: PawrScheduler, tags: Tags) -> None:
    """Pushing early: the request found nothing; a command queued after it is given without waiting for the next."""
    assert await train.request(8) == []
    task = await queued(scheduler, tags, EslAddress(8, 1), LedControl(1, 0, FLASH))
    assert len(train.batches) == 1 and train.batches[0][0].subevent == 8
    train.report(8, tags.answer(train.batches[0][0]))
    assert await asyncio.wait_for(task, 1) == LedState(0)
    assert scheduler.figures().early_pushes == 1


async def test_commands_queued_together_share_the_pushed_packet(train: FakeTrain, scheduler: PawrScheduler, tags: Tags) -> None:
    """Three labels' LEDs queued in one loop step: one packet, not three."""
    addrs = [EslAddress(8, i) for i in (1, 2, 3)]
    tags.add(scheduler, *addrs)
    await train.request(8)
    tasks = [_send(scheduler, a, LedControl(a.esl_id, 0, FLASH)) for a in addrs]
    await settle()
    assert len(train.batches) == 1 and _ids(tags.read(train.batches[0][0])) == [1, 2, 3]
    train.report(8, tags.answer(train.batches[0][0]))
    await asyncio.wait_for(asyncio.gather(*tasks), 1)


async def test_a_push_refused_as_too_late_waits_for_the_next_request_without_costing_an_attempt(train: FakeTrain, tags: Tags) -> None:
    """max_attempts 2: refused early push (not counted), silent once, answered on the second real transmission."""
    scheduler = PawrScheduler(train, SYNC_KEY, max_attempts=2)
    await train.request(9)
    train.refuse = 1
    task = await queued(scheduler, tags, EslAddress(9, 1), Ping(1))
    assert train.batches == [] and scheduler.figures().early_refused == 1
    await train.exchange(9, tags, silent=[1])
    await train.exchange(9, tags)
    assert await asyncio.wait_for(task, 1) == BasicState(BasicStateFlag.SYNCHRONIZED)
    await scheduler.aclose()


async def test_without_pushing_early_a_command_waits_for_the_next_request(train: FakeTrain, tags: Tags) -> None:
    """push_early=False: nothing is given until the controller asks again."""
    scheduler = PawrScheduler(train, SYNC_KEY, push_early=False)
    await train.request(8)
    task = await queued(scheduler, tags, EslAddress(8, 1), Ping(1))
    assert train.batches == []
    await train.exchange(8, tags)
    await asyncio.wait_for(task, 1)
    await scheduler.aclose()


async def test_a_controller_refusing_data_fails_the_command_with_its_error(train: FakeTrain, scheduler: PawrScheduler, tags: Tags) -> None:
    """Three refused hand-overs: the train's TransportUnavailable, and the label stays synchronized."""
    address = EslAddress(10, 1)
    task = await queued(scheduler, tags, address, Ping(1))
    train.refuse = 3
    for _ in range(3):
        assert await train.request(10) == []
    with pytest.raises(TransportUnavailable):
        await asyncio.wait_for(task, 1)
    assert scheduler.is_synchronized(address) and scheduler.figures().awaiting_reports == 0


async def test_a_cancelled_send_takes_no_room_in_the_packet(train: FakeTrain, scheduler: PawrScheduler, tags: Tags) -> None:
    """The sender gave up before the request: its command is dropped, not sent."""
    a, b = EslAddress(11, 1), EslAddress(11, 2)
    tags.add(scheduler, a, b)
    gave_up = _send(scheduler, a, Ping(1))
    kept = _send(scheduler, b, Ping(2))
    await settle()
    gave_up.cancel()
    await settle()
    (sd,) = await train.request(11)
    assert _ids(tags.read(sd)) == [2]
    train.report(11, tags.answer(sd))
    await asyncio.wait_for(kept, 1)


async def test_forget_fails_what_the_label_had_queued(train: FakeTrain, scheduler: PawrScheduler, tags: Tags) -> None:
    """Moved to another AP: its command fails now, and later sends are refused."""
    address = EslAddress(12, 1)
    task = await queued(scheduler, tags, address, Ping(1))
    scheduler.forget(address)
    with pytest.raises(LabelUnreachable, match="removed"):
        await asyncio.wait_for(task, 1)
    with pytest.raises(LabelUnreachable, match="not synchronized"):
        await scheduler.send(address, Ping(1))


async def test_wrong_addresses_are_refused_before_the_radio(scheduler: PawrScheduler) -> None:
    """A group without a subevent, a command for another ESL ID, a broadcast without 0xFF."""
    with pytest.raises(ValueError, match="no subevent"):
        scheduler.register(EslAddress(28, 1), KeyMaterial.generate())
    scheduler.register(EslAddress(1, 1), KeyMaterial.generate())
    with pytest.raises(ValueError, match="ESL ID 2"):
        await scheduler.send(EslAddress(1, 1), Ping(2))
    with pytest.raises(ValueError, match="0xFF"):
        await scheduler.broadcast(1, Ping(1))


async def test_keep_alive_is_due_after_30_minutes_of_silence(train: FakeTrain, tags: Tags) -> None:
    """Heard at registration; due 30 min later; not while a command is on its way; not once heard again."""
    now = [0.0]
    scheduler = PawrScheduler(train, SYNC_KEY, clock=lambda: now[0])
    address = EslAddress(13, 1)
    tags.add(scheduler, address)
    now[0] = 1799.0
    assert scheduler.ping_due() == []
    now[0] = 1800.0
    assert scheduler.ping_due() == [address]
    task = _send(scheduler, address, Ping(1))
    await settle()
    assert scheduler.ping_due() == []
    await train.exchange(13, tags)
    await asyncio.wait_for(task, 1)
    await settle()
    assert scheduler.ping_due() == []
    await scheduler.aclose()


@pytest.mark.looptime
async def test_the_keep_alive_task_pings_a_silent_label_on_the_virtual_clock(train: FakeTrain, tags: Tags) -> None:
    """run() on looptime's clock: after 30 min a Ping is queued and goes out with the next request."""
    scheduler = PawrScheduler(train, SYNC_KEY)
    address = EslAddress(14, 1)
    tags.add(scheduler, address)
    runner = asyncio.create_task(scheduler.run())
    await asyncio.sleep(1799)
    assert await train.request(14) == []
    await asyncio.sleep(61)
    (sd,) = train.batches[-1]  # queued at 1800 s, pushed into the open request
    assert tags.read(sd).commands == (Ping(1),)
    train.report(14, tags.answer(sd))
    await settle()
    assert scheduler.ping_due() == []
    runner.cancel()
    await scheduler.aclose()
