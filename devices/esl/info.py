"""The ESL read-only information characteristics: displays, image slots, sensors, LEDs (esl.md §1, §5.3, §6.1)."""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass
from typing import Union

from devices.esl.errors import EslProtocolError
from devices.esl.led import LedColor

_DISPLAY = struct.Struct("<HHB")
_MESH_SENSOR = struct.Struct("<BH")
_VENDOR_SENSOR = struct.Struct("<BHH")


class DisplayType(enum.IntEnum):
    """SIG assigned display types."""

    BLACK_WHITE = 0x01
    GRAY_3 = 0x02
    GRAY_4 = 0x03
    GRAY_8 = 0x04
    GRAY_16 = 0x05
    RED_BLACK_WHITE = 0x06
    YELLOW_BLACK_WHITE = 0x07
    RED_YELLOW_BLACK_WHITE = 0x08
    COLOR_7 = 0x09
    COLOR_16 = 0x0A
    FULL_RGB = 0x0B


@dataclass(frozen=True, slots=True)
class DisplayInfo:
    """One display of a label: size in pixels and SIG display type (index = record position)."""

    width: int
    height: int
    display_type: int


def parse_display_info(data: bytes) -> list[DisplayInfo]:
    """Decode the Display Information value: 5-octet records."""
    if len(data) % _DISPLAY.size:
        raise EslProtocolError(f"Display Information length {len(data)} is not a multiple of 5")
    return [DisplayInfo(*rec) for rec in _DISPLAY.iter_unpack(bytes(data))]


def encode_display_info(displays: list[DisplayInfo]) -> bytes:
    """Encode the Display Information value (used by the simulator)."""
    return b"".join(_DISPLAY.pack(d.width, d.height, d.display_type) for d in displays)


def parse_image_info(data: bytes) -> int:
    """Decode Image Information: Max_Image_Index (slots - 1)."""
    if len(data) != 1:
        raise EslProtocolError(f"Image Information is 1 octet, got {len(data)}")
    return data[0]


@dataclass(frozen=True, slots=True)
class MeshSensor:
    """A sensor described by a Bluetooth Mesh device property ID (e.g. 0x004F temperature)."""

    property_id: int


@dataclass(frozen=True, slots=True)
class VendorSensor:
    """A vendor sensor: Company ID plus the vendor's sensor code."""

    company_id: int
    sensor_code: int


SensorInfo = Union[MeshSensor, VendorSensor]


def parse_sensor_info(data: bytes) -> list[SensorInfo]:
    """Decode Sensor Information: variable records chosen by their Size octet."""
    data, pos = bytes(data), 0
    out: list[SensorInfo] = []
    while pos < len(data):
        size = data[pos]
        if size == 0x00 and pos + _MESH_SENSOR.size <= len(data):
            out.append(MeshSensor(_MESH_SENSOR.unpack_from(data, pos)[1]))
            pos += _MESH_SENSOR.size
        elif size == 0x01 and pos + _VENDOR_SENSOR.size <= len(data):
            out.append(VendorSensor(*_VENDOR_SENSOR.unpack_from(data, pos)[1:]))
            pos += _VENDOR_SENSOR.size
        else:
            raise EslProtocolError(f"bad or truncated sensor record at offset {pos} (size octet 0x{size:02X})")
    return out


def encode_sensor_info(sensors: list[SensorInfo]) -> bytes:
    """Encode Sensor Information (used by the simulator)."""
    return b"".join(
        _MESH_SENSOR.pack(0, s.property_id) if isinstance(s, MeshSensor)
        else _VENDOR_SENSOR.pack(1, s.company_id, s.sensor_code)
        for s in sensors
    )


class LedType(enum.IntEnum):
    """Bits 7..6 of an LED Information octet (2 and 3 are RFU)."""

    SRGB = 0
    MONOCHROME = 1
    RFU_2 = 2
    RFU_3 = 3


@dataclass(frozen=True, slots=True)
class LedInfo:
    """One LED: sRGB or monochrome, and its colour bits (fixed colour for monochrome; informational for sRGB)."""

    led_type: LedType
    color: LedColor

    def encode(self) -> int:
        """The LED Information octet."""
        return self.led_type << 6 | (self.color.to_octet() & 0x3F)


def parse_led_info(data: bytes) -> list[LedInfo]:
    """Decode LED Information: one octet per LED."""
    return [LedInfo(LedType(b >> 6), LedColor.from_octet(b & 0x3F)) for b in bytes(data)]


def encode_led_info(leds: list[LedInfo]) -> bytes:
    """Encode LED Information (used by the simulator)."""
    return bytes(led.encode() for led in leds)
