"""The PAwR access point end to end: the production AP code over the virtual store on the emulated radio (looptime's clock).

Commands to synchronized labels go into their group's subevent and are answered in response
slots (no connection); images go over a connection made through the train; a new label is
onboarded and handed the train (PAST); a label that goes silent is brought back once it advertises.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from devices.esl import framebuffer
from devices.esl.bumble.store import TagSpec, VirtualStore, open_virtual_store
from devices.esl.bumble.tag import VirtualTag
from devices.esl.bumble.train import TrainParams
from devices.esl.codec import BasicStateFlag, DisplayState, EslAddress, LedState
from devices.esl.errors import LabelUnreachable
from devices.esl.fridge import Fridge
from devices.esl.info import DisplayType
from devices.esl.led import LedColor, LedParams
from devices.esl.radio import KeyMaterial, Label, LabelConfig
from devices.esl.tag_core import EslState
from tests.devices.esl.bumble.test_central import price_image

pytestmark = [pytest.mark.looptime, pytest.mark.timeout(120)]

# Silicon Labs' layout, shortened to 8 groups: a 300 ms interval keeps the tests' virtual time short.
PARAMS = TrainParams(interval=240, num_subevents=8, subevent_interval=30, response_slot_delay=10,
                     response_slot_spacing=20, num_response_slots=8)
GREEN = LedColor(0, 3, 0)


def specs(count: int, groups: int = 4, **extra: object) -> list[TagSpec]:
    """`count` labels spread over `groups` groups."""
    return [TagSpec(f"C4:00:00:00:01:{n + 1:02X}", EslAddress(n % groups, n // groups), **extra)  # type: ignore[arg-type]
            for n in range(count)]


@asynccontextmanager
async def store(tags: list[TagSpec]) -> AsyncIterator[VirtualStore]:
    """A virtual store with one AP; closed afterwards; a virtual hour at most."""
    async with asyncio.timeout(3600):
        built = await open_virtual_store(tags, params=PARAMS, timeout=10.0)
        try:
            yield built
        finally:
            await built.close()


def label(spec: TagSpec) -> Label:
    """The AP's handle on a label."""
    return Label(spec.address, spec.esl)


def lit(tag: VirtualTag) -> bool:
    """Whether LED 0 runs a pattern now."""
    return tag.core.led(0) is not None


async def test_an_led_command_lights_a_synchronized_label_within_one_interval_without_a_connection() -> None:
    tags = specs(12)
    async with store(tags) as s:
        ap, target = s.aps[0], tags[5]
        assert all(t.core.state is EslState.SYNCHRONIZED and not t.advertising for t in s.tags.values())
        loop = asyncio.get_running_loop()
        started = loop.time()
        assert await ap.flash_led(label(target), 0, LedParams.flash(GREEN, seconds=60)) == LedState(0)
        took = loop.time() - started
        assert lit(s.tag(target.address)) and not any(lit(t) for a, t in s.tags.items() if a != target.address)
        assert took <= 1.5 * PARAMS.interval_s, took
        assert not s.tag(target.address).device.connections  # through the train, not a connection


async def test_twelve_labels_in_four_groups_light_in_one_interval() -> None:
    tags = specs(12)  # three per group: one packet of three LED Controls per subevent
    async with store(tags) as s:
        ap = s.aps[0]
        loop = asyncio.get_running_loop()
        started = loop.time()
        answers = await asyncio.gather(*(ap.flash_led(label(t), 0, LedParams.flash(GREEN, seconds=60)) for t in tags))
        assert answers == [LedState(0)] * 12
        assert all(lit(t) for t in s.tags.values())
        assert loop.time() - started <= 1.5 * PARAMS.interval_s
        assert ap.scheduler is not None and ap.scheduler.figures().retries == 0


