"""What an ESL tag does, independent of how the AP reaches it: one implementation for every simulated label.

`TagCore` holds the ESL service, the Object Transfer Service's image slots, LEDs, sensors and
the state machine of esl.md §7, and answers as the reference tags do (esl-radio.md §6). It sees
the radio only as calls: characteristic reads and writes, bytes on the object transfer channel,
connection events, and the plaintext of PAwR sync packets (esl.md §8). The bleak-seam simulator
(`simulator.SimulatedLabel`) and the Bumble virtual tag (`bumble.tag.VirtualTag`) both drive it.
Time is an injected clock; timed commands, LED patterns and sync timers are evaluated lazily when
the tag is touched, so thousands of tags cost no background work.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from PIL import Image

from devices.esl import framebuffer, ots, uuids
from devices.esl.codec import (
    BROADCAST_ESL_ID, BasicState, BasicStateFlag, Command, DisplayImage, DisplayState, DisplayTimedImage,
    EslAddress, ErrorCode, ErrorResponse, FactoryReset, LedControl, LedState, LedTimedControl,
    MAX_ABSOLUTE_TIME_AHEAD_MS, Ping, ReadSensorData, RefreshDisplay, Response, SensorValue, ServiceReset,
    Unassociate, UnknownCommand, UpdateComplete, VendorCommand, decode_command, encode_response, record_length,
    split_address,
)
from devices.esl.errors import EslError, EslProtocolError, FramebufferError, LabelUnreachable
from devices.esl.fridge import Fridge
from devices.esl.info import (
    DisplayInfo, DisplayType, LedInfo, LedType, MeshSensor, SensorInfo, encode_display_info, encode_led_info,
    encode_sensor_info,
)
from devices.esl.led import LedColor, LedParams
from devices.esl.sensors import MeshProperty, encode_temperature8, encode_voltage

LOW_BATTERY_V = 2.4
CRITICAL_BATTERY_V = 2.1
SYNC_PAYLOAD_MAX = 48  # octets of a sync packet's or a response's ESL payload (esl.md §8.2, §8.3)
_WRAP = 1 << 32
_RFU_ADDRESS_BIT = 0x8000

# OTS characteristics the AP does not need but a tag serves (Bluetooth OTS; uuids.py holds the AP's).
OTS_FEATURE = uuids.uuid16(0x2ABD)
OTS_OBJECT_NAME = uuids.uuid16(0x2ABE)
OTS_OBJECT_TYPE = uuids.uuid16(0x2ABF)
OTS_OBJECT_PROPERTIES = uuids.uuid16(0x2AC4)
_UNSPECIFIED_OBJECT_TYPE = 0x2ACA  # NCS gives ESL image objects this type
# OACP features: Calculate Checksum (bit 2), Write (5), Truncation (7), Patching (8); OLCP: Go To (bit 0).
_OTS_FEATURES = (0x0004 | 0x0020 | 0x0080 | 0x0100).to_bytes(4, "little") + (0x0001).to_bytes(4, "little")
_OBJECT_PROPERTIES = (0x04 | 0x08 | 0x40).to_bytes(4, "little")  # Read, Write, Patch (as NCS)
OBJECT_METADATA = (uuids.OTS_OBJECT_SIZE, uuids.OTS_OBJECT_ID, OTS_OBJECT_NAME, OTS_OBJECT_TYPE, OTS_OBJECT_PROPERTIES)


class EslState(enum.Enum):
    """The tag state machine of esl.md §7 (Configured is Configuring with Update Complete received)."""

    UNASSOCIATED = "unassociated"
    CONFIGURING = "configuring"
    SYNCHRONIZED = "synchronized"
    UPDATING = "updating"
    UNSYNCHRONIZED = "unsynchronized"


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


@dataclass(frozen=True, slots=True)
class TagQuirks:
    """The answers in which tag firmwares differ; `REFERENCE` is what Nordic's `peripheral_esl` answers.

    `broadcast_reset_error`: the Error code for Unassociate or Factory Reset sent to ESL ID 0xFF.
    `incomplete_update_error`: the Error code for Update Complete while Configuring is not complete;
    None answers the Basic State (and the tag stays unconfigured, so it is unassociated again once
    the link drops).
    """

    broadcast_reset_error: int
    incomplete_update_error: int | None


REFERENCE = TagQuirks(broadcast_reset_error=ErrorCode.RETRY, incomplete_update_error=None)
#: The spec's wording read strictly, as this project's simulator answered before the reference tags were read.
STRICT = TagQuirks(broadcast_reset_error=ErrorCode.INVALID_PARAMETERS, incomplete_update_error=ErrorCode.INVALID_STATE)


class TagWorld(Protocol):
    """What a tag shares with the tags around it: the clock (seconds) and the AP's sync timers."""

    clock: Callable[[], float]
    sync_timeout_s: float
    unassociated_timeout_s: float


