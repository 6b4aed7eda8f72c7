"""The AP's connected-mode client over Bumble, end to end against virtual tags on a virtual link (looptime's clock).

Scanning, onboarding with LE Secure Connections, control-point commands, image upload through OTS
and its L2CAP channel, and what a flaky, silent or absent label does to it: typed errors, never a hang.
"""

from __future__ import annotations

import asyncio
import time
from contextlib import AbstractAsyncContextManager

import numpy as np
import pytest
from bumble.device import Device
from bumble.hci import Address
from bumble.controller import Controller
from bumble.host import Host
from bumble.transport.common import AsyncPipeSink
from PIL import Image

from devices.esl import framebuffer, uuids
from devices.esl.bumble.central import EslCentral
from devices.esl.bumble.link import IndexedLink
from devices.esl.bumble.tag import VirtualTag, start_tags
from devices.esl.codec import (
    BasicState, BasicStateFlag, DisplayImage, DisplayState, EslAddress, LedControl, LedState, Ping, ReadSensorData,
    SensorValue, Unassociate,
)
from devices.esl.errors import EslProtocolError, LabelRejected, LabelTimeout, LabelUnreachable, ObjectTransferError
from devices.esl.fridge import Fridge
from devices.esl.info import DisplayType
from devices.esl.led import GREEN, LedParams
from devices.esl.radio import KeyMaterial, Label, LabelConfig
from devices.esl.sensors import decode_temperature8, encode_temperature8
from devices.esl.tag_core import MODELS, EslState
from tests.devices.esl.bumble.helpers import tag_and_central

pytestmark = [pytest.mark.looptime, pytest.mark.timeout(120)]
TAG = "C4:00:00:00:00:01"
LABEL = Label(TAG, EslAddress(1, 5))
TIMEOUT = 2.0


def config(time_ms: int = 1_000) -> LabelConfig:
    """Fresh keys and the AP's time."""
    return LabelConfig(KeyMaterial.generate(), KeyMaterial.generate(), time_ms)


def store(**tag_options: object) -> AbstractAsyncContextManager[tuple[VirtualTag, EslCentral]]:
    """One virtual tag and one AP on an indexed virtual link; a virtual hour at most."""
    return tag_and_central(TAG, timeout=TIMEOUT, **tag_options)


