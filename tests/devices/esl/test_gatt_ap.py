"""The production access point driven end to end against the simulated labels."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable
from typing import TypeVar

import numpy as np
import pytest
from PIL import Image

from devices.esl import framebuffer
from devices.esl.codec import BasicStateFlag, DisplayImage, EslAddress, ErrorCode, VendorCommand
from devices.esl.errors import (
    EslProtocolError, LabelBusy, LabelRejected, LabelTimeout, LabelUnreachable, ObjectTransferError,
    TransportUnavailable,
)
from devices.esl.fridge import Fridge
from devices.esl.gatt_ap import GattAccessPoint
from devices.esl.info import DisplayInfo, DisplayType
from devices.esl.led import GREEN, RED, LedParams
from devices.esl.radio import KeyMaterial, Label, LabelConfig
from devices.esl.simulator import MODELS, EslState, LabelModel, SimulatedFleet, SimulatedLabel

pytestmark = pytest.mark.timeout(30)
T = TypeVar("T")


async def bounded(awaitable: Awaitable[T], seconds: float = 5.0) -> T:
    """Every await in these tests has a deadline."""
    async with asyncio.timeout(seconds):
        return await awaitable


def price_image(width: int, height: int, accent: bool) -> Image.Image:
    """A label-like picture: a black bar and (if the display has one) an accent block."""
    pixels = np.zeros((height, width), dtype=np.uint8)
    pixels[5:height // 3, 5:width - 5] = 1
    if accent:
        pixels[height // 2:height - 5, width // 2:width - 5] = 2
    return Image.frombytes("P", (width, height), pixels.tobytes())


def config() -> LabelConfig:
    """Fresh keys, time 1 s."""
    return LabelConfig(KeyMaterial.generate(), KeyMaterial.generate(), 1000)


async def test_discover_and_configure(fleet: SimulatedFleet, ap: GattAccessPoint, synced: tuple) -> None:
    """Only unassociated labels advertise; configuring writes address, keys and time, then synchronizes."""
    new = fleet.add_label("2.13-bwr")
    assert await bounded(ap.discover(1)) == [new.address]
    cfg = config()
    info = await bounded(ap.configure(Label(new.address, EslAddress(2, 7)), cfg))
    assert info.displays == MODELS["2.13-bwr"].displays and info.max_image_index == 1
    assert new.state is EslState.SYNCHRONIZED and new.esl_address == EslAddress(2, 7)
    assert new.ap_sync_key == cfg.ap_sync_key.encode() and new.response_key == cfg.response_key.encode()
    assert new.absolute_time_ms() == 1000
    assert await bounded(ap.discover(1)) == []
    assert BasicStateFlag.SYNCHRONIZED in await bounded(ap.ping(Label(new.address, EslAddress(2, 7))))


async def test_link_lost_during_configuring_returns_to_unassociated(fleet: SimulatedFleet, ap: GattAccessPoint) -> None:
    """No Update Complete (here: the tag stops answering) means the configuration is dropped."""
    new = fleet.add_label("2.9-bwy")
    new.mute = True
    with pytest.raises(LabelTimeout):
        await bounded(ap.configure(Label(new.address, EslAddress(0, 1)), config()))
    assert new.state is EslState.UNASSOCIATED and new.esl_address is None and not new.connected


@pytest.mark.parametrize("model", sorted(MODELS))
async def test_push_image_and_read_it_back(fleet: SimulatedFleet, ap: GattAccessPoint, model: str) -> None:
    """Upload over OTS, display, and the simulated label shows exactly the rendered pixels."""
    display = MODELS[model].displays[0]
    sim = fleet.add_label(model, configured_as=EslAddress(0, 3))
    image = price_image(display.width, display.height, display.display_type != DisplayType.BLACK_WHITE)
    state = await bounded(ap.push_image(Label(sim.address, EslAddress(0, 3)), 0, framebuffer.pack(
        image, display.display_type), image_index=1))
    assert (state.display_index, state.image_index) == (0, 1)
    shown = sim.displayed_image(0)
    assert shown is not None and shown.tobytes() == image.tobytes()
    assert sim.state is EslState.SYNCHRONIZED


async def test_upload_without_show_then_display_and_refuse_empty_slots(
    ap: GattAccessPoint, synced: tuple[SimulatedLabel, Label],
) -> None:
    """show=False stores only; empty and out-of-range slots surface as typed rejections."""
    sim, label = synced
    data = framebuffer.pack(price_image(296, 128, True), DisplayType.RED_BLACK_WHITE)
    assert await bounded(ap.push_image(label, 0, data, image_index=2, show=False)) is None
    assert sim.displayed_image() is None and sim.slots[2] == data
    with pytest.raises(LabelRejected) as empty:
        await bounded(ap.display_image(label, 0, 1))
    assert empty.value.error_code == ErrorCode.IMAGE_NOT_AVAILABLE
    with pytest.raises(LabelRejected) as beyond:
        await bounded(ap.display_image(label, 0, 9))
    assert beyond.value.error_code == ErrorCode.INVALID_PARAMETERS
    await bounded(ap.display_image(label, 0, 2))
    assert sim.displayed_image() is not None


async def test_image_larger_than_slot_and_corrupt_transfer(fleet: SimulatedFleet, ap: GattAccessPoint) -> None:
    """Oversized objects are refused before sending; a damaged transfer fails the CRC-32 check."""
    tiny = LabelModel("tiny", (DisplayInfo(296, 128, DisplayType.RED_BLACK_WHITE),), 0, (), slot_size=64)
    sim = fleet.add_label(tiny, configured_as=EslAddress(0, 9))
    label = Label(sim.address, EslAddress(0, 9))
    noisy = np.random.default_rng(1).integers(0, 3, size=(128, 296)).astype(np.uint8)
    with pytest.raises(ObjectTransferError):
        await bounded(ap.push_image(label, 0, framebuffer.pack(Image.frombytes("P", (296, 128), noisy.tobytes()), 6)))
    sim2 = fleet.add_label("2.9-bwr", configured_as=EslAddress(0, 10))
    sim2.corrupt_transfers = True
    with pytest.raises(ObjectTransferError, match="checksum"):
        await bounded(ap.push_image(Label(sim2.address, EslAddress(0, 10)), 0,
                                    framebuffer.pack(price_image(296, 128, True), 6)))
    assert sim2.displayed_image() is None


async def test_led_flash_expires_and_stop(
    ap: GattAccessPoint, synced: tuple[SimulatedLabel, Label], clock,
) -> None:
    """A 60 s green flash is active, reported in Basic State, ends after 60 s; stop turns it off now."""
    sim, label = synced
    await bounded(ap.flash_led(label, 0, LedParams.flash(GREEN, seconds=60)))
    run = sim.led(0)
    assert run is not None and run.color == GREEN
    assert BasicStateFlag.ACTIVE_LED in await bounded(ap.ping(label))
    clock.advance(61)
    assert sim.led(0) is None
    await bounded(ap.flash_led(label, 0, LedParams.flash(RED, pattern=0b1010, on_ms=100, off_ms=100, count=3)))
    clock.advance(0.5)
    assert sim.led(0) is not None
    await bounded(ap.stop_led(label, 0))
    assert sim.led(0) is None
    await bounded(ap.flash_led(label, 0, LedParams.steady_on(RED)))
    clock.advance(86_400)
    assert sim.led(0) is not None


async def test_timed_display_queue_full_and_cancel(
    ap: GattAccessPoint, synced: tuple[SimulatedLabel, Label], clock,
) -> None:
    """Display Timed Image waits for the label clock; a different time is Queue Full; t=0 cancels."""
    sim, label = synced
    await bounded(ap.push_image(label, 0, framebuffer.pack(price_image(296, 128, False), 6), image_index=1,
                                show=False))
    at = sim.absolute_time_ms() + 10_000
    state = await bounded(ap.display_image(label, 0, 1, at_ms=at))
    assert state.image_index == 1
    assert BasicStateFlag.PENDING_DISPLAY_UPDATE in await bounded(ap.ping(label))
    with pytest.raises(LabelRejected) as full:
        await bounded(ap.display_image(label, 0, 1, at_ms=at + 1))
    assert full.value.error_code == ErrorCode.QUEUE_FULL
    await bounded(ap.display_image(label, 0, 1, at_ms=at))
    clock.advance(9)
    assert sim.displayed_image() is None
    clock.advance(2)
    assert sim.displayed_image() is not None
    sim.shown[0] = None
    await bounded(ap.display_image(label, 0, 1, at_ms=sim.absolute_time_ms() + 5_000))
    await bounded(ap.display_image(label, 0, 1, at_ms=0))
    clock.advance(10)
    assert sim.displayed_image() is None and not sim.pending_display


async def test_timed_led_runs_at_its_time(ap: GattAccessPoint, synced: tuple[SimulatedLabel, Label], clock) -> None:
    """LED Timed Control starts the pattern when the label clock reaches the time."""
    sim, label = synced
    await bounded(ap.flash_led(label, 0, LedParams.flash(GREEN, seconds=30), at_ms=sim.absolute_time_ms() + 2_000))
    assert sim.led(0) is None
    clock.advance(3)
    assert sim.led(0) is not None
    with pytest.raises(LabelRejected) as implausible:
        await bounded(ap.flash_led(label, 0, LedParams.off(), at_ms=(sim.absolute_time_ms() + 4_200_000_000) % 2**32))
    assert implausible.value.error_code == ErrorCode.IMPLAUSIBLE_ABSOLUTE_TIME


async def test_temperature_and_battery(ap: GattAccessPoint, synced: tuple[SimulatedLabel, Label], clock) -> None:
    """The fridge temperature arrives as Temperature 8 (0.5 degC steps); battery in volts."""
    sim, label = synced
    reading = await bounded(ap.read_sensor(label, 0))
    assert reading.quantity == "ambient_temperature" and reading.unit == "degC"
    assert reading.value == pytest.approx(sim.temperature(), abs=0.25)
    battery = await bounded(ap.read_sensor(label, 1))
    assert battery.value == pytest.approx(sim.battery_v, abs=1 / 64)
    with pytest.raises(LabelRejected):
        await bounded(ap.read_sensor(label, 2))


async def test_failing_fridge_warms_up(fleet: SimulatedFleet, ap: GattAccessPoint, clock) -> None:
    """A fridge whose compressor stops is seen warming through the sensor over hours."""
    sim = fleet.add_label("2.9-bwr", fridge=Fridge(set_point_c=3.0, fail_at_s=clock() + 60, door_opens_per_h=0),
                          configured_as=EslAddress(0, 1))
    label = Label(sim.address, EslAddress(0, 1))
    before = (await bounded(ap.read_sensor(label, 0))).value
    clock.advance(3 * 3600)
    after = (await bounded(ap.read_sensor(label, 0))).value
    assert before < 5 and after > 8


async def test_sensor_retry_is_label_busy(ap: GattAccessPoint, synced: tuple[SimulatedLabel, Label]) -> None:
    """Retry (0x0A) is the distinct LabelBusy, so callers re-poll instead of failing."""
    sim, label = synced
    sim.sensor_retry_rate = 1.0
    with pytest.raises(LabelBusy) as busy:
        await bounded(ap.read_sensor(label, 0))
    assert busy.value.error_code == ErrorCode.RETRY


async def test_error_responses_are_typed(ap: GattAccessPoint, synced: tuple[SimulatedLabel, Label]) -> None:
    """Wrong ESL_ID, vendor opcode and bad indices come back as LabelRejected with the tag's code."""
    sim, label = synced
    with pytest.raises(LabelRejected) as wrong_id:
        await bounded(ap.ping(Label(sim.address, EslAddress(1, 6))))
    assert wrong_id.value.error_code == ErrorCode.INVALID_PARAMETERS
    async with ap.session(label) as s:
        with pytest.raises(LabelRejected) as vendor:
            await bounded(s.command(VendorCommand(0x3F, 5, b"\x01\x02\x03")))
        with pytest.raises(LabelRejected) as led:
            await bounded(s.command(DisplayImage(5, 3, 0)))
    assert (vendor.value.error_code, led.value.error_code) == (ErrorCode.INVALID_OPCODE, ErrorCode.INVALID_PARAMETERS)


