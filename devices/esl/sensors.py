"""Sensor Value payloads in natural units: Mesh device properties the reference describes (esl.md §6.2, esl-radio.md §7).

The special values follow the GATT Specification Supplement formats as Nordic's mesh sensor types
encode them (nRF Connect SDK `subsys/bluetooth/mesh/sensor_types.c`): Temperature 8 (`temp_8`)
reserves its highest value 0x7F for "unknown", Temperature (`temp`) its lowest 0x8000, Voltage
0xFFFF, with 65408 (1022 V) as the highest reading.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from devices.esl.errors import EslProtocolError
from devices.esl.info import MeshSensor, SensorInfo

TEMPERATURE_8_UNKNOWN = 0x7F
TEMPERATURE_UNKNOWN = -0x8000
#: Absolute zero in 0.01 degC: the lowest value Temperature can mean (GATT Supplement: -273.15 .. 327.67).
TEMPERATURE_MIN = -27315
VOLTAGE_UNKNOWN = 0xFFFF
#: 1022 V in 1/64 V, the highest Voltage reading; 65409..65534 mean nothing.
VOLTAGE_MAX = 65408


class MeshProperty(enum.IntEnum):
    """Mesh device property IDs a shelf label may expose."""

    DEVICE_DATE_OF_MANUFACTURE = 0x000C
    DEVICE_FIRMWARE_REVISION = 0x000E
    DEVICE_OPERATING_TEMPERATURE_RANGE = 0x0013
    PRESENT_AMBIENT_TEMPERATURE = 0x004F
    PRESENT_DEVICE_OPERATING_TEMPERATURE = 0x0054
    PRESENT_INPUT_VOLTAGE = 0x0059


@dataclass(frozen=True, slots=True)
class SensorReading:
    """One interpreted sensor value: what it measures, the value (None = unknown) and its unit."""

    quantity: str
    value: float | None
    unit: str


def _exact(data: bytes, size: int, what: str) -> bytes:
    """Refuse a value of the wrong size."""
    if len(data) != size:
        raise EslProtocolError(f"{what} needs {size} octets, got {len(data)}")
    return bytes(data)


def decode_temperature8(data: bytes) -> float | None:
    """Temperature 8: sint8 in 0.5 degC steps, -64.0 .. +63.0; 0x7F means unknown (0xFF is -0.5 degC)."""
    raw = _exact(data, 1, "Temperature 8")[0]
    if raw == TEMPERATURE_8_UNKNOWN:
        return None
    return int.from_bytes(bytes((raw,)), "little", signed=True) * 0.5


def encode_temperature8(celsius: float | None) -> bytes:
    """Round to 0.5 degC and clamp into -64.0 .. +63.0 (None is sent as unknown, 0x7F)."""
    if celsius is None:
        return bytes((TEMPERATURE_8_UNKNOWN,))
    raw = max(-128, min(TEMPERATURE_8_UNKNOWN - 1, round(celsius * 2)))
    return raw.to_bytes(1, "little", signed=True)


def decode_temperature(data: bytes) -> float | None:
    """Temperature: sint16 in 0.01 degC steps; 0x8000 means unknown; below absolute zero is not a reading."""
    raw = int.from_bytes(_exact(data, 2, "Temperature"), "little", signed=True)
    if raw == TEMPERATURE_UNKNOWN:
        return None
    if raw < TEMPERATURE_MIN:
        raise EslProtocolError(f"Temperature {raw / 100} degC is below absolute zero")
    return raw / 100


def decode_voltage(data: bytes) -> float | None:
    """Present Input Voltage: uint16 in 1/64 V up to 1022 V; 0xFFFF means unknown."""
    raw = int.from_bytes(_exact(data, 2, "Voltage"), "little")
    if raw == VOLTAGE_UNKNOWN:
        return None
    if raw > VOLTAGE_MAX:
        raise EslProtocolError(f"Voltage raw value {raw} is above 1022 V and not a reading")
    return raw / 64


def encode_voltage(volts: float | None) -> bytes:
    """uint16 in 1/64 V, clamped into 0 .. 1022 V (None is sent as unknown)."""
    raw = VOLTAGE_UNKNOWN if volts is None else max(0, min(VOLTAGE_MAX, round(volts * 64)))
    return raw.to_bytes(2, "little")


def interpret(sensor: SensorInfo, data: bytes) -> SensorReading:
    """Turn raw Sensor Value data into a reading, using the sensor's description from Sensor Information."""
    if isinstance(sensor, MeshSensor):
        match sensor.property_id:
            case MeshProperty.PRESENT_AMBIENT_TEMPERATURE:
                return SensorReading("ambient_temperature", decode_temperature8(data), "degC")
            case MeshProperty.PRESENT_DEVICE_OPERATING_TEMPERATURE:
                return SensorReading("device_temperature", decode_temperature(data), "degC")
            case MeshProperty.PRESENT_INPUT_VOLTAGE:
                return SensorReading("battery_voltage", decode_voltage(data), "V")
        raise EslProtocolError(f"no decoder for mesh property 0x{sensor.property_id:04X}")
    raise EslProtocolError(f"no decoder for vendor sensor {sensor.company_id:#06x}/{sensor.sensor_code:#06x}")
