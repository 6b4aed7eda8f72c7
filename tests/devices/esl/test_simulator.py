"""Simulated label invariants (esl.md "Simulator invariants"), exercised with raw control-point bytes."""

from __future__ import annotations

import asyncio

import pytest
from bleak.exc import BleakError
from PIL import Image

from devices.esl import framebuffer, ots, uuids
from devices.esl.codec import (
    BasicStateFlag, DisplayImage, DisplayTimedImage, EslAddress, ErrorCode, LedControl, LedTimedControl,
    ReadSensorData, encode_command,
)
from devices.esl.fridge import Fridge
from devices.esl.led import GREEN, LedColor, LedParams
from devices.esl.simulator import EslState, SimulatedFleet, SimulatedLabel


def err(code: int) -> bytes:
    """Encoded Error response."""
    return bytes((0x00, code))


@pytest.fixture
def tag(fleet: SimulatedFleet) -> SimulatedLabel:
    """A configured, connected 2.9" red label with ESL_ID 5 and one image in slot 0."""
    sim = fleet.add_label("2.9-bwr", fridge=Fridge(seed=1), configured_as=EslAddress(0, 5))
    sim.on_connect()
    sim.slots[0] = framebuffer.pack(Image.new("P", (296, 128), 1), 6)
    return sim


def test_length_mismatch_and_unknown_opcode(tag: SimulatedLabel) -> None:
    """A write whose length disagrees with the opcode is 0x06; an RFU opcode is 0x02."""
    assert tag.control_point(bytes.fromhex("20 05 00")) == err(ErrorCode.INVALID_PARAMETERS)
    assert tag.control_point(bytes.fromhex("00 05 00")) == err(ErrorCode.INVALID_PARAMETERS)
    assert tag.control_point(b"") == err(ErrorCode.INVALID_PARAMETERS)
    assert tag.control_point(bytes.fromhex("12 05 00")) == err(ErrorCode.INVALID_OPCODE)
    assert tag.control_point(bytes.fromhex("1F 05 00")) == err(ErrorCode.INVALID_OPCODE)


def test_image_index_rules(tag: SimulatedLabel) -> None:
    """Beyond Max_Image_Index: 0x06 like NCS (0x04 when set to the spec's intent); empty slot: 0x05."""
    assert tag.control_point(encode_command(DisplayImage(5, 0, 4))) == err(ErrorCode.INVALID_PARAMETERS)
    tag.image_index_error = ErrorCode.INVALID_IMAGE_INDEX
    assert tag.control_point(encode_command(DisplayImage(5, 0, 4))) == err(ErrorCode.INVALID_IMAGE_INDEX)
    assert tag.control_point(encode_command(DisplayImage(5, 0, 1))) == err(ErrorCode.IMAGE_NOT_AVAILABLE)
    assert tag.control_point(encode_command(DisplayImage(5, 0, 0))) == bytes.fromhex("11 00 00")
    assert tag.control_point(encode_command(DisplayImage(0xFF, 0, 0))) == bytes.fromhex("11 00 00")


def test_low_battery(fleet: SimulatedFleet, tag: SimulatedLabel) -> None:
    """Below the low threshold Service Needed is set; below critical, display updates are refused."""
    tag.battery_v = 2.0
    assert BasicStateFlag.SERVICE_NEEDED in tag.basic_state()
    assert tag.control_point(encode_command(DisplayImage(5, 0, 0))) == err(ErrorCode.INSUFFICIENT_BATTERY)


