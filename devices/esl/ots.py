"""Object Transfer Service control points (OACP, OLCP) as used to upload ESL images (esl.md §9).

Opcodes and result codes follow the Bluetooth OTS specification (as implemented by Zephyr's
`bt_ots`); the reference confirms Go To, Write, Calculate Checksum and the 0x60/0x70 response
opcodes. Object ID of image slot n is 0x100 + n (NCS convention).
"""

from __future__ import annotations

import enum
import struct
import zlib
from dataclasses import dataclass
from typing import Union

from devices.esl.errors import EslProtocolError

IMAGE_OBJECT_ID_BASE = 0x100
OBJECT_ID_MAX = (1 << 48) - 1
OTS_PSM = 0x0025
_OFFSET_LEN = struct.Struct("<II")
_WRITE = struct.Struct("<IIB")
_OBJECT_SIZE = struct.Struct("<II")


def image_object_id(image_index: int) -> int:
    """OTS object ID that holds ESL image slot `image_index`."""
    if not 0 <= image_index <= 0xFF:
        raise EslProtocolError(f"image index must be 0..255, got {image_index}")
    return IMAGE_OBJECT_ID_BASE + image_index


def image_index_of(object_id: int) -> int:
    """ESL image slot held by an OTS object ID."""
    if not IMAGE_OBJECT_ID_BASE <= object_id <= IMAGE_OBJECT_ID_BASE + 0xFF:
        raise EslProtocolError(f"object 0x{object_id:012X} is not an ESL image slot")
    return object_id - IMAGE_OBJECT_ID_BASE


def checksum(data: bytes) -> int:
    """The OTS checksum: CRC-32 (IEEE 802.3, as zlib computes it)."""
    return zlib.crc32(data)


class OacpOpcode(enum.IntEnum):
    """Object Action Control Point opcodes."""

    CREATE = 0x01
    DELETE = 0x02
    CALCULATE_CHECKSUM = 0x03
    EXECUTE = 0x04
    READ = 0x05
    WRITE = 0x06
    ABORT = 0x07
    RESPONSE = 0x60


class OacpResult(enum.IntEnum):
    """OACP result codes."""

    SUCCESS = 0x01
    OPCODE_NOT_SUPPORTED = 0x02
    INVALID_PARAMETER = 0x03
    INSUFFICIENT_RESOURCES = 0x04
    INVALID_OBJECT = 0x05
    CHANNEL_UNAVAILABLE = 0x06
    UNSUPPORTED_TYPE = 0x07
    PROCEDURE_NOT_PERMITTED = 0x08
    OBJECT_LOCKED = 0x09
    OPERATION_FAILED = 0x0A


class OlcpOpcode(enum.IntEnum):
    """Object List Control Point opcodes."""

    FIRST = 0x01
    LAST = 0x02
    PREVIOUS = 0x03
    NEXT = 0x04
    GO_TO = 0x05
    ORDER = 0x06
    REQUEST_NUMBER_OF_OBJECTS = 0x07
    CLEAR_MARKING = 0x08
    RESPONSE = 0x70


class OlcpResult(enum.IntEnum):
    """OLCP result codes."""

    SUCCESS = 0x01
    OPCODE_NOT_SUPPORTED = 0x02
    INVALID_PARAMETER = 0x03
    OPERATION_FAILED = 0x04
    OUT_OF_BOUNDS = 0x05
    TOO_MANY_OBJECTS = 0x06
    NO_OBJECT = 0x07
    OBJECT_ID_NOT_FOUND = 0x08


class WriteMode(enum.IntFlag):
    """OACP Write mode bits (bit 1 = truncate the object at the end of the written data)."""

    NONE = 0
    TRUNCATE = 0x02


@dataclass(frozen=True, slots=True)
class OacpWrite:
    """Open the current object for writing `length` octets at `offset` over the transfer channel."""

    offset: int
    length: int
    mode: WriteMode = WriteMode.TRUNCATE


@dataclass(frozen=True, slots=True)
class OacpCalculateChecksum:
    """Ask for the CRC-32 of `length` octets at `offset` of the current object."""

    offset: int
    length: int


@dataclass(frozen=True, slots=True)
class OacpOther:
    """Any other OACP request, carried opaquely."""

    opcode: int
    params: bytes = b""


OacpRequest = Union[OacpWrite, OacpCalculateChecksum, OacpOther]


@dataclass(frozen=True, slots=True)
class OacpResponse:
    """OACP response: the request opcode, a result and (for Calculate Checksum) the CRC-32."""

    request_opcode: int
    result: int
    checksum: int | None = None

    @property
    def ok(self) -> bool:
        """True when the result is Success."""
        return self.result == OacpResult.SUCCESS


@dataclass(frozen=True, slots=True)
class OlcpGoTo:
    """Make the object with this 48-bit ID the current object."""

    object_id: int


@dataclass(frozen=True, slots=True)
class OlcpSimple:
    """An OLCP request without parameters (First, Last, Previous, Next, ...)."""

    opcode: OlcpOpcode


OlcpRequest = Union[OlcpGoTo, OlcpSimple]


@dataclass(frozen=True, slots=True)
class OlcpResponse:
    """OLCP response: request opcode and result (plus the object count for Request Number of Objects)."""

    request_opcode: int
    result: int
    number_of_objects: int | None = None

    @property
    def ok(self) -> bool:
        """True when the result is Success."""
        return self.result == OlcpResult.SUCCESS


