"""ESL control-point records: commands, responses, the ESL address, walking concatenated records.

Pure bytes in, dataclasses out. Every record is `(L << 4) | T` followed by L + 1 octets;
all multi-octet fields are little-endian (reference esl.md §2-§3).
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass
from typing import Union

from devices.esl.errors import EslProtocolError
from devices.esl.led import LedParams

BROADCAST_ESL_ID = 0xFF
MAX_GROUP_ID = 0x7F
MAX_ESL_ID = 0xFE
MAX_ABSOLUTE_TIME_AHEAD_MS = 4_147_200_000


def record_length(opcode: int) -> int:
    """Total octets of the record that starts with `opcode` (its high nibble + 2)."""
    return (opcode >> 4) + 2


def is_vendor_opcode(opcode: int) -> bool:
    """Vendor-specific commands and responses have 0xF in the low nibble."""
    return opcode & 0x0F == 0x0F


# --- ESL address -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, order=True)
class EslAddress:
    """A label's 15-bit ESL address: Group_ID (0..127, the PAwR subevent) and ESL_ID (0..254)."""

    group_id: int
    esl_id: int

    def __post_init__(self) -> None:
        """A tag refuses the broadcast ID and anything outside 7 + 8 bits."""
        if not 0 <= self.group_id <= MAX_GROUP_ID:
            raise EslProtocolError(f"Group_ID must be 0..{MAX_GROUP_ID}, got {self.group_id}")
        if not 0 <= self.esl_id <= MAX_ESL_ID:
            raise EslProtocolError(f"ESL_ID must be 0..{MAX_ESL_ID} (0xFF is broadcast), got {self.esl_id}")

    @property
    def value(self) -> int:
        """The uint16 written to the ESL Address characteristic."""
        return esl_address(self.group_id, self.esl_id)

    def encode(self) -> bytes:
        """Two octets, little-endian, as written to characteristic 0x2BF6."""
        return self.value.to_bytes(2, "little")

    @classmethod
    def decode(cls, data: bytes) -> EslAddress:
        """Parse the 2-octet characteristic value."""
        if len(data) != 2:
            raise EslProtocolError(f"ESL address is 2 octets, got {len(data)}")
        return cls(*split_address(int.from_bytes(data, "little")))


def esl_address(group_id: int, esl_id: int) -> int:
    """Pack Group_ID (bits 14..8) and ESL_ID (bits 7..0) into the uint16 address."""
    if not 0 <= group_id <= MAX_GROUP_ID or not 0 <= esl_id <= BROADCAST_ESL_ID:
        raise EslProtocolError(f"address out of range: group {group_id}, esl_id {esl_id}")
    return group_id << 8 | esl_id


def split_address(value: int) -> tuple[int, int]:
    """Unpack the uint16 address into (Group_ID, ESL_ID); the RFU bit 15 must be clear."""
    if not 0 <= value <= 0x7FFF:
        raise EslProtocolError(f"ESL address 0x{value:04X} has the RFU bit set or is out of range")
    return value >> 8, value & 0xFF


# --- commands (AP -> ESL) --------------------------------------------------------------------


class CommandOpcode(enum.IntEnum):
    """Opcodes of the commands the ESL service defines (vendor ones are any 0x?F)."""

    PING = 0x00
    UNASSOCIATE = 0x01
    SERVICE_RESET = 0x02
    FACTORY_RESET = 0x03
    UPDATE_COMPLETE = 0x04
    READ_SENSOR_DATA = 0x10
    REFRESH_DISPLAY = 0x11
    DISPLAY_IMAGE = 0x20
    DISPLAY_TIMED_IMAGE = 0x60
    LED_CONTROL = 0xB0
    LED_TIMED_CONTROL = 0xF0


@dataclass(frozen=True, slots=True)
class Ping:
    """Ask for the Basic State."""

    esl_id: int
    OPCODE = CommandOpcode.PING


@dataclass(frozen=True, slots=True)
class Unassociate:
    """Tell the tag to forget this AP (unbond, back to Unassociated)."""

    esl_id: int
    OPCODE = CommandOpcode.UNASSOCIATE


@dataclass(frozen=True, slots=True)
class ServiceReset:
    """Clear the Service Needed bit."""

    esl_id: int
    OPCODE = CommandOpcode.SERVICE_RESET


@dataclass(frozen=True, slots=True)
class FactoryReset:
    """Wipe images, keys and bond; the tag sends no response."""

    esl_id: int
    OPCODE = CommandOpcode.FACTORY_RESET


@dataclass(frozen=True, slots=True)
class UpdateComplete:
    """End a Configuring/Updating connection."""

    esl_id: int
    OPCODE = CommandOpcode.UPDATE_COMPLETE