@dataclass(slots=True)
class TagEnvironment:
    """A plain `TagWorld`: the clock and the esl.md §7 timers (60 minutes each by default)."""

    clock: Callable[[], float]
    sync_timeout_s: float = 3600.0
    unassociated_timeout_s: float = 3600.0


class AttError(EslError):
    """The tag refuses a characteristic access with this ATT error code; each transport answers it its own way."""

    def __init__(self, code: int, message: str) -> None:
        """Keep the ATT error code."""
        self.code = code
        super().__init__(f"ATT error 0x{code:02X}: {message}")


@dataclass(frozen=True, slots=True)
class SyncResponse:
    """What a tag sends back for one sync packet: its response slot and the concatenated responses (≤ 48 octets)."""

    slot: int
    payload: bytes


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


class TagCore:
    """One tag: ESL service, OTS image slots, LEDs, sensors and the state machine; no radio."""

    def __init__(
        self, world: TagWorld, address: str, model: LabelModel, *, rng: random.Random, fridge: Fridge | None = None,
        battery_v: float = 3.0, quirks: TagQuirks = REFERENCE, past_required: bool = False,
    ) -> None:
        """Create an unassociated tag.

        `past_required`: Update Complete leads to Synchronized only once the AP's train was handed over
        (`on_synchronized`); without it (a connected-mode AP, no PAwR) Update Complete is enough.
        """
        self.world = world
        self.address = address
        self.model = model
        self.fridge = fridge
        self.battery_v = battery_v
        self.rng = rng
        self.quirks = quirks
        self.past_required = past_required
        self.sensors: tuple[SensorInfo, ...] = (
            ((MeshSensor(MeshProperty.PRESENT_AMBIENT_TEMPERATURE),) if fridge else ())
            + (MeshSensor(MeshProperty.PRESENT_INPUT_VOLTAGE),)
        )
        # radio behaviour and injected faults (the transport applies in_range and connect_failure_rate)
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
        self.connections = 0
        self.pa_synced = False  # listening to the AP's train
        self._sync_heard_at = 0.0
        self._unsynced_at = 0.0
        self._completed = False
        self._unassociate = False
        self._factory_reset = False
        self._current_object: int | None = None
        self._write: _Write | None = None

    # --- time ----------------------------------------------------------------------------

    def now(self) -> float:
        """The world's clock in seconds."""
        return self.world.clock()

    def absolute_time_ms(self) -> int | None:
        """The tag's own ms counter (None until the AP sets it)."""
        if self._time_base is None:
            return None
        base, set_at = self._time_base
        return int(base + (self.now() - set_at) * 1000) % _WRAP

    def set_absolute_time(self, ms: int) -> None:
        """Start the tag's ms counter at `ms` now (what a write of Current Absolute Time does)."""
        self._time_base = (ms % _WRAP, self.now())

    def advance(self) -> None:
        """Apply everything that became due since the tag was last touched."""
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

    def last_sync_heard(self) -> float:
        """When the tag last heard its AP's train: a valid sync packet, or the sync itself."""
        return self._sync_heard_at

    def state_deadline(self) -> float | None:
        """When the sync timers will next change the state by themselves (None: they will not)."""
        if self.state is EslState.SYNCHRONIZED:
            return self.last_sync_heard() + self.world.sync_timeout_s
        if self.state is EslState.UNSYNCHRONIZED:
            return self._unsynced_at + self.world.unassociated_timeout_s
        return None

    def _run_sync_timers(self) -> None:
        """Synchronized -> Unsynchronized after the sync timeout without the train -> Unassociated after another."""
        if self.state is EslState.SYNCHRONIZED:
            lost_at = self.last_sync_heard() + self.world.sync_timeout_s
            if self.now() >= lost_at:
                self.state = EslState.UNSYNCHRONIZED
                self.pa_synced = False
                self._unsynced_at = lost_at
        unsynced_for = self.now() - self._unsynced_at
        if self.state is EslState.UNSYNCHRONIZED and unsynced_for >= self.world.unassociated_timeout_s:
            self._wipe_config()
            self.state = EslState.UNASSOCIATED

    # --- observable state ----------------------------------------------------------------

    @property
    def advertising(self) -> bool:
        """True while the tag sends connectable adverts with the ESL service UUID (it needs its AP)."""
        self.advance()
        return self.in_range and not self.connected and self.state in (
            EslState.UNASSOCIATED, EslState.UNSYNCHRONIZED)

    def displayed_image(self, display: int = 0) -> Image.Image | None:
        """The image a display shows, decoded from its slot (None when blank)."""
        data = self.displayed_bytes(display)
        if data is None:
            return None
        info = self.model.displays[display]
        return framebuffer.unpack(data, info.width, info.height, info.display_type)

    def displayed_bytes(self, display: int = 0) -> bytes | None:
        """The framebuffer bytes a display shows (None when blank)."""
        self.advance()
        index = self.shown[display]
        return None if index is None else self.slots[index]

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
        if self.pa_synced and self.state is not EslState.UNSYNCHRONIZED:
            flags |= BasicStateFlag.SYNCHRONIZED
        if any(r is not None and r.active(self.now()) for r in self.leds):
            flags |= BasicStateFlag.ACTIVE_LED
        if self.pending_led:
            flags |= BasicStateFlag.PENDING_LED_UPDATE
        if self.pending_display:
            flags |= BasicStateFlag.PENDING_DISPLAY_UPDATE
        return flags

    def temperature(self) -> float | None:
        """What the tag measures now: None without a fridge or once its probe failed (sent as 0x7F, unknown)."""
        return None if self.fridge is None else self.fridge.measured(self.now())

    # --- connection lifecycle ------------------------------------------------------------

    def on_connect(self) -> None:
        """An AP connected: Configuring (new tag) or Updating (known tag)."""
        self.advance()
        self.connected = True
        self.connections += 1
        self._completed = self._unassociate = self._factory_reset = False
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
        elif self._completed and (self.pa_synced or not self.past_required):
            self.state = EslState.SYNCHRONIZED
            self.pa_synced = True
            self._sync_heard_at = self.now()
        elif self.state is EslState.CONFIGURING and not self._completed:
            self._wipe_config()
            self.state = EslState.UNASSOCIATED
        elif self.state in (EslState.CONFIGURING, EslState.UPDATING):
            self.state = EslState.SYNCHRONIZED if self.pa_synced else EslState.UNSYNCHRONIZED
            self._unsynced_at = self.now()

    def _wipe_config(self) -> None:
        """Forget address, keys, time and the sync (images stay unless factory reset)."""
        self.esl_address = self.ap_sync_key = self.response_key = None
        self._time_base = None
        self.pa_synced = False
        self.pending_display.clear()
        self.pending_led.clear()

    def configured(self) -> bool:
        """All four items of Configuring are written."""
        return None not in (self.esl_address, self.ap_sync_key, self.response_key, self._time_base)

    # --- PAwR ----------------------------------------------------------------------------

    def on_synchronized(self) -> None:
        """The AP handed over its train (PAST) or the tag found it: from now on it listens to its group's subevent.

        Ignored until the tag is configured. A tag in Configuring or Updating becomes Synchronized
        when the link drops after Update Complete; an Unsynchronized one at once.
        """
        self.advance()
        if not self.configured():
            return
        self.pa_synced = True
        self._sync_heard_at = self.now()
        if self.state is EslState.UNSYNCHRONIZED:
            self.state = EslState.SYNCHRONIZED

    def on_sync_lost(self) -> None:
        """The controller lost the train: a Synchronized tag is Unsynchronized (and advertises) from now on."""
        self.advance()
        self.pa_synced = False
        if self.state is EslState.SYNCHRONIZED:
            self.state = EslState.UNSYNCHRONIZED
            self._unsynced_at = self.now()

    def handle_sync_packet(self, payload: bytes) -> SyncResponse | None:
        """Execute one decrypted sync packet: `payload` is the ESL AD data, Group_ID then commands (≤ 48 octets).

        Only a Synchronized tag listens, and only to its own group. It executes every command for its
        ESL ID or 0xFF, in order, and answers only the unicast ones: their responses concatenated, in
        the slot of the last command addressed to it (NCS); a response that no longer fits 48 octets is
        replaced by Error 0x07 Capacity Limit. A record that does not fit the packet ends the walk.
        """
        self.advance()
        if (self.state is not EslState.SYNCHRONIZED or self.esl_address is None or not payload
                or len(payload) > SYNC_PAYLOAD_MAX or payload[0] != self.esl_address.group_id):
            return None
        self._sync_heard_at = self.now()
        own = self.esl_address.esl_id
        answers: list[bytes] = []
        slot, pos, index, full = None, 1, 0, False
        while pos < len(payload) and pos + record_length(payload[pos]) <= len(payload):
            record = bytes(payload[pos:pos + record_length(payload[pos])])
            pos, index = pos + len(record), index + 1
            if record[1] not in (own, BROADCAST_ESL_ID):
                continue
            response = self._run_record(record, over_sync=True)
            if record[1] != own or response is None:
                continue
            slot = index - 1
            encoded = encode_response(response)
            if full:
                continue
            if sum(map(len, answers)) + len(encoded) > SYNC_PAYLOAD_MAX:
                full = True
                while answers and sum(map(len, answers)) + 2 > SYNC_PAYLOAD_MAX:
                    answers.pop()
                encoded = encode_response(ErrorResponse(ErrorCode.CAPACITY_LIMIT))
            answers.append(encoded)
        if self._unassociate:
            self._unassociate = False
            self._wipe_config()
            self.state = EslState.UNASSOCIATED
        return None if slot is None else SyncResponse(slot, b"".join(answers))

    # --- GATT: ESL service and OTS ---------------------------------------------------------

    def read(self, uuid: str) -> bytes:
        """Value of a readable characteristic; raises AttError as the tag would refuse it."""
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
        if uuid == OTS_FEATURE:
            return _OTS_FEATURES
        if uuid in OBJECT_METADATA:
            return self._object_metadata(uuid)
        raise AttError(0x02, f"read not permitted on {uuid}")

    def _object_metadata(self, uuid: str) -> bytes:
        """Name, type, size, ID or properties of the current object (OTS error 0x81 when none is selected)."""
        index = self._current_object
        if index is None:
            raise AttError(0x81, "no current object")
        if uuid == uuids.OTS_OBJECT_SIZE:
            return ots.encode_object_size(len(self.slots[index] or b""), self.model.slot_size)
        if uuid == uuids.OTS_OBJECT_ID:
            return ots.image_object_id(index).to_bytes(6, "little")
        if uuid == OTS_OBJECT_NAME:
            return f"esl_image_{index:02X}".encode()
        if uuid == OTS_OBJECT_TYPE:
            return _UNSPECIFIED_OBJECT_TYPE.to_bytes(2, "little")
        return _OBJECT_PROPERTIES

    def write(self, uuid: str, data: bytes) -> bytes | None:
        """Handle a characteristic write; returns the notification/indication to send, if any."""
        self.advance()
        match uuid:
            case uuids.ESL_ADDRESS:
                if len(data) != 2:
                    raise AttError(0x0D, "Invalid Attribute Value Length")
                try:  # NCS clears the RFU top bit and takes the rest
                    address = EslAddress(*split_address(int.from_bytes(data, "little") & ~_RFU_ADDRESS_BIT))
                except EslProtocolError as err:
                    raise AttError(0x13, f"Value Not Allowed: {err}") from err
                self.esl_address = address
                return None
            case uuids.AP_SYNC_KEY_MATERIAL | uuids.ESL_RESPONSE_KEY_MATERIAL:
                if len(data) != 24:
                    raise AttError(0x0D, "Invalid Attribute Value Length")
                if uuid == uuids.AP_SYNC_KEY_MATERIAL:
                    self.ap_sync_key = bytes(data)
                else:
                    self.response_key = bytes(data)
                return None
            case uuids.ESL_CURRENT_ABSOLUTE_TIME:
                if len(data) != 4:
                    raise AttError(0x0D, "Invalid Attribute Value Length")
                self.set_absolute_time(int.from_bytes(data, "little"))
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
        raise AttError(0x03, f"write not permitted on {uuid}")

    def control_point(self, data: bytes) -> bytes | None:
        """One ECP write in, the encoded response out (None: no response, as for Factory Reset)."""
        if not data or len(data) != record_length(data[0]):
            return encode_response(ErrorResponse(ErrorCode.INVALID_PARAMETERS))
        response = self._run_record(data, over_sync=False)
        return None if response is None else encode_response(response)

    def _run_record(self, record: bytes, *, over_sync: bool) -> Response | None:
        """Decode and apply one whole command record; undecodable parameters are Invalid Parameter(s)."""
        try:
            cmd = decode_command(record)
        except EslProtocolError:
            return ErrorResponse(ErrorCode.INVALID_PARAMETERS)
        return self._execute(cmd, over_sync=over_sync)

    def _execute(self, cmd: Command, *, over_sync: bool) -> Response | None:
        """Apply one decoded command (from the control point, or from a sync packet when `over_sync`)."""
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
                    return ErrorResponse(self.quirks.broadcast_reset_error)
                self._unassociate = True
                return BasicState(self.basic_state())
            case ServiceReset():
                self.service_needed = False
                return BasicState(self.basic_state() & ~BasicStateFlag.SERVICE_NEEDED)
            case FactoryReset():
                if cmd.esl_id == BROADCAST_ESL_ID:
                    return ErrorResponse(self.quirks.broadcast_reset_error)
                if over_sync:
                    return ErrorResponse(ErrorCode.INVALID_STATE)
                self._factory_reset = True
                return None
            case UpdateComplete():
                return self._update_complete(over_sync)
            case ReadSensorData(sensor_index=i):
                return self._read_sensor(i)
            case RefreshDisplay(display_index=d):
                if not 0 <= d < len(self.shown):
                    return ErrorResponse(ErrorCode.INVALID_PARAMETERS)
                shown = self.shown[d]
                return ErrorResponse(ErrorCode.INVALID_IMAGE_INDEX) if shown is None else DisplayState(d, shown)
            case DisplayImage(display_index=d, image_index=i):
                if (error := self._image_error(d, i)) is not None:
                    return error
                self.shown[d] = i
                self.pending_display.pop(d, None)
                return DisplayState(d, i)
            case DisplayTimedImage(display_index=d, image_index=i, absolute_time=t):
                if (error := self._image_error(d, i)) is not None:  # NCS checks the image before a cancel too
                    return error
                return self._schedule(self.pending_display, d, t, i) or DisplayState(d, i)
            case LedControl(led_index=i, led=params):
                if (error := self._led_error(i, params)) is not None:
                    return error
                self.pending_led.pop(i, None)
                self._start_led(i, params, self.now())
                return LedState(i)
            case LedTimedControl(led_index=i, led=params, absolute_time=t):
                if (error := self._led_error(i, params)) is not None:
                    return error
                return self._schedule(self.pending_led, i, t, params) or LedState(i)
        return ErrorResponse(ErrorCode.INVALID_OPCODE)

    def _update_complete(self, over_sync: bool) -> Response:
        """End Configuring/Updating; only meaningful over the link that configures the tag."""
        if over_sync:
            return ErrorResponse(ErrorCode.INVALID_STATE)
        if self.state is EslState.CONFIGURING and not self.configured():
            code = self.quirks.incomplete_update_error
            return BasicState(self.basic_state()) if code is None else ErrorResponse(code)
        self._completed = True
        return BasicState(self.basic_state())

    def _schedule(self, queue: dict[int, Any], index: int, t: int, payload: Any) -> ErrorResponse | None:
        """Queue, replace or cancel (t = 0) a timed command; one pending per display/LED; 48 days is too far."""
        if t == 0:
            queue.pop(index, None)
            return None
        now_ms = self.absolute_time_ms()
        if now_ms is None:
            return ErrorResponse(ErrorCode.INVALID_STATE)
        if (t - now_ms) % _WRAP >= MAX_ABSOLUTE_TIME_AHEAD_MS:
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

    def _led_error(self, led: int, params: LedParams) -> ErrorResponse | None:
        """Why an LED command is refused: no such LED, or a pattern with no on bit to repeat (Silicon Labs)."""
        if not 0 <= led < len(self.leds):
            return ErrorResponse(ErrorCode.INVALID_PARAMETERS)
        if params.pattern == 0 and not params.is_steady:
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

    # --- Object Transfer ------------------------------------------------------------------

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
        """Bytes arriving on the object transfer channel (refused without an OACP Write)."""
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
