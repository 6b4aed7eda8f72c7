"""The virtual tag over Bumble: its GATT server and OTS, the reference tags' corner cases byte for byte, PAwR hooks.

The radio tests run on looptime's virtual clock (the tag advertises every 500 ms, its sync timers
run for hours) and reach the tag the way an AP does: over the virtual link's HCI, L2CAP, SMP and
ATT; the last one feeds the tag core arbitrary bytes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import random

import pytest
from bumble import core
from bumble.device import Peer
from bumble.gatt import Characteristic
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from devices.esl import framebuffer, ots, uuids
from devices.esl.bumble.central import EslCentral, EslClientSession
from devices.esl.bumble.tag import VirtualTag
from devices.esl.codec import (
    EslAddress, LedControl, Ping, ReadSensorData, UpdateComplete, encode_command, encode_commands,
)
from devices.esl.errors import EslProtocolError
from devices.esl.fridge import Fridge
from devices.esl.led import GREEN, RED, LedParams
from devices.esl.radio import KeyMaterial, Label, LabelConfig
from devices.esl.tag_core import (
    MODELS, OTS_FEATURE, OTS_OBJECT_NAME, OTS_OBJECT_PROPERTIES, OTS_OBJECT_TYPE, SYNC_PAYLOAD_MAX, EslState, TagCore,
    TagEnvironment,
)
from tests.devices.esl.bumble.helpers import tag_and_central

pytestmark = pytest.mark.timeout(60)
virtual_clock = pytest.mark.looptime
TAG = "C4:00:00:00:00:01"
LABEL = Label(TAG, EslAddress(1, 5))
HOUR = 3600.0


def config(time_ms: int = 0) -> LabelConfig:
    """Fresh keys and the tag's time."""
    return LabelConfig(KeyMaterial.generate(), KeyMaterial.generate(), time_ms)


def store(**tag_options: object) -> AbstractAsyncContextManager[tuple[VirtualTag, EslCentral]]:
    """One virtual tag and one AP on an indexed virtual link, shut down afterwards; a virtual day at most."""
    return tag_and_central(TAG, timeout=2.0, within_s=24 * HOUR, **tag_options)


@asynccontextmanager
async def configuring(ap: EslCentral, tag: VirtualTag) -> AsyncIterator[EslClientSession]:
    """A session in Configuring with address 1/5, keys and time 0 written (no Update Complete yet)."""
    async with ap.session(LABEL) as s:
        await s.write_address(LABEL.esl)
        await s.write_config(config(0))
        assert tag.core.state is EslState.CONFIGURING
        yield s


async def fill_slot(s: EslClientSession, tag: VirtualTag, index: int) -> bytes:
    """Upload a white picture into an image slot."""
    info = tag.core.model.displays[0]
    data = framebuffer.pack(Image.new("P", (info.width, info.height), 1), info.display_type)
    await s.upload_image(index, data)
    return data


@virtual_clock
async def test_gatt_server_has_the_esl_service_and_ots() -> None:
    """The characteristics with the properties NCS gives them; OTS metadata of the current object."""
    async with store() as (tag, ap), ap.session(LABEL) as s:
        peer = Peer(s.connection)
        await peer.discover_services()
        props = {}
        for service in peer.services:
            for char in await service.discover_characteristics():
                props[char.uuid] = char.properties
        p = Characteristic.Properties
        assert props[core.UUID(uuids.ESL_CONTROL_POINT)] == p.WRITE | p.WRITE_WITHOUT_RESPONSE | p.NOTIFY
        assert props[core.UUID(uuids.ESL_ADDRESS)] == p.WRITE
        assert props[core.UUID(uuids.DISPLAY_INFORMATION)] == p.READ
        assert props[core.UUID(uuids.OTS_OACP)] == props[core.UUID(uuids.OTS_OLCP)] == p.WRITE | p.INDICATE
        with pytest.raises(EslProtocolError, match="0x81"):  # OTS: no current object yet
            await s.read_char(uuids.OTS_OBJECT_SIZE)
        assert await s.read_char(OTS_FEATURE) == bytes.fromhex("a4010000 01000000")
        await s.upload_image(1, b"\x00" * 10)  # Go To 0x101 leaves slot 1 current
        assert await s.read_char(OTS_OBJECT_NAME) == b"esl_image_01"
        assert await s.read_char(OTS_OBJECT_TYPE) == bytes.fromhex("ca2a")
        assert await s.read_char(uuids.OTS_OBJECT_ID) == bytes.fromhex("010100000000")
        assert await s.read_char(OTS_OBJECT_PROPERTIES) == bytes.fromhex("4c000000")
        assert ots.decode_object_size(await s.read_char(uuids.OTS_OBJECT_SIZE)) == (10, tag.core.model.slot_size)


