"""A fleet of simulated ESL tags behind the bleak client seam, running the real protocol.

Each `SimulatedLabel` parses what the access point writes with the production codec and
answers as an NCS-like tag would (esl.md "Simulator invariants"). `SimulatedFleet` hands the
driver a bleak-compatible client class, a scanner and an in-memory object transport. Time is
an injected clock; timed commands, LED patterns and sync timers are evaluated lazily when a
label is touched, so thousands of labels cost no background work.
"""

from __future__ import annotations

import asyncio
import contextvars
import enum
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bleak.backends.device import BLEDevice
from bleak.exc import BleakError
from PIL import Image

from devices.esl import framebuffer, ots, uuids
from devices.esl.codec import (
    BROADCAST_ESL_ID, BasicState, BasicStateFlag, Command, DisplayImage, DisplayState, DisplayTimedImage,
    EslAddress, ErrorCode, ErrorResponse, FactoryReset, LedControl, LedState, LedTimedControl,
    MAX_ABSOLUTE_TIME_AHEAD_MS, Ping, ReadSensorData, RefreshDisplay, Response, SensorValue, ServiceReset,
    Unassociate, UnknownCommand, UpdateComplete, VendorCommand, decode_command, encode_response, record_length,
)
from devices.esl.errors import EslProtocolError, FramebufferError, LabelUnreachable
from devices.esl.fridge import Fridge
from devices.esl.info import (
    DisplayInfo, DisplayType, LedInfo, LedType, MeshSensor, SensorInfo, encode_display_info, encode_led_info,
    encode_sensor_info,
)
from devices.esl.led import LedColor, LedParams
from devices.esl.sensors import MeshProperty, encode_temperature8, encode_voltage
from devices.esl.transport import MemoryTransport

MIN_SLEEP_S = 0.01
_radio_clock: contextvars.ContextVar[float] = contextvars.ContextVar("esl_sim_radio_clock", default=0.0)
LOW_BATTERY_V = 2.4
CRITICAL_BATTERY_V = 2.1
_WRAP = 1 << 32


class EslState(enum.Enum):
    """The tag state machine of esl.md §7 (Configured folded into Synchronized: no PAST over GATT)."""

    UNASSOCIATED = "unassociated"
    CONFIGURING = "configuring"
    SYNCHRONIZED = "synchronized"
    UPDATING = "updating"
    UNSYNCHRONIZED = "unsynchronized"


@dataclass(frozen=True, slots=True)
class RadioTiming:
    """Simulated air time: connection setup, one GATT round trip, CoC throughput; all scaled by `time_scale`."""

    connect_s: float = 2.0
    gatt_op_s: float = 0.03
    throughput_bytes_per_s: float = 10_000.0
    time_scale: float = 1.0


@dataclass(frozen=True, slots=True)
class LabelModel:
    """A tag model: its displays, image slots (Max_Image_Index + 1), LEDs and slot size."""

    name: str
    displays: tuple[DisplayInfo, ...]
    max_image_index: int
    leds: tuple[LedInfo, ...]
    slot_size: int = 20_480


MODELS: dict[str, LabelModel] = {
    m.name: m for m in (
        LabelModel("2.13-bwr", (DisplayInfo(250, 122, DisplayType.RED_BLACK_WHITE),), 1,
                   (LedInfo(LedType.SRGB, LedColor(3, 3, 3, 0)),)),
        LabelModel("2.9-bwr", (DisplayInfo(296, 128, DisplayType.RED_BLACK_WHITE),), 3,
                   (LedInfo(LedType.SRGB, LedColor(3, 3, 3, 0)),)),
        LabelModel("2.9-bwy", (DisplayInfo(296, 128, DisplayType.YELLOW_BLACK_WHITE),), 3,
                   (LedInfo(LedType.MONOCHROME, LedColor(0, 3, 0, 0)),)),
        LabelModel("4.2-bw", (DisplayInfo(400, 300, DisplayType.BLACK_WHITE),), 1, ()),
    )
}


@dataclass(slots=True)
class LedRun:
    """What an LED is doing: parameters, the colour it can actually show, start and end (None = open)."""

    params: LedParams
    color: LedColor
    started_at: float
    until: float | None

    def active(self, now: float) -> bool:
        """True while the LED shows light."""
        return self.params.lit and (self.until is None or now < self.until)