def test_timed_commands_cancel_and_conflict(tag: SimulatedLabel, clock) -> None:
    """One pending per display/LED: same time replaces, other time is Queue Full, t=0 cancels."""
    t = tag.absolute_time_ms() + 1000
    assert tag.control_point(encode_command(DisplayTimedImage(5, 0, 0, t))) == bytes.fromhex("11 00 00")
    assert BasicStateFlag.PENDING_DISPLAY_UPDATE in tag.basic_state()
    assert tag.control_point(encode_command(DisplayTimedImage(5, 0, 0, t + 1))) == err(ErrorCode.QUEUE_FULL)
    assert tag.control_point(encode_command(DisplayTimedImage(5, 0, 0, 0))) == bytes.fromhex("11 00 00")
    assert not tag.pending_display
    led = LedParams.flash(GREEN, count=2)
    assert tag.control_point(encode_command(LedTimedControl(5, 0, led, t))) == bytes.fromhex("01 00")
    assert tag.control_point(encode_command(LedTimedControl(5, 0, led, t))) == bytes.fromhex("01 00")
    assert tag.control_point(encode_command(LedTimedControl(5, 0, led, t + 5))) == err(ErrorCode.QUEUE_FULL)
    assert BasicStateFlag.PENDING_LED_UPDATE in tag.basic_state()
    clock.advance(1.1)
    assert tag.led(0) is not None and not tag.pending_led


def test_timed_command_across_clock_wrap(tag: SimulatedLabel, clock) -> None:
    """The label's ms counter wraps at 2^32; a target just after the wrap still runs on time."""
    tag.write(uuids.ESL_CURRENT_ABSOLUTE_TIME, (2**32 - 500).to_bytes(4, "little"))
    assert tag.control_point(encode_command(DisplayTimedImage(5, 0, 0, 1500))) == bytes.fromhex("11 00 00")
    clock.advance(1.9)
    assert tag.displayed_image() is None
    clock.advance(0.2)
    assert tag.displayed_image() is not None


def test_led_steady_on_and_off(tag: SimulatedLabel, clock) -> None:
    """N = 0: steady on lasts until the next command; steady off stops a pattern."""
    tag.control_point(encode_command(LedControl(5, 0, LedParams.steady_on(GREEN))))
    clock.advance(10_000)
    assert tag.led(0) is not None and BasicStateFlag.ACTIVE_LED in tag.basic_state()
    tag.control_point(encode_command(LedControl(5, 0, LedParams.off())))
    assert tag.led(0) is None
    assert tag.control_point(encode_command(LedControl(5, 1, LedParams.off()))) == err(ErrorCode.INVALID_PARAMETERS)


def test_led_count_duration_follows_pattern(tag: SimulatedLabel, clock) -> None:
    """Pattern 0b1010 at 100 ms on / 50 ms off, 4 times, lasts 4 x 300 ms."""
    tag.control_point(encode_command(LedControl(5, 0, LedParams.flash(
        GREEN, pattern=0b1010, on_ms=100, off_ms=50, count=4))))
    clock.advance(1.19)
    assert tag.led(0) is not None
    clock.advance(0.02)
    assert tag.led(0) is None


def test_sensor_retry_and_values_are_seeded(clock) -> None:
    """Same seed, same Retry/Value sequence; another seed differs."""
    def run(seed: int) -> list[bytes]:
        fleet = SimulatedFleet(seed=seed, clock=clock)
        sim = fleet.add_label("2.9-bwr", fridge=Fridge(), configured_as=EslAddress(0, 1))
        sim.sensor_retry_rate = 0.5
        return [sim.control_point(encode_command(ReadSensorData(1, 0))) for _ in range(40)]

    first = run(3)
    assert first == run(3) and first != run(4)
    assert err(ErrorCode.RETRY) in first and any(r[0] == 0x1E for r in first)


def test_factory_reset_has_no_response_and_wipes_on_disconnect(tag: SimulatedLabel) -> None:
    """Factory Reset is silent; when the link drops, images, keys and address are gone."""
    assert tag.control_point(bytes.fromhex("03 05")) is None
    tag.on_disconnect()
    assert tag.state is EslState.UNASSOCIATED and tag.esl_address is None and tag.slots[0] is None