@virtual_clock
async def test_attributes_need_an_encrypted_link() -> None:
    """Without pairing every ESL attribute answers Insufficient Encryption; once paired they work."""
    async with store() as (tag, ap):
        plain = EslCentral(ap.device, timeout=2.0, encrypt=False)
        async with plain.session(LABEL) as s:
            with pytest.raises(EslProtocolError, match="0x0F|INSUFFICIENT_ENCRYPTION"):
                await s.read_char(uuids.DISPLAY_INFORMATION)
            with pytest.raises(EslProtocolError, match="0x0F|INSUFFICIENT_ENCRYPTION"):
                await s.write_address(LABEL.esl)
        assert tag.core.esl_address is None
        async with ap.session(LABEL) as s:
            assert s.connection.encryption
            await s.write_address(LABEL.esl)
        await tag.settled()
        assert tag.core.state is EslState.UNASSOCIATED  # Configuring left without Update Complete


@virtual_clock
async def test_broadcast_unassociate_and_factory_reset_answer_0a() -> None:
    """NCS: `01 FF` and `03 FF` answer `00 0A`, and the tag keeps its configuration."""
    async with store() as (tag, ap):
        async with configuring(ap, tag) as s:
            assert await s.raw_command(bytes.fromhex("01 FF")) == bytes.fromhex("00 0A")
            assert await s.raw_command(bytes.fromhex("03 FF")) == bytes.fromhex("00 0A")
            await s.update_complete()
        await tag.settled()
        assert tag.core.esl_address == LABEL.esl and tag.core.state is EslState.UNSYNCHRONIZED


@virtual_clock
async def test_refresh_display_with_nothing_shown_is_invalid_image_index() -> None:
    """NCS: `11 05 00` with a blank display answers `00 04`; once an image is shown, its Display State."""
    async with store() as (tag, ap), configuring(ap, tag) as s:
        assert await s.raw_command(bytes.fromhex("11 05 00")) == bytes.fromhex("00 04")
        await fill_slot(s, tag, 1)
        assert await s.raw_command(bytes.fromhex("20 05 00 01")) == bytes.fromhex("11 00 01")
        assert await s.raw_command(bytes.fromhex("11 05 00")) == bytes.fromhex("11 00 01")


@virtual_clock
async def test_timed_image_cancel_checks_the_slot_first() -> None:
    """NCS: cancelling (time 0) on an empty slot answers `00 05`; on a filled one, its Display State."""
    async with store() as (tag, ap), configuring(ap, tag) as s:
        assert await s.raw_command(bytes.fromhex("60 05 00 02 00000000")) == bytes.fromhex("00 05")
        await fill_slot(s, tag, 2)
        assert await s.raw_command(bytes.fromhex("60 05 00 02 00000000")) == bytes.fromhex("11 00 02")


@virtual_clock
async def test_48_days_ahead_is_implausible_and_one_ms_less_is_not() -> None:
    """NCS: exactly 4,147,200,000 ms ahead answers `00 0C`; 1 ms less is queued (the clock stands still here)."""
    async with store() as (tag, ap), configuring(ap, tag) as s:
        await fill_slot(s, tag, 0)
        await s.write_time(0)
        assert await s.raw_command(bytes.fromhex("60 05 00 00 00 40 31 F7")) == bytes.fromhex("00 0C")
        assert await s.raw_command(bytes.fromhex("F0 05 00 CC 02 00 00 00 00 64 64 0A 00 00 40 31 F7")) \
            == bytes.fromhex("00 0C")
        assert await s.raw_command(bytes.fromhex("60 05 00 00 FF 3F 31 F7")) == bytes.fromhex("11 00 00")
        assert tag.core.pending_display == {0: (4_147_199_999, 0)}


@virtual_clock
async def test_all_zero_led_pattern_is_refused_as_silicon_labs_does() -> None:
    """Silicon Labs: a pattern with no bit set and repeats > 0 answers `00 06` (NCS would accept it)."""
    async with store() as (tag, ap), configuring(ap, tag) as s:
        assert await s.raw_command(bytes.fromhex("B0 05 00 CC 0000000000 64 64 0A 00")) == bytes.fromhex("00 06")
        assert tag.core.led(0) is None
        assert await s.raw_command(bytes.fromhex("B0 05 00 CC 0000000000 00 00 01 00")) == bytes.fromhex("01 00")
        assert tag.core.led(0) is not None  # steady on: the pattern is ignored


@virtual_clock
async def test_update_complete_while_configuring_answers_basic_state() -> None:
    """NCS: Update Complete before the keys and time are written answers Basic State; the tag stays unassociated."""
    async with store() as (tag, ap):
        async with ap.session(LABEL) as s:
            await s.write_address(LABEL.esl)
            assert await s.raw_command(bytes.fromhex("04 05")) == bytes.fromhex("10 00 00")
        await tag.settled()
        assert tag.core.state is EslState.UNASSOCIATED and tag.core.esl_address is None and tag.advertising