@dataclass(slots=True)
class _Write:
    """An OACP Write waiting for its bytes on the object transfer channel."""

    offset: int
    length: int
    truncate: bool
    buffer: bytearray = field(default_factory=bytearray)


class SimulatedLabel:
    """One tag: ESL service, OTS image slots, LEDs, sensors and the state machine."""

    def __init__(
        self, fleet: SimulatedFleet, address: str, model: LabelModel, *, fridge: Fridge | None = None,
        battery_v: float = 3.0, rng: random.Random,
    ) -> None:
        """Create an unassociated tag."""
        self.fleet = fleet
        self.address = address
        self.model = model
        self.fridge = fridge
        self.battery_v = battery_v
        self.rng = rng
        self.sensors: tuple[SensorInfo, ...] = (
            ((MeshSensor(MeshProperty.PRESENT_AMBIENT_TEMPERATURE),) if fridge else ())
            + (MeshSensor(MeshProperty.PRESENT_INPUT_VOLTAGE),)
        )
        # radio behaviour and injected faults
        self.in_range = True
        self.connect_failure_rate = 0.0
        self.sensor_retry_rate = 0.0
        self.mute = False  # control-point writes are lost: neither executed nor answered
        self.corrupt_responses = False
        self.corrupt_transfers = False
        self.image_index_error = ErrorCode.INVALID_PARAMETERS  # NCS; the spec intends INVALID_IMAGE_INDEX
        # protocol state
        self.state = EslState.UNASSOCIATED
        self.esl_address: EslAddress | None = None
        self.ap_sync_key: bytes | None = None
        self.response_key: bytes | None = None
        self._time_base: tuple[int, float] | None = None
        self.slots: list[bytes | None] = [None] * (model.max_image_index + 1)
        self.shown: list[int | None] = [None] * len(model.displays)
        self.leds: list[LedRun | None] = [None] * len(model.leds)
        self.pending_display: dict[int, tuple[int, int]] = {}
        self.pending_led: dict[int, tuple[int, LedParams]] = {}
        self.service_needed = False
        self.connected = False
        self.connect_attempts = 0
        self.connections = 0
        self._synced_at = 0.0
        self._unsynced_at = 0.0
        self._completed = False
        self._unassociate = False
        self._factory_reset = False
        self._was_synced = False
        self._current_object: int | None = None
        self._write: _Write | None = None

    # --- time ----------------------------------------------------------------------------

    def now(self) -> float:
        """Fleet clock in seconds."""
        return self.fleet.clock()

    def absolute_time_ms(self) -> int | None:
        """The tag's own ms counter (None until the AP sets it)."""
        if self._time_base is None:
            return None
        base, set_at = self._time_base
        return int(base + (self.now() - set_at) * 1000) % _WRAP

    def _when(self, target_ms: int) -> float:
        """Fleet-clock second at which the tag clock reaches `target_ms` (wrap-safe, forward)."""
        delta = (target_ms - (self.absolute_time_ms() or 0)) % _WRAP
        return self.now() + delta / 1000

    def advance(self) -> None:
        """Apply everything that became due since the label was last touched."""
        now_ms = self.absolute_time_ms()
        if now_ms is not None:
            for display, (t, image) in list(self.pending_display.items()):
                if (now_ms - t) % _WRAP < _WRAP // 2:
                    del self.pending_display[display]
                    self.shown[display] = image
            for led, (t, params) in list(self.pending_led.items()):
                if (now_ms - t) % _WRAP < _WRAP // 2:
                    del self.pending_led[led]
                    self._start_led(led, params, self.now() - ((now_ms - t) % _WRAP) / 1000)
        self._run_sync_timers()

    def _run_sync_timers(self) -> None:
        """Synchronized -> Unsynchronized -> Unassociated while the AP's sync train is off."""
        stopped = self.fleet.train_stopped_at
        if self.state is EslState.SYNCHRONIZED and stopped is not None:
            since = max(self._synced_at, stopped)
            if self.now() - since >= self.fleet.sync_timeout_s:
                self.state = EslState.UNSYNCHRONIZED
                self._unsynced_at = since + self.fleet.sync_timeout_s
        unsynced_for = self.now() - self._unsynced_at
        if self.state is EslState.UNSYNCHRONIZED and unsynced_for >= self.fleet.unassociated_timeout_s:
            self._wipe_config()
            self.state = EslState.UNASSOCIATED

    # --- observable state ----------------------------------------------------------------

    def displayed_image(self, display: int = 0) -> Image.Image | None:
        """The image a display shows, decoded from its slot (None when blank)."""
        self.advance()
        index = self.shown[display]
        data = None if index is None else self.slots[index]
        if data is None:
            return None
        info = self.model.displays[display]
        return framebuffer.unpack(data, info.width, info.height, info.display_type)

    def led(self, led: int) -> LedRun | None:
        """The LED's current run, or None when it is dark."""
        self.advance()
        run = self.leds[led]
        return run if run is not None and run.active(self.now()) else None

    def basic_state(self) -> BasicStateFlag:
        """Basic State bits as the tag would report them now."""
        flags = BasicStateFlag(0)
        if self.service_needed or self.battery_v < LOW_BATTERY_V:
            flags |= BasicStateFlag.SERVICE_NEEDED
        if self.state in (EslState.SYNCHRONIZED, EslState.UPDATING) and self._was_synced:
            flags |= BasicStateFlag.SYNCHRONIZED
        if any(r is not None and r.active(self.now()) for r in self.leds):
            flags |= BasicStateFlag.ACTIVE_LED
        if self.pending_led:
            flags |= BasicStateFlag.PENDING_LED_UPDATE
        if self.pending_display:
            flags |= BasicStateFlag.PENDING_DISPLAY_UPDATE
        return flags

    def temperature(self) -> float | None:
        """What the label measures now: None without a fridge or once its probe failed (sent as 0x7F, unknown)."""
        return None if self.fridge is None else self.fridge.measured(self.now())

    # --- connection lifecycle ------------------------------------------------------------

    def on_connect(self) -> None:
        """A bonded AP connected: Configuring (new tag) or Updating (known tag)."""
        self.advance()
        self.connected = True
        self.connections += 1
        self._completed = self._unassociate = self._factory_reset = False
        self._was_synced = self.state is EslState.SYNCHRONIZED
        if self.state is EslState.UNASSOCIATED:
            self.state = EslState.CONFIGURING
        elif self.state in (EslState.SYNCHRONIZED, EslState.UNSYNCHRONIZED):
            self.state = EslState.UPDATING

    def on_disconnect(self) -> None:
        """The link went down: settle the state the connection leaves behind."""
        self.connected = False
        self._current_object, self._write = None, None
        if self._factory_reset:
            self._wipe_config()
            self.slots = [None] * len(self.slots)
            self.shown = [None] * len(self.shown)
            self.state = EslState.UNASSOCIATED
        elif self._unassociate:
            self._wipe_config()
            self.state = EslState.UNASSOCIATED
        elif self._completed:
            self.state = EslState.SYNCHRONIZED
            self._synced_at = self.now()
            self._was_synced = True
        elif self.state is EslState.CONFIGURING:
            self._wipe_config()
            self.state = EslState.UNASSOCIATED
        elif self.state is EslState.UPDATING:
            self.state = EslState.SYNCHRONIZED if self._was_synced else EslState.UNSYNCHRONIZED
            self._unsynced_at = self.now()

    def _wipe_config(self) -> None:
        """Forget address, keys and time (images stay unless factory reset)."""
        self.esl_address = self.ap_sync_key = self.response_key = None
        self._time_base = None
        self.pending_display.clear()
        self.pending_led.clear()

    def _configured(self) -> bool:
        """All four items of Configuring are written."""
        return None not in (self.esl_address, self.ap_sync_key, self.response_key, self._time_base)

    # --- GATT: ESL service -----------------------------------------------------------------

    def read(self, uuid: str) -> bytes:
        """Value of a readable characteristic."""
        self.advance()
        match uuid:
            case uuids.DISPLAY_INFORMATION:
                return encode_display_info(list(self.model.displays))
            case uuids.IMAGE_INFORMATION:
                return bytes((self.model.max_image_index,))
            case uuids.SENSOR_INFORMATION:
                return encode_sensor_info(list(self.sensors))
            case uuids.LED_INFORMATION:
                return encode_led_info(list(self.model.leds))
            case uuids.OTS_OBJECT_SIZE:
                if self._current_object is None:
                    raise BleakError("ATT error 0x81: no current object")
                return ots.encode_object_size(len(self.slots[self._current_object] or b""), self.model.slot_size)
        raise BleakError(f"ATT error 0x02: read not permitted on {uuid}")

    def write(self, uuid: str, data: bytes) -> bytes | None:
        """Handle a characteristic write; returns the notification/indication to send, if any."""
        self.advance()
        match uuid:
            case uuids.ESL_ADDRESS:
                try:
                    self.esl_address = EslAddress.decode(data)
                except EslProtocolError as err:
                    raise BleakError(f"ATT error 0x13 Value Not Allowed: {err}") from err
                return None
            case uuids.AP_SYNC_KEY_MATERIAL | uuids.ESL_RESPONSE_KEY_MATERIAL:
                if len(data) != 24:
                    raise BleakError("ATT error 0x0D Invalid Attribute Value Length")
                if uuid == uuids.AP_SYNC_KEY_MATERIAL:
                    self.ap_sync_key = bytes(data)
                else:
                    self.response_key = bytes(data)
                return None
            case uuids.ESL_CURRENT_ABSOLUTE_TIME:
                if len(data) != 4:
                    raise BleakError("ATT error 0x0D Invalid Attribute Value Length")
                self._time_base = (int.from_bytes(data, "little"), self.now())
                return None
            case uuids.ESL_CONTROL_POINT:
                if self.mute:
                    return None
                response = self.control_point(bytes(data))
                if response is None:
                    return None
                return response[:1] if self.corrupt_responses else response
            case uuids.OTS_OLCP:
                return ots.encode_olcp_response(self._olcp(bytes(data)))
            case uuids.OTS_OACP:
                return ots.encode_oacp_response(self._oacp(bytes(data)))
        raise BleakError(f"ATT error 0x03: write not permitted on {uuid}")

    def control_point(self, data: bytes) -> bytes | None:
        """One ECP write in, the encoded response out (None: no response, as for Factory Reset)."""
        if not data or len(data) != record_length(data[0]):
            return encode_response(ErrorResponse(ErrorCode.INVALID_PARAMETERS))
        try:
            cmd = decode_command(data)
        except EslProtocolError:
            return encode_response(ErrorResponse(ErrorCode.INVALID_PARAMETERS))
        response = self._execute(cmd)
        return None if response is None else encode_response(response)

    def _execute(self, cmd: Command) -> Response | None:
        """Apply one decoded command."""
        if isinstance(cmd, (UnknownCommand, VendorCommand)):
            return ErrorResponse(ErrorCode.INVALID_OPCODE)
        own = self.esl_address.esl_id if self.esl_address else None
        if cmd.esl_id not in (own, BROADCAST_ESL_ID):
            return ErrorResponse(ErrorCode.INVALID_PARAMETERS)
        match cmd:
            case Ping():
                return BasicState(self.basic_state())
            case Unassociate():
                if cmd.esl_id == BROADCAST_ESL_ID:
                    return ErrorResponse(ErrorCode.INVALID_PARAMETERS)
                self._unassociate = True
                return BasicState(self.basic_state())
            case ServiceReset():
                self.service_needed = False
                return BasicState(self.basic_state() & ~BasicStateFlag.SERVICE_NEEDED)
            case FactoryReset():
                if cmd.esl_id != BROADCAST_ESL_ID and self.state is not EslState.SYNCHRONIZED:
                    self._factory_reset = True
                return None
            case UpdateComplete():
                if self.state is EslState.CONFIGURING and not self._configured():
                    return ErrorResponse(ErrorCode.INVALID_STATE)
                self._completed = True
                return BasicState(self.basic_state())
            case ReadSensorData(sensor_index=i):
                return self._read_sensor(i)
            case RefreshDisplay(display_index=d):
                if not 0 <= d < len(self.shown):
                    return ErrorResponse(ErrorCode.INVALID_PARAMETERS)
                shown = self.shown[d]
                return ErrorResponse(ErrorCode.IMAGE_NOT_AVAILABLE) if shown is None else DisplayState(d, shown)
            case DisplayImage(display_index=d, image_index=i):
                if (error := self._image_error(d, i)) is not None:
                    return error
                self.shown[d] = i
                self.pending_display.pop(d, None)
                return DisplayState(d, i)
            case DisplayTimedImage(display_index=d, image_index=i, absolute_time=t):
                if t != 0 and (error := self._image_error(d, i)) is not None:
                    return error
                if not 0 <= d < len(self.shown):
                    return ErrorResponse(ErrorCode.INVALID_PARAMETERS)
                return self._schedule(self.pending_display, d, t, i) or DisplayState(d, i)
            case LedControl(led_index=i, led=params):
                if not 0 <= i < len(self.leds):
                    return ErrorResponse(ErrorCode.INVALID_PARAMETERS)
                self.pending_led.pop(i, None)
                self._start_led(i, params, self.now())
                return LedState(i)
            case LedTimedControl(led_index=i, led=params, absolute_time=t):
                if not 0 <= i < len(self.leds):
                    return ErrorResponse(ErrorCode.INVALID_PARAMETERS)
                return self._schedule(self.pending_led, i, t, params) or LedState(i)
        return ErrorResponse(ErrorCode.INVALID_OPCODE)

    def _schedule(self, queue: dict[int, Any], index: int, t: int, payload: Any) -> ErrorResponse | None:
        """Queue, replace or cancel (t = 0) a timed command; one pending per display/LED."""
        if t == 0:
            queue.pop(index, None)
            return None
        now_ms = self.absolute_time_ms()
        if now_ms is None:
            return ErrorResponse(ErrorCode.INVALID_STATE)
        if (t - now_ms) % _WRAP > MAX_ABSOLUTE_TIME_AHEAD_MS:
            return ErrorResponse(ErrorCode.IMPLAUSIBLE_ABSOLUTE_TIME)
        if index in queue and queue[index][0] != t:
            return ErrorResponse(ErrorCode.QUEUE_FULL)
        queue[index] = (t, payload)
        return None

    def _image_error(self, display: int, image: int) -> ErrorResponse | None:
        """Why a slot cannot be shown on a display, if it cannot."""
        if not 0 <= display < len(self.shown):
            return ErrorResponse(ErrorCode.INVALID_PARAMETERS)
        if image > self.model.max_image_index:
            return ErrorResponse(self.image_index_error)
        data = self.slots[image]
        if data is None:
            return ErrorResponse(ErrorCode.IMAGE_NOT_AVAILABLE)
        if self.battery_v < CRITICAL_BATTERY_V:
            return ErrorResponse(ErrorCode.INSUFFICIENT_BATTERY)
        info = self.model.displays[display]
        try:
            framebuffer.unpack(data, info.width, info.height, info.display_type)
        except FramebufferError:
            return ErrorResponse(ErrorCode.INVALID_PARAMETERS)
        return None

    def _start_led(self, led: int, params: LedParams, started: float) -> None:
        """Replace the LED's run; a monochrome LED shows its own colour at the requested brightness."""
        duration = params.duration_ms()
        info = self.model.leds[led]
        color = params.color
        if info.led_type is LedType.MONOCHROME:
            color = LedColor(info.color.red, info.color.green, info.color.blue, params.color.brightness)
        self.leds[led] = LedRun(params, color, started, None if duration is None else started + duration / 1000)

    def _read_sensor(self, index: int) -> Response:
        """Sensor Value, or Retry when the simulated measurement is still running."""
        if not 0 <= index < len(self.sensors):
            return ErrorResponse(ErrorCode.INVALID_PARAMETERS)
        if self.rng.random() < self.sensor_retry_rate:
            return ErrorResponse(ErrorCode.RETRY)
        sensor = self.sensors[index]
        if sensor == MeshSensor(MeshProperty.PRESENT_AMBIENT_TEMPERATURE):
            return SensorValue(index, encode_temperature8(self.temperature()))
        return SensorValue(index, encode_voltage(self.battery_v))

    # --- GATT: Object Transfer -------------------------------------------------------------

    def _olcp(self, data: bytes) -> ots.OlcpResponse:
        """Object list navigation over the image slots."""
        try:
            req = ots.decode_olcp(data)
        except EslProtocolError:
            return ots.OlcpResponse(data[0] if data else 0, ots.OlcpResult.OPCODE_NOT_SUPPORTED)
        if isinstance(req, ots.OlcpGoTo):
            try:
                index = ots.image_index_of(req.object_id)
            except EslProtocolError:
                index = -1
            if not 0 <= index < len(self.slots):
                return ots.OlcpResponse(ots.OlcpOpcode.GO_TO, ots.OlcpResult.OBJECT_ID_NOT_FOUND)
            self._current_object = index
            return ots.OlcpResponse(ots.OlcpOpcode.GO_TO, ots.OlcpResult.SUCCESS)
        if req.opcode is ots.OlcpOpcode.FIRST:
            self._current_object = 0
            return ots.OlcpResponse(req.opcode, ots.OlcpResult.SUCCESS)
        if req.opcode is ots.OlcpOpcode.NEXT:
            if self._current_object is None or self._current_object + 1 >= len(self.slots):
                return ots.OlcpResponse(req.opcode, ots.OlcpResult.OUT_OF_BOUNDS)
            self._current_object += 1
            return ots.OlcpResponse(req.opcode, ots.OlcpResult.SUCCESS)
        return ots.OlcpResponse(req.opcode, ots.OlcpResult.OPCODE_NOT_SUPPORTED)

    def _oacp(self, data: bytes) -> ots.OacpResponse:
        """Object actions: Write (arm the channel) and Calculate Checksum."""
        try:
            req = ots.decode_oacp(data)
        except EslProtocolError:
            return ots.OacpResponse(data[0] if data else 0, ots.OacpResult.INVALID_PARAMETER)
        if isinstance(req, ots.OacpOther):
            return ots.OacpResponse(req.opcode, ots.OacpResult.OPCODE_NOT_SUPPORTED)
        if self._current_object is None:
            return ots.OacpResponse(data[0], ots.OacpResult.INVALID_OBJECT)
        current = self.slots[self._current_object] or b""
        if isinstance(req, ots.OacpWrite):
            if req.offset > len(current) or req.offset + req.length > self.model.slot_size:
                return ots.OacpResponse(ots.OacpOpcode.WRITE, ots.OacpResult.INVALID_PARAMETER)
            self._write = _Write(req.offset, req.length, bool(req.mode & ots.WriteMode.TRUNCATE))
            return ots.OacpResponse(ots.OacpOpcode.WRITE, ots.OacpResult.SUCCESS)
        if req.offset + req.length > len(current):
            return ots.OacpResponse(ots.OacpOpcode.CALCULATE_CHECKSUM, ots.OacpResult.INVALID_PARAMETER)
        crc = ots.checksum(current[req.offset:req.offset + req.length])
        return ots.OacpResponse(ots.OacpOpcode.CALCULATE_CHECKSUM, ots.OacpResult.SUCCESS, crc)

    def channel_receive(self, data: bytes) -> None:
        """Bytes arriving on the object transfer channel."""
        if self._write is None:
            raise LabelUnreachable("simulated label: channel data without an OACP Write")
        if self.corrupt_transfers and data:
            data = bytes((data[0] ^ 0xFF,)) + data[1:]
        self._write.buffer += data

    def channel_close(self) -> None:
        """The channel closed: commit the object if exactly the announced length arrived."""
        write, self._write = self._write, None
        if write is None or len(write.buffer) != write.length or self._current_object is None:
            return
        old = self.slots[self._current_object] or b""
        tail = b"" if write.truncate else old[write.offset + write.length:]
        self.slots[self._current_object] = old[:write.offset] + bytes(write.buffer) + tail