@dataclass(frozen=True, slots=True)
class ReadSensorData:
    """Ask for the value of one sensor."""

    esl_id: int
    sensor_index: int
    OPCODE = CommandOpcode.READ_SENSOR_DATA


@dataclass(frozen=True, slots=True)
class RefreshDisplay:
    """Redraw the image currently shown on a display."""

    esl_id: int
    display_index: int
    OPCODE = CommandOpcode.REFRESH_DISPLAY


@dataclass(frozen=True, slots=True)
class DisplayImage:
    """Show a stored image slot on a display now."""

    esl_id: int
    display_index: int
    image_index: int
    OPCODE = CommandOpcode.DISPLAY_IMAGE


@dataclass(frozen=True, slots=True)
class DisplayTimedImage:
    """Show a stored image slot when the tag clock reaches `absolute_time` ms (0 cancels)."""

    esl_id: int
    display_index: int
    image_index: int
    absolute_time: int
    OPCODE = CommandOpcode.DISPLAY_TIMED_IMAGE


@dataclass(frozen=True, slots=True)
class LedControl:
    """Run an LED pattern now (replaces whatever that LED was doing)."""

    esl_id: int
    led_index: int
    led: LedParams
    OPCODE = CommandOpcode.LED_CONTROL


@dataclass(frozen=True, slots=True)
class LedTimedControl:
    """Run an LED pattern when the tag clock reaches `absolute_time` ms (0 cancels)."""

    esl_id: int
    led_index: int
    led: LedParams
    absolute_time: int
    OPCODE = CommandOpcode.LED_TIMED_CONTROL


@dataclass(frozen=True, slots=True)
class VendorCommand:
    """A vendor-specific command (opcode 0x?F): ESL_ID then opaque vendor data."""

    opcode: int
    esl_id: int
    data: bytes = b""


@dataclass(frozen=True, slots=True)
class UnknownCommand:
    """An RFU opcode, kept whole so a walker can skip it and a tag can answer Invalid Opcode."""

    opcode: int
    esl_id: int
    data: bytes = b""


Command = Union[
    Ping, Unassociate, ServiceReset, FactoryReset, UpdateComplete, ReadSensorData, RefreshDisplay,
    DisplayImage, DisplayTimedImage, LedControl, LedTimedControl, VendorCommand, UnknownCommand,
]

_SIMPLE_COMMANDS: dict[int, type] = {
    c.OPCODE: c for c in (Ping, Unassociate, ServiceReset, FactoryReset, UpdateComplete)
}
_U8 = struct.Struct("<B")
_TIMED_IMAGE = struct.Struct("<BBI")
_U32 = struct.Struct("<I")


def _check_u8(name: str, value: int) -> None:
    """Refuse a value that does not fit one octet."""
    if not 0 <= value <= 0xFF:
        raise EslProtocolError(f"{name} must be 0..255, got {value}")


def _check_u32(name: str, value: int) -> None:
    """Refuse a value that does not fit four octets."""
    if not 0 <= value <= 0xFFFFFFFF:
        raise EslProtocolError(f"{name} must fit in 32 bits, got {value}")


def _command_params(cmd: Command) -> bytes:
    """The parameters after ESL_ID, validated."""
    match cmd:
        case ReadSensorData(sensor_index=i) | RefreshDisplay(display_index=i):
            _check_u8("index", i)
            return bytes((i,))
        case DisplayImage(display_index=d, image_index=i):
            _check_u8("display_index", d)
            _check_u8("image_index", i)
            return bytes((d, i))
        case DisplayTimedImage(display_index=d, image_index=i, absolute_time=t):
            _check_u8("display_index", d)
            _check_u8("image_index", i)
            _check_u32("absolute_time", t)
            return _TIMED_IMAGE.pack(d, i, t)
        case LedControl(led_index=i, led=led):
            _check_u8("led_index", i)
            return bytes((i,)) + led.encode()
        case LedTimedControl(led_index=i, led=led, absolute_time=t):
            _check_u8("led_index", i)
            _check_u32("absolute_time", t)
            return bytes((i,)) + led.encode() + _U32.pack(t)
        case VendorCommand(data=data) | UnknownCommand(data=data):
            return bytes(data)
        case _:
            return b""


def command_opcode(cmd: Command) -> int:
    """The opcode octet of a command object."""
    if isinstance(cmd, (VendorCommand, UnknownCommand)):
        return cmd.opcode
    return int(cmd.OPCODE)