@virtual_clock
async def test_reserved_address_bit_is_cleared() -> None:
    """NCS: an ESL Address written with bit 15 set is taken without it."""
    async with store() as (tag, ap), ap.session(LABEL) as s:
        await s.write(uuids.ESL_ADDRESS, bytes.fromhex("05 81"))
        assert tag.core.esl_address == EslAddress(1, 5)
        assert await s.raw_command(bytes.fromhex("00 05")) == bytes.fromhex("10 00 00")
        with pytest.raises(EslProtocolError, match="0x13|VALUE_NOT_ALLOWED"):  # the broadcast ID stays refused
            await s.write(uuids.ESL_ADDRESS, bytes.fromhex("FF 01"))


@virtual_clock
async def test_answers_both_references_share() -> None:
    """Length mismatch, RFU and vendor opcodes, other ESL IDs, bad indexes and LED periods (esl-radio.md §6)."""
    async with store() as (tag, ap), configuring(ap, tag) as s:
        await fill_slot(s, tag, 0)
        for command, answer in [
            ("20 05 00", "00 06"),  # length mismatch
            ("12 05 00", "00 02"),  # RFU opcode
            ("1F 05 00", "00 02"),  # vendor opcode, no vendor support
            ("00 06", "00 06"),  # another ESL ID
            ("20 05 00 09", "00 06"),  # beyond Max_Image_Index (NCS)
            ("20 05 00 01", "00 05"),  # empty slot
            ("20 05 01 00", "00 06"),  # no display 1
            ("B0 05 00 CC 02 00 00 00 00 00 64 0A 00", "00 06"),  # off period 0
            ("B0 05 01 CC 02 00 00 00 00 64 64 0A 00", "00 06"),  # no LED 1
            ("10 05 07", "00 06"),  # no sensor 7
            ("20 05 00 00", "11 00 00"),
        ]:
            assert await s.raw_command(bytes.fromhex(command)) == bytes.fromhex(answer), command


@virtual_clock
async def test_advertises_while_it_needs_an_ap() -> None:
    """Unassociated: advertising; onboarded without PAST: Unsynchronized, still advertising; with PAST: silent."""
    async with store() as (tag, ap):
        assert tag.advertising and await ap.discover(1.0) == [TAG]
        await ap.configure(LABEL, config())
        await tag.settled()
        assert tag.core.state is EslState.UNSYNCHRONIZED and tag.advertising
        async with ap.session(LABEL) as s:
            assert tag.core.state is EslState.UPDATING and not tag.advertising
            tag.on_synchronized()  # what PAST delivers while the AP is connected
            assert await s.update_complete() & 0b10  # Basic State: Synchronized
        await tag.settled()
        assert tag.core.state is EslState.SYNCHRONIZED and not tag.advertising
        assert await ap.discover(2.0) == []


@virtual_clock
async def test_sync_lost_after_an_hour_without_a_sync_packet_then_unassociated() -> None:
    """Keep-alives every 30 min hold the sync; 60 min of silence: Unsynchronized and advertising; 60 more: unassociated, unbonded."""
    async with store() as (tag, ap):
        await ap.configure(LABEL, config())
        tag.on_synchronized()
        await tag.settled()
        ping = bytes((LABEL.esl.group_id,)) + encode_command(Ping(5))
        for _ in range(4):
            await asyncio.sleep(HOUR / 2)
            assert tag.handle_sync_packet(ping) is not None
        assert tag.core.state is EslState.SYNCHRONIZED and not tag.advertising
        await asyncio.sleep(HOUR - 1)
        assert tag.core.state is EslState.SYNCHRONIZED
        await asyncio.sleep(2)
        await tag.settled()
        assert tag.core.state is EslState.UNSYNCHRONIZED and tag.advertising
        assert tag.handle_sync_packet(ping) is None  # no longer listening
        assert await tag.device.keystore.get_all()
        await asyncio.sleep(HOUR)
        await tag.settled()
        assert tag.core.state is EslState.UNASSOCIATED and tag.core.esl_address is None and tag.advertising
        assert await tag.device.keystore.get_all() == []


async def synchronized(tag: VirtualTag, ap: EslCentral, *, esl_id: int = 5) -> None:
    """Onboard the tag as group 1 and hand it the train."""
    await ap.configure(Label(TAG, EslAddress(1, esl_id)), config())
    tag.on_synchronized()
    await tag.settled()


