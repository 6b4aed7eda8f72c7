"""Information characteristics and sensor values: reference examples, round trips, malformed records."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devices.esl.errors import EslProtocolError
from devices.esl.info import (
    DisplayInfo, DisplayType, LedInfo, LedType, MeshSensor, VendorSensor, encode_display_info, encode_led_info,
    encode_sensor_info, parse_display_info, parse_image_info, parse_led_info, parse_sensor_info,
)
from devices.esl.led import LedColor
from devices.esl.sensors import (
    MeshProperty, decode_temperature, decode_temperature8, decode_voltage, encode_temperature8, encode_voltage,
    interpret,
)
import contextlib


def test_display_information_records() -> None:
    """Width u16, height u16, type u8 per display, little-endian."""
    data = bytes.fromhex("2801 8000 06 9001 2C01 01")
    assert parse_display_info(data) == [DisplayInfo(296, 128, DisplayType.RED_BLACK_WHITE),
                                        DisplayInfo(400, 300, DisplayType.BLACK_WHITE)]
    assert encode_display_info(parse_display_info(data)) == data
    with pytest.raises(EslProtocolError):
        parse_display_info(data[:-1])


def test_image_information() -> None:
    """One octet: Max_Image_Index."""
    assert parse_image_info(b"\x03") == 3
    with pytest.raises(EslProtocolError):
        parse_image_info(b"")


def test_sensor_information_mixed_records() -> None:
    """Size 0x00 = mesh property (3 octets), 0x01 = vendor (5 octets)."""
    data = bytes.fromhex("00 4F00 01 5900 3412 00 5900")
    assert parse_sensor_info(data) == [MeshSensor(0x004F), VendorSensor(0x0059, 0x1234), MeshSensor(0x0059)]
    assert encode_sensor_info(parse_sensor_info(data)) == data
    for bad in (data[:-1], bytes.fromhex("02 4F00"), bytes.fromhex("01 5900 34")):
        with pytest.raises(EslProtocolError):
            parse_sensor_info(bad)


def test_led_information() -> None:
    """Type in bits 7..6, colour in bits 5..0 (0x4C: monochrome green)."""
    assert parse_led_info(bytes((0x4C, 0x3F))) == [
        LedInfo(LedType.MONOCHROME, LedColor(0, 3, 0, 0)), LedInfo(LedType.SRGB, LedColor(3, 3, 3, 0)),
    ]
    assert encode_led_info(parse_led_info(bytes((0x4C, 0x3F)))) == bytes((0x4C, 0x3F))


def test_reference_sensor_examples() -> None:
    """`1E 00 08` is +4.0 degC (Temperature 8); `2E 01 9A 01` is +4.10 degC (Temperature)."""
    assert decode_temperature8(b"\x08") == 4.0
    assert decode_temperature(b"\x9a\x01") == pytest.approx(4.10)
    assert interpret(MeshSensor(MeshProperty.PRESENT_AMBIENT_TEMPERATURE), b"\x08").value == 4.0


def test_temperature8_sign_range_and_unknown() -> None:
    """sint8 in 0.5 degC; 0x7F (the type's highest value) is unknown, 0xFF is -0.5 degC (esl-radio.md §7)."""
    assert decode_temperature8(encode_temperature8(-18.0)) == -18.0
    assert encode_temperature8(-18.0) == b"\xdc"
    assert decode_temperature8(b"\x7f") is None and encode_temperature8(None) == b"\x7f"
    assert decode_temperature8(b"\xff") == -0.5 and encode_temperature8(-0.5) == b"\xff"
    assert decode_temperature8(b"\x7e") == 63.0 and decode_temperature8(b"\x80") == -64.0
    assert decode_temperature8(encode_temperature8(99.0)) == 63.0  # clamps below the unknown value
    assert decode_temperature8(encode_temperature8(-99.0)) == -64.0
    assert interpret(MeshSensor(MeshProperty.PRESENT_AMBIENT_TEMPERATURE), b"\x7f").value is None
    with pytest.raises(EslProtocolError):
        decode_temperature8(b"\x01\x02")


@given(st.floats(-60, 60))
def test_temperature8_rounds_to_half_degrees(celsius: float) -> None:
    """Encoding keeps the nearest half degree everywhere in range, -0.5 degC included."""
    decoded = decode_temperature8(encode_temperature8(celsius))
    assert decoded is not None
    assert abs(decoded - celsius) <= 0.25


def test_temperature16_unknown_and_range() -> None:
    """sint16 in 0.01 degC; 0x8000 is unknown (not -327.68); below absolute zero is not a reading."""
    assert decode_temperature(b"\x00\x80") is None
    assert decode_temperature(b"\xff\xff") == pytest.approx(-0.01)
    assert decode_temperature(b"\xff\x7f") == pytest.approx(327.67)
    assert decode_temperature((-27315).to_bytes(2, "little", signed=True)) == pytest.approx(-273.15)
    assert interpret(MeshSensor(MeshProperty.PRESENT_DEVICE_OPERATING_TEMPERATURE), b"\x00\x80").value is None
    with pytest.raises(EslProtocolError):
        decode_temperature((-27316).to_bytes(2, "little", signed=True))


def test_battery_voltage() -> None:
    """uint16 in 1/64 V, 0xFFFF unknown; 65408 (1022 V) is the top, values above it up to 0xFFFE are invalid."""
    assert decode_voltage(encode_voltage(3.0)) == 3.0
    assert decode_voltage(b"\xff\xff") is None
    assert decode_voltage((65408).to_bytes(2, "little")) == 1022.0
    assert encode_voltage(5000.0) == (65408).to_bytes(2, "little")
    with pytest.raises(EslProtocolError):
        decode_voltage((65409).to_bytes(2, "little"))
    assert interpret(MeshSensor(MeshProperty.PRESENT_INPUT_VOLTAGE), encode_voltage(2.5)).unit == "V"


def test_unknown_sensors_raise_typed_error() -> None:
    """A property or vendor sensor without a decoder is an EslProtocolError, not a crash."""
    with pytest.raises(EslProtocolError):
        interpret(MeshSensor(0x1234), b"\x00")
    with pytest.raises(EslProtocolError):
        interpret(VendorSensor(1, 2), b"\x00")


@given(st.binary(max_size=40))
def test_info_parsers_never_crash(data: bytes) -> None:
    """Garbage info values decode or raise the typed error."""
    for parse in (parse_display_info, parse_sensor_info, parse_image_info, parse_led_info):
        with contextlib.suppress(EslProtocolError):
            parse(data)