async def test_a_fridge_temperature_and_a_ping_come_back_from_response_slots() -> None:
    fridge = Fridge(set_point_c=4.0, seed=3)
    tags = [*specs(3), TagSpec("C4:00:00:00:02:01", EslAddress(2, 9), model="2.13-bwr", fridge=fridge)]
    async with store(tags) as s:
        ap, tag = s.aps[0], s.tag("C4:00:00:00:02:01")
        reading = await ap.read_sensor(label(tags[-1]), 0)
        assert reading.value is not None and abs(reading.value - fridge.measured(tag.core.now())) <= 0.5
        flags = await ap.ping(label(tags[0]))
        assert isinstance(flags, BasicStateFlag) and BasicStateFlag.SYNCHRONIZED in flags


async def test_an_image_goes_over_a_connection_through_the_train_and_the_label_is_synchronized_again() -> None:
    tags = specs(4)
    async with store(tags) as s:
        ap, target = s.aps[0], tags[1]
        tag = s.tag(target.address)
        image = price_image(296, 128)
        data = framebuffer.pack(image, DisplayType.RED_BLACK_WHITE)
        assert await ap.push_image(label(target), 0, data, image_index=1) == DisplayState(0, 1)
        assert tag.core.displayed_bytes(0) == data
        await asyncio.sleep(2 * PARAMS.interval_s)
        assert tag.core.state is EslState.SYNCHRONIZED and not tag.device.connections and not tag.advertising
        assert await ap.flash_led(label(target), 0, LedParams.flash(GREEN, seconds=5)) == LedState(0)  # still on the train


async def test_a_new_label_is_onboarded_handed_the_train_and_then_served_through_it() -> None:
    async with store(specs(2)) as s:
        ap = s.aps[0]
        new = VirtualTag.create(s.link, "C4:00:00:00:03:01", radio=s.tag(specs(1)[0].address).controller.radio.__class__())
        await new.start()
        s.tags[new.core.address] = new
        assert new.advertising and new.core.state is EslState.UNASSOCIATED
        assert new.core.address in await ap.discover(2.0)
        target = Label(new.core.address, EslAddress(3, 7))
        await ap.configure(target, LabelConfig(KeyMaterial.generate(), KeyMaterial.generate(), 1_000))
        await new.following()
        await asyncio.sleep(1.0)
        assert new.core.state is EslState.SYNCHRONIZED and not new.advertising
        assert await ap.flash_led(target, 0, LedParams.flash(GREEN, seconds=5)) == LedState(0)
        assert not new.device.connections


@pytest.mark.parametrize("away_s", [0.0, 40.0])
async def test_a_silent_label_is_given_up_after_three_packets_and_brought_back(away_s: float) -> None:
    """Briefly away, it still follows the train: reached through its subevent; away past its sync timeout, it
    advertises and is handed the train again (PAST)."""
    tags = specs(4)
    async with store(tags) as s:
        ap, target = s.aps[0], tags[2]
        tag = s.tag(target.address)
        tag.set_in_range(False)
        with pytest.raises(LabelUnreachable):
            await ap.flash_led(label(target), 0, LedParams.flash(GREEN, seconds=5))
        assert not ap.synchronized(label(target))
        assert await ap.flash_led(label(tags[0]), 0, LedParams.flash(GREEN, seconds=5)) == LedState(0)  # others unharmed
        await asyncio.sleep(away_s)
        assert tag.core.state is (EslState.UNSYNCHRONIZED if away_s else EslState.SYNCHRONIZED)
        tag.set_in_range(True)
        await asyncio.sleep(60)
        assert ap.synchronized(label(target)) and tag.core.state is EslState.SYNCHRONIZED
        assert await ap.flash_led(label(target), 0, LedParams.flash(GREEN, seconds=5)) == LedState(0)