@virtual_clock
async def test_sync_packet_runs_own_and_broadcast_commands_answers_only_unicast() -> None:
    """Commands for its ESL ID and 0xFF run in order; the response is the unicast answers, in the last one's slot."""
    async with store(fridge=Fridge(seed=2)) as (tag, ap):
        await synchronized(tag, ap)
        packet = bytes((1,)) + encode_commands([
            LedControl(5, 0, LedParams.flash(GREEN, count=3)),  # slot 0: ours
            LedControl(0xFF, 0, LedParams.steady_on(RED)),  # slot 1: broadcast, no answer
            Ping(6),  # slot 2: another tag
            ReadSensorData(5, 1),  # slot 3: ours, battery
        ])
        assert len(packet) <= 48
        response = tag.handle_sync_packet(packet)
        assert response is not None and response.slot == 3
        assert response.payload == bytes.fromhex("01 00") + bytes.fromhex("2E 01") + (3 * 64).to_bytes(2, "little")
        run = tag.core.led(0)
        assert run is not None and run.color == RED  # the broadcast came later and replaced the flash
        assert tag.handle_sync_packet(bytes((2,)) + encode_command(Ping(5))) is None  # another group
        assert tag.handle_sync_packet(bytes((1,)) + encode_command(Ping(0xFF))) is None  # broadcast only


@virtual_clock
async def test_sync_packet_responses_beyond_48_octets_end_in_capacity_limit() -> None:
    """15 Read Sensor (4-octet answers) in one packet: 11 answers, then Error 0x07, 46 octets, slot 14."""
    async with store() as (tag, ap):
        await synchronized(tag, ap)
        packet = bytes((1,)) + encode_commands([ReadSensorData(5, 0)] * 15)
        assert len(packet) == 46
        response = tag.handle_sync_packet(packet)
        assert response is not None and response.slot == 14
        value = bytes.fromhex("2E 00") + (3 * 64).to_bytes(2, "little")
        assert response.payload == value * 11 + bytes.fromhex("00 07")


@virtual_clock
async def test_sync_packet_refuses_connection_only_commands_and_unassociates() -> None:
    """Over PAwR Update Complete and Factory Reset are Invalid State; Unassociate answers, then the tag advertises."""
    async with store() as (tag, ap):
        await synchronized(tag, ap)
        packet = bytes((1,)) + encode_commands([UpdateComplete(5)]) + bytes.fromhex("03 05")
        response = tag.handle_sync_packet(packet)
        assert response is not None and response.payload == bytes.fromhex("00 03 00 03")
        assert tag.handle_sync_packet(bytes.fromhex("01 01 05")) is not None
        await tag.settled()
        assert tag.core.state is EslState.UNASSOCIATED and tag.advertising
        assert tag.handle_sync_packet(bytes.fromhex("01 00 05")) is None


@virtual_clock
async def test_sync_lost_from_the_controller_advertises_again() -> None:
    """The train gone (controller's sync lost): Unsynchronized at once; PAST again: Synchronized."""
    async with store() as (tag, ap):
        await synchronized(tag, ap)
        tag.on_sync_lost()
        await tag.settled()
        assert tag.core.state is EslState.UNSYNCHRONIZED and tag.advertising
        tag.on_synchronized()
        await tag.settled()
        assert tag.core.state is EslState.SYNCHRONIZED and not tag.advertising


def synchronized_core() -> TagCore:
    """A tag core configured as 1/5 and listening to its train (no radio: bytes in, bytes out)."""
    tag = TagCore(TagEnvironment(lambda: 0.0), TAG, MODELS["2.9-bwr"], rng=random.Random(1), past_required=True)
    tag.on_connect()
    for uuid, value in [(uuids.ESL_ADDRESS, LABEL.esl.encode()), (uuids.AP_SYNC_KEY_MATERIAL, bytes(24)),
                        (uuids.ESL_RESPONSE_KEY_MATERIAL, bytes(24)), (uuids.ESL_CURRENT_ABSOLUTE_TIME, bytes(4))]:
        tag.write(uuid, value)
    tag.on_synchronized()
    assert tag.control_point(bytes.fromhex("04 05")) == bytes.fromhex("10 02 00")
    tag.on_disconnect()
    assert tag.state is EslState.SYNCHRONIZED
    return tag


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=60), st.binary(max_size=20))
def test_any_sync_packet_or_control_point_write_is_answered_within_bounds(packet: bytes, write: bytes) -> None:
    """Whatever the bytes, the tag answers or ignores them without raising; a response never exceeds 48 octets."""
    tag = synchronized_core()
    response = tag.handle_sync_packet(b"\x01" + packet)
    if response is not None:
        assert 0 <= response.slot < SYNC_PAYLOAD_MAX and 2 <= len(response.payload) <= SYNC_PAYLOAD_MAX
    tag.on_connect()
    answer = tag.control_point(write)
    assert answer is None or 2 <= len(answer) <= 17