class _Channel:
    """The receiving end of one object transfer: paces bytes at the simulated throughput."""

    def __init__(self, label: SimulatedLabel) -> None:
        """Bind to a label."""
        self._label = label

    async def receive(self, data: bytes) -> None:
        """Spend the air time, then deliver."""
        await self._label.fleet.spend(len(data) / self._label.fleet.timing.throughput_bytes_per_s)
        self._label.channel_receive(data)

    def close(self) -> None:
        """Commit the object."""
        self._label.channel_close()


@dataclass(frozen=True, slots=True)
class SimCharacteristic:
    """The `sender` handed to notification callbacks (bleak passes a BleakGATTCharacteristic)."""

    uuid: str


class _Services:
    """The part of BleakGATTServiceCollection the driver uses."""

    _SERVICES = frozenset((uuids.ESL_SERVICE, uuids.OTS_SERVICE))

    def get_service(self, specifier: str) -> str | None:
        """The service UUID when present."""
        return specifier if str(specifier).lower() in self._SERVICES else None


class FakeBleakClient:
    """A BleakClient look-alike connected to one simulated label (connect, read, write, notify)."""

    def __init__(self, fleet: SimulatedFleet, device: BLEDevice | str, disconnected_callback: Any = None,
                 **_kwargs: Any) -> None:
        """Bind to the label behind `device`; extra bleak/bleak-retry-connector kwargs are accepted."""
        self._fleet = fleet
        self.address = device if isinstance(device, str) else device.address
        self._disconnected_callback = disconnected_callback
        self._label: SimulatedLabel | None = None
        self._callbacks: dict[str, Callable[[Any, bytearray], Any]] = {}

    @property
    def is_connected(self) -> bool:
        """True between a successful connect and disconnect."""
        return self._label is not None

    @property
    def services(self) -> _Services | None:
        """Discovered services (after connect)."""
        return _Services() if self._label is not None else None

    async def connect(self, **_kwargs: Any) -> None:
        """Spend the connection setup time; fail for out-of-range, busy or (randomly) flaky labels."""
        label = self._fleet.label(self.address)
        label.connect_attempts += 1
        await self._fleet.spend(self._fleet.timing.connect_s)
        if not label.in_range:
            raise BleakError(f"simulated: {self.address} out of range (connection timed out)")
        if label.connected:
            raise BleakError(f"simulated: {self.address} is already connected")
        if label.rng.random() < label.connect_failure_rate:
            raise BleakError(f"simulated: {self.address} connection failed (flaky)")
        label.on_connect()
        self._label = label

    async def disconnect(self) -> bool:
        """Drop the link."""
        if self._label is not None:
            label, self._label = self._label, None
            self._callbacks.clear()
            label.on_disconnect()
        return True

    def _require(self) -> SimulatedLabel:
        """The connected label or the error bleak raises when not connected."""
        if self._label is None:
            raise BleakError("Not connected")
        return self._label

    async def read_gatt_char(self, char_specifier: Any, **_kwargs: Any) -> bytearray:
        """One read round trip."""
        label = self._require()
        await self._fleet.spend(self._fleet.timing.gatt_op_s)
        return bytearray(label.read(str(getattr(char_specifier, "uuid", char_specifier)).lower()))

    async def write_gatt_char(self, char_specifier: Any, data: bytes, response: bool | None = None) -> None:
        """One write round trip; a response, if any, arrives as a notification shortly after."""
        label = self._require()
        uuid = str(getattr(char_specifier, "uuid", char_specifier)).lower()
        await self._fleet.spend(self._fleet.timing.gatt_op_s)
        callback = self._callbacks.get(uuid)
        if callback is None and uuid in (uuids.OTS_OACP, uuids.OTS_OLCP):
            raise BleakError("ATT error 0xFD: Client Characteristic Configuration Descriptor improperly configured")
        reply = label.write(uuid, bytes(data))
        if reply is not None and callback is not None:
            asyncio.get_running_loop().call_soon(callback, SimCharacteristic(uuid), bytearray(reply))

    async def start_notify(self, char_specifier: Any, callback: Callable[[Any, bytearray], Any],
                           **_kwargs: Any) -> None:
        """Subscribe to notifications/indications."""
        self._require()
        self._callbacks[str(getattr(char_specifier, "uuid", char_specifier)).lower()] = callback

    async def stop_notify(self, char_specifier: Any) -> None:
        """Unsubscribe."""
        self._callbacks.pop(str(getattr(char_specifier, "uuid", char_specifier)).lower(), None)