async def test_two_access_points_each_serve_their_own_labels_on_their_own_trains() -> None:
    tags = [TagSpec(t.address, t.esl, ap=n % 2) for n, t in enumerate(specs(8))]
    async with asyncio.timeout(3600):
        s = await open_virtual_store(tags, aps=2, params=PARAMS, timeout=10.0)
        try:
            assert s.aps[0].ap_sync_key != s.aps[1].ap_sync_key and [ap.label_count for ap in s.aps] == [4, 4]
            loop = asyncio.get_running_loop()
            started = loop.time()
            answers = await asyncio.gather(*(s.radio.flash_led(label(t), 0, LedParams.flash(GREEN, seconds=60)) for t in tags))
            assert answers == [LedState(0)] * 8 and all(lit(t) for t in s.tags.values())
            assert loop.time() - started <= 1.5 * PARAMS.interval_s
            for ap in s.aps:  # each train knows only its own labels, and all of them answered
                figures = ap.scheduler.figures() if ap.scheduler else None
                assert figures is not None and figures.registered == 4 and figures.unanswered == 0
        finally:
            await s.close()


async def test_pick_lights_go_before_an_image_connection_in_the_same_group() -> None:
    """A connect request takes its subevent's packet: an LED command queued for the group goes before the next connection.

    One connection is already on its way when the command is queued, so it costs at most one more
    interval (2.5 in all); without the rule each of the three connections pushed it back (3.8).
    """
    tags = specs(8, groups=2)
    async with store(tags) as s:
        ap = s.aps[0]
        image = framebuffer.pack(price_image(296, 128), DisplayType.RED_BLACK_WHITE)
        group0 = [t for t in tags if t.esl.group_id == 0]
        loop = asyncio.get_running_loop()
        pushes = [asyncio.create_task(ap.push_image(label(t), 0, image)) for t in group0[:3]]
        await asyncio.sleep(0)
        started = loop.time()
        assert await ap.flash_led(label(group0[3]), 0, LedParams.flash(GREEN, seconds=30)) == LedState(0)
        assert loop.time() - started <= 2.5 * PARAMS.interval_s
        assert [await p for p in pushes] == [DisplayState(0, 0)] * 3


async def test_an_image_for_a_label_that_lost_the_train_goes_over_a_scanned_connection_and_hands_it_the_train() -> None:
    """Out of range past its sync timeout with nothing sent to it, the label advertises while the AP still counts it
    synchronized: the connect in its subevent fails, so the AP scans for it, pushes, and gives it the train again."""
    tags = specs(4)
    async with store(tags) as s:
        ap, target = s.aps[0], tags[2]
        tag = s.tag(target.address)
        tag.set_in_range(False)
        await asyncio.sleep(40.0)
        tag.set_in_range(True)
        await asyncio.sleep(2.0)
        assert tag.core.state is EslState.UNSYNCHRONIZED and tag.advertising and ap.synchronized(label(target))
        data = framebuffer.pack(price_image(296, 128), DisplayType.RED_BLACK_WHITE)
        assert await ap.push_image(label(target), 0, data) == DisplayState(0, 0)
        assert tag.core.displayed_bytes(0) == data
        await asyncio.sleep(2 * PARAMS.interval_s)
        assert tag.core.state is EslState.SYNCHRONIZED and not tag.advertising
        assert await ap.flash_led(label(target), 0, LedParams.flash(GREEN, seconds=5)) == LedState(0)


async def test_a_refresh_asked_in_random_order_connects_in_air_order() -> None:
    """48 images asked for at once in shuffled order: the pacer connects one label per subevent, so the refresh takes
    about 48 subevent intervals (1.8 s), not the half interval per connect of random order (about 7 s)."""
    tags = specs(48, groups=8)
    async with store(tags) as s:
        ap = s.aps[0]
        data = framebuffer.pack(price_image(296, 128), DisplayType.RED_BLACK_WHITE)
        shuffled = tags[:]
        random.Random(7).shuffle(shuffled)
        loop = asyncio.get_running_loop()
        started = loop.time()
        answers = await asyncio.gather(*(ap.push_image(label(t), 0, data) for t in shuffled))
        took = loop.time() - started
        assert answers == [DisplayState(0, 0)] * 48
        assert all(s.tag(t.address).core.displayed_bytes(0) == data for t in tags)
        assert took <= 48 * PARAMS.subevent_interval_s + 2 * PARAMS.interval_s, took