async def test_corrupt_response_is_protocol_error(ap: GattAccessPoint, synced: tuple[SimulatedLabel, Label]) -> None:
    """Truncated notification bytes raise EslProtocolError and the link is still closed."""
    sim, label = synced
    sim.corrupt_responses = True
    with pytest.raises(EslProtocolError):
        await bounded(ap.ping(label))
    assert not sim.connected


async def test_silent_label_times_out(ap: GattAccessPoint, synced: tuple[SimulatedLabel, Label]) -> None:
    """No notification within the AP timeout (0.5 s here) is LabelTimeout."""
    sim, label = synced
    sim.mute = True
    with pytest.raises(LabelTimeout):
        await bounded(ap.flash_led(label, 0, LedParams.off()), 3)
    assert not sim.connected


async def test_unreachable_after_retries(ap: GattAccessPoint, synced: tuple[SimulatedLabel, Label]) -> None:
    """Out of range: every attempt fails, then LabelUnreachable; unknown addresses fail the same way."""
    sim, label = synced
    sim.in_range = False
    with pytest.raises(LabelUnreachable):
        await bounded(ap.ping(label))
    assert sim.connect_attempts == 2 and sim.connections == 0
    with pytest.raises(LabelUnreachable):
        await bounded(ap.ping(Label("E5:FF:FF:FF:FF:FF", EslAddress(0, 1))))


