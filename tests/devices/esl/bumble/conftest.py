"""Fixtures for the PAwR layer: an indexed virtual link, powered-on virtual devices, a running train with synced receivers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import pytest
from bumble.device import Device

from devices.esl.bumble.controller import PawrController, RadioModel, virtual_device
from devices.esl.bumble.host import PawrAdvertiser, PawrReceiver, PawrReport
from devices.esl.bumble.link import IndexedLink
from devices.esl.bumble.train import SlotResponse, SubeventData, TrainParams

# A small layout (4 subevents of 25 ms in a 100 ms interval; slots at 12.5 ms + k x 1 ms) keeps logs short.
SMALL = TrainParams(interval=80, num_subevents=4, subevent_interval=20, response_slot_delay=10,
                    response_slot_spacing=8, num_response_slots=4)


@pytest.fixture
def link() -> IndexedLink:
    """An empty indexed virtual link."""
    return IndexedLink()


MakeDevice = Callable[..., Awaitable[tuple[Device, PawrController]]]


@pytest.fixture
def make_device(link: IndexedLink) -> MakeDevice:
    """Make powered-on virtual devices on the link: `await make_device(address, radio=..., ...)`."""

    async def make(address: str, **options: object) -> tuple[Device, PawrController]:
        device, controller = virtual_device(link, address, **options)  # type: ignore[arg-type]
        await device.power_on()
        return device, controller

    return make


@dataclass
class Tag:
    """A receiver under test: its device, controller, PAwR receiver and what it got."""

    device: Device
    controller: PawrController
    receiver: PawrReceiver
    reports: list[tuple[float, PawrReport]] = field(default_factory=list)


@dataclass
class Rig:
    """An AP running a train that fills every subevent it is asked for, and synced tags."""

    ap: Device
    ap_controller: PawrController
    train: PawrAdvertiser
    tags: list[Tag]
    requests: list[tuple[float, int, int]] = field(default_factory=list)
    reports: list[tuple[float, int, bool, Sequence[SlotResponse]]] = field(default_factory=list)
    slots: int = 0  # response slots each packet asks for
    payload: Callable[[int], bytes] = lambda subevent: bytes([subevent]) * 4

    errors: list[BaseException] = field(default_factory=list)  # what set_subevent_data raised

    def answer(self, start: int, count: int) -> None:
        """The AP's host answers a data request at once."""
        loop = asyncio.get_running_loop()
        self.requests.append((loop.time(), start, count))
        items = [SubeventData(s, 0, self.slots, self.payload(s)) for s in range(start, start + count)]
        task = loop.create_task(self.train.set_subevent_data(items))
        task.add_done_callback(lambda done: self.errors.append(done.exception()) if done.exception() else None)

    def reported(self, start: int, *args: object) -> None:
        """Record a response report with its time."""
        self.reports.append((asyncio.get_running_loop().time(), start, *args))  # type: ignore[arg-type]


@pytest.fixture
async def rig_factory(make_device: MakeDevice) -> AsyncIterator[Callable[..., Awaitable[Rig]]]:
    """Build a Rig: `await rig_factory(listen=[[0], [1], [1]], radios=[...], params=SMALL, slots=2)`."""
    made: list[Rig] = []

    async def build(listen: Sequence[Sequence[int]], *, radios: Sequence[RadioModel] | None = None,
                    params: TrainParams = SMALL, slots: int = 0, seed: int = 0, **ap_options: object) -> Rig:
        ap, ap_controller = await make_device("F0:00:00:00:AA:01", name="ap", seed=seed, **ap_options)
        train = PawrAdvertiser(ap, params)
        rig = Rig(ap, ap_controller, train, [], slots=slots)
        train.on_data_request = rig.answer
        train.on_response_report = rig.reported
        await train.start()
        for index, subevents in enumerate(listen):
            radio = radios[index] if radios else RadioModel()
            device, controller = await make_device(f"F0:00:00:00:{index // 256:02X}:{index % 256:02X}",
                                                   name=f"tag{index}", radio=radio)
            tag = Tag(device, controller, PawrReceiver(device))
            tag.receiver.on_report = lambda report, tag=tag: tag.reports.append((asyncio.get_running_loop().time(), report))
            await tag.receiver.start()
            await device.start_advertising()
            connection = await asyncio.wait_for(ap.connect(device.random_address), 10)
            await device.stop_advertising()
            await train.transfer_sync(connection)
            await until(lambda: tag.receiver.sync is not None)
            await connection.disconnect()
            await tag.receiver.listen(list(subevents))
            rig.tags.append(tag)
        made.append(rig)
        return rig

    yield build
    for rig in made:
        await rig.train.stop()


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait (on the loop clock) until `condition()` holds."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.001)