def test_unassociate_refuses_broadcast(tag: SimulatedLabel) -> None:
    """Unassociate must be addressed to the label itself."""
    assert tag.control_point(bytes.fromhex("01 FF")) == err(ErrorCode.INVALID_PARAMETERS)
    assert tag.control_point(bytes.fromhex("01 05"))[0] == 0x10
    tag.on_disconnect()
    assert tag.state is EslState.UNASSOCIATED


def test_update_complete_needs_full_configuration(fleet: SimulatedFleet) -> None:
    """In Configuring, Update Complete before address/keys/time are written is Invalid State."""
    sim = fleet.add_label("4.2-bw")
    sim.on_connect()
    sim.write(uuids.ESL_ADDRESS, EslAddress(0, 4).encode())
    assert sim.control_point(bytes.fromhex("04 04")) == err(ErrorCode.INVALID_STATE)
    with pytest.raises(BleakError):
        sim.write(uuids.ESL_ADDRESS, b"\xff\x00")
    with pytest.raises(BleakError):
        sim.write(uuids.AP_SYNC_KEY_MATERIAL, b"\x00" * 23)


async def test_ots_server_rules(fleet: SimulatedFleet) -> None:
    """Indications need a subscription; Object Size needs a current object; unknown IDs are refused."""
    sim = fleet.add_label("2.9-bwr", configured_as=EslAddress(0, 1))
    client = fleet.client_class(sim.address)
    await client.connect()
    with pytest.raises(BleakError):
        await client.read_gatt_char(uuids.OTS_OBJECT_SIZE)
    with pytest.raises(BleakError):
        await client.write_gatt_char(uuids.OTS_OLCP, ots.encode_olcp(ots.OlcpGoTo(0x101)), response=True)
    got: list[bytes] = []
    await client.start_notify(uuids.OTS_OLCP, lambda _c, data: got.append(bytes(data)))
    await client.write_gatt_char(uuids.OTS_OLCP, ots.encode_olcp(ots.OlcpGoTo(0x999)), response=True)
    await client.write_gatt_char(uuids.OTS_OLCP, ots.encode_olcp(ots.OlcpGoTo(0x103)), response=True)
    await asyncio.sleep(0)
    await client.disconnect()
    assert [ots.decode_olcp_response(g).result for g in got] == [ots.OlcpResult.OBJECT_ID_NOT_FOUND,
                                                                 ots.OlcpResult.SUCCESS]


def test_fridge_is_deterministic_and_doors_spike() -> None:
    """A pure function of time and seed; door openings show as warm spikes above the cycle."""
    fridge = Fridge(set_point_c=4.0, door_opens_per_h=6, seed=11)
    samples = [fridge.temperature(t) for t in range(0, 24 * 3600, 60)]
    assert samples == [Fridge(set_point_c=4.0, door_opens_per_h=6, seed=11).temperature(t)
                       for t in range(0, 24 * 3600, 60)]
    assert max(samples) > 4.0 + fridge.cycle_amplitude_c + 1
    assert min(samples) >= 4.0 - fridge.cycle_amplitude_c - 1e-9


def test_thousands_of_labels(fleet: SimulatedFleet) -> None:
    """A store-sized fleet builds with unique ESL addresses and mixed models."""
    labels = fleet.populate(3000)
    assert len({s.esl_address for s in labels}) == 3000
    assert len({s.model.name for s in labels}) == 4
    assert any(s.fridge is not None for s in labels)


def test_monochrome_led_shows_its_own_colour(fleet: SimulatedFleet) -> None:
    """A red request on the green-only LED of the yellow model lights green, at the asked brightness."""
    sim = fleet.add_label("2.9-bwy", configured_as=EslAddress(0, 2))
    sim.control_point(encode_command(LedControl(2, 0, LedParams.steady_on(LedColor(red=3, brightness=1)))))
    run = sim.led(0)
    assert run is not None and run.color == LedColor(green=3, brightness=1)