def price_image(width: int, height: int) -> Image.Image:
    """A label-like picture in three colours (so the framebuffer is not one run of bytes)."""
    pixels = np.zeros((height, width), dtype=np.uint8)
    pixels[5:height // 3, 5:width - 5] = 1
    pixels[height // 2:, width // 2:] = 2
    pixels[::7, ::3] = 1
    image = Image.fromarray(pixels, mode="P")
    image.putpalette(framebuffer.palette_for(DisplayType.RED_BLACK_WHITE))
    return image


async def test_discover_finds_the_esl_advertisers_only() -> None:
    """Extended scanning hears the tag's ESL adverts and not a device advertising something else."""
    async with store() as (tag, ap):
        other = Controller("other", link=tag.link)
        device = Device(address=Address("C5:00:00:00:00:01"), host=Host(other, AsyncPipeSink(other)))
        await device.power_on()
        await device.create_advertising_set(advertising_data=bytes.fromhex("020106 03030F18"))  # Battery Service
        assert await ap.discover(2.0) == [TAG]


async def test_onboarding_end_to_end() -> None:
    """Address, keys and time written, the four information values read, Update Complete; a bond both sides."""
    async with store(fridge=Fridge(seed=4)) as (tag, ap):
        cfg = config(123_456)
        info = await ap.configure(LABEL, cfg)
        model = MODELS["2.9-bwr"]
        assert info.displays == model.displays and info.max_image_index == model.max_image_index
        assert info.leds == model.leds and info.sensors == tag.core.sensors and len(info.sensors) == 2
        assert tag.core.esl_address == LABEL.esl
        assert tag.core.ap_sync_key == cfg.ap_sync_key.encode() and tag.core.response_key == cfg.response_key.encode()
        assert tag.core.absolute_time_ms() == 123_456 + round((tag.core.now() - tag.core._time_base[1]) * 1000)
        await tag.settled()
        assert tag.core.state is EslState.UNSYNCHRONIZED  # waiting for PAST
        assert [name for name, _ in await ap.device.keystore.get_all()] == [TAG]
        assert [name for name, _ in await tag.device.keystore.get_all()] == [str(ap.device.random_address)]


async def test_a_bond_is_reused_and_a_forgotten_one_paired_again() -> None:
    """The second connection encrypts with the stored LTK; after Unassociate (the tag drops its bond) the AP pairs anew."""
    async with store() as (tag, ap):
        pairings: list[str] = []
        tag.device.on("connection", lambda c: c.on("pairing", lambda _keys: pairings.append("paired")))
        await ap.configure(LABEL, config())
        async with ap.session(LABEL) as s:
            assert s.connection.encryption
            assert isinstance(await s.command(Unassociate(5)), BasicState)
        assert pairings == ["paired"]
        await tag.settled()
        assert tag.core.state is EslState.UNASSOCIATED and await tag.device.keystore.get_all() == []
        info = await ap.configure(LABEL, config())
        assert info.max_image_index == 3 and pairings == ["paired", "paired"]


async def test_a_link_made_elsewhere_is_secured_and_served() -> None:
    """`attach` takes a connection the AP made by other means (as through its PAwR train): pairs, discovers, serves."""
    async with store() as (tag, ap):
        connection = await ap.device.connect(Address(TAG), timeout=TIMEOUT)
        assert not connection.encryption
        session = await ap.attach(connection, LABEL)
        try:
            assert connection.encryption and tag.core.state is EslState.CONFIGURING
            assert (await session.onboard(config())).max_image_index == 3
        finally:
            await session.close()
        await tag.settled()
        assert tag.core.esl_address == LABEL.esl and tag.core.state is EslState.UNSYNCHRONIZED


async def test_image_upload_over_the_coc_lands_in_the_framebuffer() -> None:
    """A 9.5 kB framebuffer crosses the L2CAP channel in SDUs; the slot holds the bytes, the display shows them."""
    async with store() as (tag, ap):
        await ap.configure(LABEL, config())
        image = price_image(296, 128)
        data = framebuffer.pack(image, DisplayType.RED_BLACK_WHITE, compress=False)
        assert len(data) > 30 * 256
        async with ap.session(LABEL) as s:
            await s.upload_image(2, data)
            assert tag.core.slots[2] == data
            assert await s.command(DisplayImage(5, 0, 2)) == DisplayState(0, 2)
            await s.update_complete()
        assert tag.core.displayed_bytes(0) == data
        shown = tag.core.displayed_image(0)
        assert shown is not None and shown.tobytes() == image.tobytes()


async def test_upload_refusals() -> None:
    """An object larger than the slot is refused before sending; bytes damaged on the way fail the CRC-32."""
    async with store() as (tag, ap):
        await ap.configure(LABEL, config())
        async with ap.session(LABEL) as s:
            with pytest.raises(ObjectTransferError, match="exceeds"):
                await s.upload_image(0, bytes(tag.core.model.slot_size + 1))
            tag.core.corrupt_transfers = True
            with pytest.raises(ObjectTransferError, match="checksum"):
                await s.upload_image(0, bytes(range(256)) * 4)
            with pytest.raises(ObjectTransferError) as no_slot:
                await s.upload_image(9, b"\x01")
            assert no_slot.value.result_code == 0x08  # OLCP Object ID Not Found


async def test_led_sensor_and_display_commands_over_the_control_point() -> None:
    """LED Control lights the LED, Read Sensor Data returns the fridge's temperature, errors come back typed."""
    fridge = Fridge(set_point_c=4.0, seed=9)
    async with store(fridge=fridge) as (tag, ap):
        await ap.configure(LABEL, config())
        async with ap.session(LABEL) as s:
            assert await s.command(LedControl(5, 0, LedParams.flash(GREEN, seconds=30))) == LedState(0)
            run = tag.core.led(0)
            assert run is not None and run.color == GREEN and run.until == pytest.approx(tag.core.now() + 30)
            value = await s.command(ReadSensorData(5, 0))
            assert isinstance(value, SensorValue)
            assert value.data == encode_temperature8(fridge.measured(tag.core.now()))
            assert abs(decode_temperature8(value.data) - fridge.measured(tag.core.now())) <= 0.25
            ping = await s.command(Ping(5))
            assert isinstance(ping, BasicState) and BasicStateFlag.ACTIVE_LED in ping.flags
            with pytest.raises(LabelRejected) as empty:
                await s.command(DisplayImage(5, 0, 1))
            assert empty.value.error_code == 0x05
        await asyncio.sleep(31)
        assert tag.core.led(0) is None


async def test_flaky_links_raise_unreachable_quickly() -> None:
    """A link that drops at every request, and connections that fail at once, end in LabelUnreachable, not a hang."""
    async with store(link_drop_rate=1.0) as (tag, ap):
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(LabelUnreachable, match="dropped|down"):
            await ap.configure(LABEL, config())
        assert loop.time() - started < 3 * (TIMEOUT + 2)  # three attempts, none waits for a timeout
        tag.link_drop_rate = 0.0
        tag.core.connect_failure_rate = 1.0
        with pytest.raises(LabelUnreachable, match="after 3 attempts"):
            await ap.configure(LABEL, config())
        tag.core.connect_failure_rate = 0.0
        assert (await ap.configure(LABEL, config())).max_image_index == 3


async def test_seeded_flakiness_is_repeatable() -> None:
    """The same seed gives the same pattern of failed and successful onboardings; some of each."""
    async def outcomes(seed: int) -> list[bool]:
        async with store(link_drop_rate=0.05, seed=seed) as (_tag, ap):
            results = []
            for _ in range(8):
                try:
                    await ap.configure(LABEL, config())
                    results.append(True)
                except LabelUnreachable:
                    results.append(False)
            return results

    first = await outcomes(1)
    assert first == await outcomes(1) and True in first and False in first


async def test_out_of_range_silent_and_garbled_labels() -> None:
    """Out of range: Unreachable, at once mid-session too; mute: Timeout; a truncated notification: a protocol error."""
    async with store() as (tag, ap):
        await ap.configure(LABEL, config())
        tag.set_in_range(False)
        with pytest.raises(LabelUnreachable, match="no connection"):
            await ap.configure(LABEL, config())
        assert await ap.discover(1.0) == []
        tag.set_in_range(True)
        await tag.settled()
        async with ap.session(LABEL) as s:
            tag.set_in_range(False)
            with pytest.raises(LabelUnreachable, match="0x08"):
                await s.command(Ping(5))
        tag.set_in_range(True)
        await tag.settled()
        tag.core.mute = True
        async with ap.session(LABEL) as s:
            with pytest.raises(LabelTimeout):
                await s.command(Ping(5))
            await s.read_char(uuids.IMAGE_INFORMATION)  # the link itself is fine
            tag.core.mute, tag.core.corrupt_responses = False, True
            with pytest.raises(EslProtocolError):
                await s.command(Ping(5))


@pytest.mark.slow
async def test_hundred_tags_onboarded_sequentially() -> None:
    """100 virtual tags on one link, onboarded one after the other over real encodings, each then handed the train."""
    link = IndexedLink()
    tags = await start_tags(link, 100)
    ap = await EslCentral.create(link, timeout=TIMEOUT, connect_timeout=TIMEOUT)
    loop = asyncio.get_running_loop()
    virtual0, wall0 = loop.time(), time.perf_counter()
    async with asyncio.timeout(600):
        for n, tag in enumerate(tags):
            await ap.configure(Label(str(tag.address), EslAddress(n // 50, n % 50)), config())
            tag.on_synchronized()
    wall, virtual = time.perf_counter() - wall0, loop.time() - virtual0
    print(f"100 tags onboarded: {wall:.2f} s wall, {virtual:.1f} s virtual radio time")
    for tag in tags:
        await tag.settled()
    assert all(t.core.state is EslState.SYNCHRONIZED and not t.advertising for t in tags)
    assert len({t.core.esl_address for t in tags}) == 100
    assert wall < 60
    for tag in tags:
        await tag.close()


async def test_two_labels_open_their_object_channels_at_once_on_one_central() -> None:
    """Bumble keys pending channel requests by signalling identifier alone and counts identifiers per link: two
    links' first requests both carry identifier 1. Uploads to two labels at once both land (one failed before with
    "too many concurrent connection requests")."""
    async with asyncio.timeout(3600):
        link = IndexedLink()
        tags = [VirtualTag.create(link, f"C4:00:00:00:00:{n:02X}") for n in (1, 2)]
        for tag in tags:
            await tag.start()
        ap = await EslCentral.create(link, timeout=TIMEOUT, connect_timeout=TIMEOUT)
        labels = [Label(tag.core.address, EslAddress(0, n)) for n, tag in enumerate(tags)]
        try:
            for label in labels:
                await ap.configure(label, config())
            data = [framebuffer.pack(price_image(296, 128), DisplayType.RED_BLACK_WHITE, compress=False),
                    bytes(range(256)) * 8]
            sessions = [await ap.connect(label) for label in labels]
            try:
                await asyncio.gather(*(s.upload_image(1, d) for s, d in zip(sessions, data)))
            finally:
                for s in sessions:
                    await s.close()
        finally:
            for tag in tags:
                await tag.close()