async def test_flaky_label_succeeds_through_retries(fleet: SimulatedFleet) -> None:
    """Random connection failures (seeded) are absorbed by bleak-retry-connector's attempts."""
    sim = fleet.add_label("2.9-bwr", configured_as=EslAddress(0, 2))
    sim.connect_failure_rate = 0.3
    ap = GattAccessPoint(client_class=fleet.client_class, scanner=fleet.scanner,
                         transport_factory=fleet.transport_factory, connect_attempts=6, timeout=0.5)
    for _ in range(8):
        await bounded(ap.ping(Label(sim.address, EslAddress(0, 2))), 10)
    assert sim.connections == 8 and sim.connect_attempts > 8


async def test_sync_loss_timers(fleet: SimulatedFleet, ap: GattAccessPoint, synced: tuple[SimulatedLabel, Label],
                                clock) -> None:
    """Without the sync train: Unsynchronized after the timeout (advertising again), then Unassociated."""
    sim, _ = synced
    fleet.stop_sync_train()
    clock.advance(61)
    assert await bounded(ap.discover(1)) == [sim.address]
    assert sim.state is EslState.UNSYNCHRONIZED
    clock.advance(61)
    sim.advance()
    assert sim.state is EslState.UNASSOCIATED and sim.esl_address is None