class FleetScanner:
    """The scanner seam: labels advertise the ESL service while unassociated or unsynchronized."""

    def __init__(self, fleet: SimulatedFleet) -> None:
        """Scan this fleet."""
        self._fleet = fleet

    async def discover(self, timeout: float) -> list[BLEDevice]:
        """In-range labels that advertise (they need onboarding or a new sync)."""
        await asyncio.sleep(min(timeout, 0.01))
        found = []
        for label in self._fleet.labels.values():
            label.advance()
            if label.in_range and label.state in (EslState.UNASSOCIATED, EslState.UNSYNCHRONIZED):
                found.append(BLEDevice(label.address, f"ESL {label.model.name}", None))
        return found

    async def find(self, address: str, timeout: float) -> BLEDevice | None:
        """Any known label resolves (as from a cached advert); reaching it is connect's problem."""
        return BLEDevice(address, None, None) if address in self._fleet.labels else None


class SimulatedFleet:
    """Many simulated labels sharing a clock, radio timing and seed; the factory of the bleak seam."""

    def __init__(
        self, *, seed: int = 0, timing: RadioTiming | None = None, clock: Callable[[], float] = time.monotonic,
        sync_timeout_s: float = 3600.0, unassociated_timeout_s: float = 3600.0,
    ) -> None:
        """An empty fleet; the AP's sync train counts as running."""
        self.seed = seed
        self.timing = timing or RadioTiming()
        self.clock = clock
        self.sync_timeout_s = sync_timeout_s
        self.unassociated_timeout_s = unassociated_timeout_s
        self.train_stopped_at: float | None = None
        self.labels: dict[str, SimulatedLabel] = {}
        self.scanner = FleetScanner(self)
        self.air_time_s = 0.0

    async def spend(self, seconds: float) -> None:
        """Account `seconds` of radio busy time and sleep for it, scaled.

        Scaled-down air time is often far below the event loop's ~1 ms timer resolution, so the
        time is added to a per-task radio clock and slept off once it runs `MIN_SLEEP_S` ahead
        of real time: the task (one connection slot) stays busy for the right total, without one
        late timer per GATT round trip. At scale 0 it only yields.
        """
        self.air_time_s += seconds
        scaled = seconds * self.timing.time_scale
        if scaled <= 0:
            await asyncio.sleep(0)
            return
        now = asyncio.get_running_loop().time()
        target = max(_radio_clock.get(), now) + scaled
        _radio_clock.set(target)
        await asyncio.sleep(target - now if target - now >= MIN_SLEEP_S else 0)

    def add_label(
        self, model: str | LabelModel = "2.9-bwr", *, address: str | None = None, fridge: Fridge | None = None,
        battery_v: float = 3.0, configured_as: EslAddress | None = None,
    ) -> SimulatedLabel:
        """Add one label; `configured_as` skips onboarding (synchronized, with random keys)."""
        address = address or "E5:{:02X}:{:02X}:{:02X}:{:02X}:{:02X}".format(
            *len(self.labels).to_bytes(5, "big"))
        label = SimulatedLabel(
            self, address, MODELS[model] if isinstance(model, str) else model, fridge=fridge,
            battery_v=battery_v, rng=random.Random(f"{self.seed}/{address}"),
        )
        if configured_as is not None:
            label.esl_address = configured_as
            label.ap_sync_key, label.response_key = label.rng.randbytes(24), label.rng.randbytes(24)
            label._time_base = (0, self.clock())
            label.state = EslState.SYNCHRONIZED
            label._synced_at = self.clock()
            label._was_synced = True
        self.labels[address] = label
        return label

    def populate(self, count: int, *, configured: bool = True, fridge_share: float = 0.1) -> list[SimulatedLabel]:
        """Add `count` labels of mixed models (some in fridges, a few failing), with consecutive ESL addresses."""
        rng = random.Random(f"{self.seed}/populate/{len(self.labels)}")
        names = sorted(MODELS)
        out = []
        for _ in range(count):
            n = len(self.labels)
            fridge = None
            if rng.random() < fridge_share:
                failing = rng.random() < 0.05
                fridge = Fridge(set_point_c=rng.choice((2.0, 4.0, 6.0)), seed=rng.randrange(1 << 30),
                                fail_at_s=self.clock() + rng.uniform(0, 3600) if failing else None)
            address = EslAddress(n // 255 % 128, n % 255) if configured else None
            out.append(self.add_label(rng.choice(names), fridge=fridge, battery_v=round(rng.uniform(2.3, 3.1), 2),
                                      configured_as=address))
        return out

    def label(self, address: str) -> SimulatedLabel:
        """The label with this BLE address."""
        try:
            return self.labels[address]
        except KeyError as err:
            raise BleakError(f"simulated: device {address} not found") from err

    def client_class(self, device: BLEDevice | str, **kwargs: Any) -> FakeBleakClient:
        """Use as the driver's `client_class`: builds a fake client bound to this fleet."""
        return FakeBleakClient(self, device, **kwargs)

    def transport_factory(self) -> MemoryTransport:
        """Use as the driver's `transport_factory`: an in-memory object transfer channel."""
        return MemoryTransport(self._open_channel)

    def _open_channel(self, address: str, psm: int) -> _Channel:
        """Accept a CoC only from a connected label on the OTS PSM."""
        label = self.labels.get(address)
        if label is None or not label.connected or psm != ots.OTS_PSM:
            raise LabelUnreachable(f"simulated: no L2CAP channel to {address} PSM 0x{psm:04X}")
        return _Channel(label)

    def stop_sync_train(self) -> None:
        """The AP stops its PAwR train: synchronized labels start their sync-loss timers."""
        self.train_stopped_at = self.clock()

    def start_sync_train(self) -> None:
        """The AP's PAwR train runs again (labels already unsynchronized stay so until reconnected)."""
        for label in self.labels.values():
            label.advance()
        self.train_stopped_at = None