def encode_command(cmd: Command) -> bytes:
    """Serialize one command; the length must agree with the opcode's high nibble."""
    opcode = command_opcode(cmd)
    _check_u8("opcode", opcode)
    _check_u8("esl_id", cmd.esl_id)
    if isinstance(cmd, VendorCommand) and not is_vendor_opcode(opcode):
        raise EslProtocolError(f"vendor command needs an opcode 0x?F, got 0x{opcode:02X}")
    out = bytes((opcode, cmd.esl_id)) + _command_params(cmd)
    if len(out) != record_length(opcode):
        raise EslProtocolError(
            f"opcode 0x{opcode:02X} needs {record_length(opcode)} octets, parameters give {len(out)}"
        )
    return out


def encode_commands(cmds: list[Command]) -> bytes:
    """Concatenate several commands, as in a sync packet."""
    return b"".join(encode_command(c) for c in cmds)


def _decode_command_record(record: bytes) -> Command:
    """Build the command object from exactly one whole record."""
    opcode, esl_id, params = record[0], record[1], record[2:]
    if opcode in _SIMPLE_COMMANDS:
        return _SIMPLE_COMMANDS[opcode](esl_id)
    match opcode:
        case CommandOpcode.READ_SENSOR_DATA:
            return ReadSensorData(esl_id, params[0])
        case CommandOpcode.REFRESH_DISPLAY:
            return RefreshDisplay(esl_id, params[0])
        case CommandOpcode.DISPLAY_IMAGE:
            return DisplayImage(esl_id, params[0], params[1])
        case CommandOpcode.DISPLAY_TIMED_IMAGE:
            return DisplayTimedImage(esl_id, *_TIMED_IMAGE.unpack(params))
        case CommandOpcode.LED_CONTROL:
            return LedControl(esl_id, params[0], LedParams.decode(params[1:]))
        case CommandOpcode.LED_TIMED_CONTROL:
            return LedTimedControl(esl_id, params[0], LedParams.decode(params[1:11]), _U32.unpack(params[11:])[0])
    if is_vendor_opcode(opcode):
        return VendorCommand(opcode, esl_id, bytes(params))
    return UnknownCommand(opcode, esl_id, bytes(params))


def _split_records(payload: bytes) -> list[bytes]:
    """Cut a payload into records by each opcode's length nibble; a short tail is an error."""
    records, pos = [], 0
    while pos < len(payload):
        length = record_length(payload[pos])
        if pos + length > len(payload):
            raise EslProtocolError(
                f"record at offset {pos} (opcode 0x{payload[pos]:02X}) needs {length} octets,"
                f" only {len(payload) - pos} left"
            )
        records.append(bytes(payload[pos:pos + length]))
        pos += length
    return records


def decode_command(data: bytes) -> Command:
    """Parse exactly one command (one control-point write); a length mismatch is an error."""
    if not data:
        raise EslProtocolError("empty command")
    if len(data) != record_length(data[0]):
        raise EslProtocolError(
            f"opcode 0x{data[0]:02X} needs {record_length(data[0])} octets, got {len(data)}"
        )
    return _decode_command_record(bytes(data))


def decode_commands(payload: bytes) -> list[Command]:
    """Parse several concatenated commands, walking by the length nibble."""
    return [_decode_command_record(r) for r in _split_records(payload)]


# --- responses (ESL -> AP) -------------------------------------------------------------------


class ResponseOpcode(enum.IntEnum):
    """Opcodes of the fixed-size responses (Sensor Value is 0x?E, vendor 0x?F)."""

    ERROR = 0x00
    LED_STATE = 0x01
    BASIC_STATE = 0x10
    DISPLAY_STATE = 0x11


class ErrorCode(enum.IntEnum):
    """Error_Code values of the Error response (0x0D-0xEF RFU, 0xF0-0xFF vendor)."""

    UNSPECIFIED_ERROR = 0x01
    INVALID_OPCODE = 0x02
    INVALID_STATE = 0x03
    INVALID_IMAGE_INDEX = 0x04
    IMAGE_NOT_AVAILABLE = 0x05
    INVALID_PARAMETERS = 0x06
    CAPACITY_LIMIT = 0x07
    INSUFFICIENT_BATTERY = 0x08
    INSUFFICIENT_RESOURCES = 0x09
    RETRY = 0x0A
    QUEUE_FULL = 0x0B
    IMPLAUSIBLE_ABSOLUTE_TIME = 0x0C


def error_name(code: int) -> str:
    """A readable name for any error code, including RFU and vendor-specific ones."""
    try:
        return ErrorCode(code).name.lower()
    except ValueError:
        return "vendor_specific" if code >= 0xF0 else "rfu"


class BasicStateFlag(enum.IntFlag, boundary=enum.KEEP):
    """Bits of the Basic State response (bits 5..15 RFU are kept, not dropped)."""

    SERVICE_NEEDED = 1 << 0
    SYNCHRONIZED = 1 << 1
    ACTIVE_LED = 1 << 2
    PENDING_LED_UPDATE = 1 << 3
    PENDING_DISPLAY_UPDATE = 1 << 4