async def test_unsynchronized_label_resyncs_on_reconnect(
    fleet: SimulatedFleet, ap: GattAccessPoint, synced: tuple[SimulatedLabel, Label], clock,
) -> None:
    """An AP connection plus Update Complete brings an unsynchronized label back."""
    sim, label = synced
    fleet.stop_sync_train()
    clock.advance(61)
    fleet.start_sync_train()
    assert sim.state is EslState.UNSYNCHRONIZED
    await bounded(ap.ping(label))
    assert sim.state is EslState.SYNCHRONIZED


async def test_session_sets_time_and_batches_operations(
    ap: GattAccessPoint, synced: tuple[SimulatedLabel, Label], clock,
) -> None:
    """One connection can re-set the clock, upload, schedule and finish; the label counts one connection."""
    sim, label = synced
    before = sim.connections
    async with ap.session(label) as s:
        await bounded(s.write_time(50_000))
        await bounded(s.upload_image(3, framebuffer.pack(price_image(296, 128, True), 6)))
        await bounded(s.command(DisplayImage(5, 0, 3)))
        await bounded(s.update_complete())
    assert sim.connections == before + 1 and sim.absolute_time_ms() == 50_000
    assert sim.displayed_image() is not None


@pytest.mark.skipif(hasattr(socket, "AF_BLUETOOTH"), reason="host has Bluetooth sockets")
async def test_default_transport_fails_typed_without_bluetooth(fleet: SimulatedFleet,
                                                               synced: tuple[SimulatedLabel, Label]) -> None:
    """With the real L2CAP transport on a host without AF_BLUETOOTH, an upload raises TransportUnavailable."""
    sim, label = synced
    ap = GattAccessPoint(client_class=fleet.client_class, scanner=fleet.scanner, connect_attempts=1, timeout=0.5)
    with pytest.raises(TransportUnavailable):
        await bounded(ap.push_image(label, 0, framebuffer.pack(price_image(296, 128, False), 6)))
    assert not sim.connected and sim.displayed_image() is None