def _u32(name: str, value: int) -> None:
    """Refuse a value that does not fit 32 bits."""
    if not 0 <= value <= 0xFFFFFFFF:
        raise EslProtocolError(f"{name} must fit in 32 bits, got {value}")


def encode_oacp(req: OacpRequest) -> bytes:
    """Serialize an OACP request."""
    match req:
        case OacpWrite(offset=o, length=n, mode=m):
            _u32("offset", o)
            _u32("length", n)
            return bytes((OacpOpcode.WRITE,)) + _WRITE.pack(o, n, int(m))
        case OacpCalculateChecksum(offset=o, length=n):
            _u32("offset", o)
            _u32("length", n)
            return bytes((OacpOpcode.CALCULATE_CHECKSUM,)) + _OFFSET_LEN.pack(o, n)
        case OacpOther(opcode=op, params=p):
            return bytes((op,)) + bytes(p)
    raise TypeError(f"not an OACP request: {req!r}")


def decode_oacp(data: bytes) -> OacpRequest:
    """Parse an OACP request (server side: the simulator)."""
    if not data:
        raise EslProtocolError("empty OACP request")
    data = bytes(data)
    op, params = data[0], data[1:]
    if op == OacpOpcode.WRITE:
        if len(params) != _WRITE.size:
            raise EslProtocolError(f"OACP Write needs {_WRITE.size} parameter octets, got {len(params)}")
        o, n, m = _WRITE.unpack(params)
        return OacpWrite(o, n, WriteMode(m))
    if op == OacpOpcode.CALCULATE_CHECKSUM:
        if len(params) != _OFFSET_LEN.size:
            raise EslProtocolError(f"OACP Calculate Checksum needs 8 parameter octets, got {len(params)}")
        return OacpCalculateChecksum(*_OFFSET_LEN.unpack(params))
    return OacpOther(op, params)


def encode_oacp_response(resp: OacpResponse) -> bytes:
    """Serialize an OACP response (server side)."""
    out = bytes((OacpOpcode.RESPONSE, resp.request_opcode, resp.result))
    return out + (b"" if resp.checksum is None else resp.checksum.to_bytes(4, "little"))


def decode_oacp_response(data: bytes) -> OacpResponse:
    """Parse an OACP response indication."""
    data = bytes(data)
    if len(data) < 3 or data[0] != OacpOpcode.RESPONSE:
        raise EslProtocolError(f"not an OACP response: {data.hex()}")
    req, result, rest = data[1], data[2], data[3:]
    wants_crc = req == OacpOpcode.CALCULATE_CHECKSUM and result == OacpResult.SUCCESS
    if (wants_crc and len(rest) != 4) or (not wants_crc and rest):
        raise EslProtocolError(f"OACP response has a bad length: {data.hex()}")
    return OacpResponse(req, result, int.from_bytes(rest, "little") if wants_crc else None)


def encode_olcp(req: OlcpRequest) -> bytes:
    """Serialize an OLCP request."""
    if isinstance(req, OlcpGoTo):
        if not 0 <= req.object_id <= OBJECT_ID_MAX:
            raise EslProtocolError(f"object ID must fit in 48 bits, got {req.object_id}")
        return bytes((OlcpOpcode.GO_TO,)) + req.object_id.to_bytes(6, "little")
    return bytes((req.opcode,))


def decode_olcp(data: bytes) -> OlcpRequest:
    """Parse an OLCP request (server side)."""
    data = bytes(data)
    if not data:
        raise EslProtocolError("empty OLCP request")
    if data[0] == OlcpOpcode.GO_TO:
        if len(data) != 7:
            raise EslProtocolError(f"OLCP Go To needs a 6-octet object ID, got {len(data) - 1}")
        return OlcpGoTo(int.from_bytes(data[1:], "little"))
    if len(data) != 1 or data[0] not in OlcpOpcode.__members__.values():
        raise EslProtocolError(f"unsupported OLCP request: {data.hex()}")
    return OlcpSimple(OlcpOpcode(data[0]))


def encode_olcp_response(resp: OlcpResponse) -> bytes:
    """Serialize an OLCP response (server side)."""
    out = bytes((OlcpOpcode.RESPONSE, resp.request_opcode, resp.result))
    return out + (b"" if resp.number_of_objects is None else resp.number_of_objects.to_bytes(4, "little"))


def decode_olcp_response(data: bytes) -> OlcpResponse:
    """Parse an OLCP response indication."""
    data = bytes(data)
    if len(data) not in (3, 7) or data[0] != OlcpOpcode.RESPONSE:
        raise EslProtocolError(f"not an OLCP response: {data.hex()}")
    count = int.from_bytes(data[3:], "little") if len(data) == 7 else None
    return OlcpResponse(data[1], data[2], count)


def decode_object_size(data: bytes) -> tuple[int, int]:
    """Object Size characteristic: (current size, allocated size)."""
    if len(data) != _OBJECT_SIZE.size:
        raise EslProtocolError(f"Object Size is 8 octets, got {len(data)}")
    return _OBJECT_SIZE.unpack(bytes(data))


def encode_object_size(current: int, allocated: int) -> bytes:
    """Object Size characteristic value (server side)."""
    return _OBJECT_SIZE.pack(current, allocated)