@dataclass(frozen=True, slots=True)
class ErrorResponse:
    """The tag refused a command; `code` may be a value ErrorCode does not name."""

    code: int

    @property
    def name(self) -> str:
        """Readable error name."""
        return error_name(self.code)


@dataclass(frozen=True, slots=True)
class LedState:
    """Acknowledges an LED command."""

    led_index: int


@dataclass(frozen=True, slots=True)
class BasicState:
    """The tag's status bits."""

    flags: BasicStateFlag


@dataclass(frozen=True, slots=True)
class DisplayState:
    """Which image a display shows (or will show, for a timed command)."""

    display_index: int
    image_index: int


@dataclass(frozen=True, slots=True)
class SensorValue:
    """Raw data of one sensor (0..15 octets); interpret it with `sensors.interpret`."""

    sensor_index: int
    data: bytes


@dataclass(frozen=True, slots=True)
class VendorResponse:
    """A vendor-specific response (opcode 0x?F)."""

    opcode: int
    data: bytes = b""


@dataclass(frozen=True, slots=True)
class UnknownResponse:
    """An RFU response opcode, kept so a walker can skip it."""

    opcode: int
    data: bytes = b""


Response = Union[ErrorResponse, LedState, BasicState, DisplayState, SensorValue, VendorResponse, UnknownResponse]

_U16 = struct.Struct("<H")


def response_opcode(resp: Response) -> int:
    """The opcode octet of a response object."""
    match resp:
        case ErrorResponse():
            return ResponseOpcode.ERROR
        case LedState():
            return ResponseOpcode.LED_STATE
        case BasicState():
            return ResponseOpcode.BASIC_STATE
        case DisplayState():
            return ResponseOpcode.DISPLAY_STATE
        case SensorValue(data=data):
            if len(data) > 15:
                raise EslProtocolError(f"sensor data is at most 15 octets, got {len(data)}")
            return len(data) << 4 | 0x0E
        case _:
            return resp.opcode


def encode_response(resp: Response) -> bytes:
    """Serialize one response."""
    opcode = response_opcode(resp)
    _check_u8("opcode", opcode)
    match resp:
        case ErrorResponse(code=c) | LedState(led_index=c):
            _check_u8("parameter", c)
            body = bytes((c,))
        case BasicState(flags=f):
            if not 0 <= int(f) <= 0xFFFF:
                raise EslProtocolError("Basic State is 16 bits")
            body = _U16.pack(int(f))
        case DisplayState(display_index=d, image_index=i):
            _check_u8("display_index", d)
            _check_u8("image_index", i)
            body = bytes((d, i))
        case SensorValue(sensor_index=i, data=data):
            _check_u8("sensor_index", i)
            body = bytes((i,)) + bytes(data)
        case _:
            body = bytes(resp.data)
    out = bytes((opcode,)) + body
    if len(out) != record_length(opcode):
        raise EslProtocolError(f"response 0x{opcode:02X} needs {record_length(opcode)} octets, got {len(out)}")
    return out


def encode_responses(resps: list[Response]) -> bytes:
    """Concatenate several responses, as in a response slot."""
    return b"".join(encode_response(r) for r in resps)


def _decode_response_record(record: bytes) -> Response:
    """Build the response object from exactly one whole record."""
    opcode, params = record[0], record[1:]
    match opcode:
        case ResponseOpcode.ERROR:
            return ErrorResponse(params[0])
        case ResponseOpcode.LED_STATE:
            return LedState(params[0])
        case ResponseOpcode.BASIC_STATE:
            return BasicState(BasicStateFlag(_U16.unpack(params)[0]))
        case ResponseOpcode.DISPLAY_STATE:
            return DisplayState(params[0], params[1])
    if opcode & 0x0F == 0x0E:
        return SensorValue(params[0], bytes(params[1:]))
    if is_vendor_opcode(opcode):
        return VendorResponse(opcode, bytes(params))
    return UnknownResponse(opcode, bytes(params))


def decode_response(data: bytes) -> Response:
    """Parse exactly one response (one notification)."""
    if not data:
        raise EslProtocolError("empty response")
    if len(data) != record_length(data[0]):
        raise EslProtocolError(f"response 0x{data[0]:02X} needs {record_length(data[0])} octets, got {len(data)}")
    return _decode_response_record(bytes(data))


def decode_responses(payload: bytes) -> list[Response]:
    """Parse several concatenated responses, walking by the length nibble."""
    return [_decode_response_record(r) for r in _split_records(payload)]
