"""JSON-able descriptions of decoded ESL records, in natural units, for field engineers."""

from __future__ import annotations

from typing import Any

from devices.esl.codec import (
    BasicState, Command, CommandOpcode, DisplayState, DisplayTimedImage, ErrorResponse, LedControl,
    LedState, LedTimedControl, Response, SensorValue, UnknownCommand, UnknownResponse,
    VendorCommand, VendorResponse, command_opcode, error_name, response_opcode,
)
from devices.esl.led import LedParams, RepeatType


def describe_led(led: LedParams) -> dict[str, Any]:
    """LED parameters as colour levels, milliseconds and repeats."""
    out: dict[str, Any] = {
        "color": {
            "red": led.color.red, "green": led.color.green, "blue": led.color.blue,
            "brightness_level": led.color.brightness, "brightness_percent": led.color.brightness_percent,
        },
    }
    if led.is_steady:
        out["steady"] = "on" if led.lit else "off"
        return out
    out |= {
        "pattern": f"0x{led.pattern:010X}",
        "pattern_bits": bin(led.pattern)[2:] if led.pattern else "",
        "on_ms": led.on_ms,
        "off_ms": led.off_ms,
    }
    if led.repeat_type is RepeatType.SECONDS:
        out["repeat_seconds"] = led.repeats
    else:
        out["repeat_count"] = led.repeats
    return out


def _command_fields(cmd: Command) -> dict[str, Any]:
    """Every parameter of a command except opcode and ESL_ID."""
    match cmd:
        case LedControl(led_index=i, led=led):
            return {"led_index": i, **describe_led(led)}
        case LedTimedControl(led_index=i, led=led, absolute_time=t):
            return {"led_index": i, **describe_led(led), "absolute_time_ms": t, "cancel": t == 0}
        case DisplayTimedImage(display_index=d, image_index=i, absolute_time=t):
            return {"display_index": d, "image_index": i, "absolute_time_ms": t, "cancel": t == 0}
        case VendorCommand(data=data) | UnknownCommand(data=data):
            return {"data": data.hex()}
    return {k: getattr(cmd, k) for k in cmd.__dataclass_fields__ if k != "esl_id"}


def _command_name(cmd: Command) -> str:
    """Name of a command for humans."""
    if isinstance(cmd, VendorCommand):
        return "vendor_specific"
    if isinstance(cmd, UnknownCommand):
        return "rfu"
    return CommandOpcode(command_opcode(cmd)).name.lower()


def _response_fields(resp: Response) -> tuple[str, dict[str, Any]]:
    """Name and parameters of a response."""
    match resp:
        case ErrorResponse(code=c):
            return "error", {"error_code": c, "error": error_name(c)}
        case LedState(led_index=i):
            return "led_state", {"led_index": i}
        case BasicState(flags=f):
            return "basic_state", {
                "raw": int(f),
                **{flag.name.lower(): bool(f & flag) for flag in type(f) if flag.name},
            }
        case DisplayState(display_index=d, image_index=i):
            return "display_state", {"display_index": d, "image_index": i}
        case SensorValue(sensor_index=i, data=data):
            return "sensor_value", {"sensor_index": i, "data": data.hex()}
        case VendorResponse(data=data):
            return "vendor_specific", {"data": data.hex()}
        case UnknownResponse(data=data):
            return "rfu", {"data": data.hex()}
    raise TypeError(f"not an ESL response: {resp!r}")


def describe(record: Command | Response) -> dict[str, Any]:
    """A flat JSON-able dict: opcode, name, (esl_id for commands) and every parameter in natural units."""
    if isinstance(record, (ErrorResponse, LedState, BasicState, DisplayState, SensorValue, VendorResponse,
                           UnknownResponse)):
        name, fields = _response_fields(record)
        return {"opcode": response_opcode(record), "name": name, **fields}
    return {
        "opcode": command_opcode(record), "name": _command_name(record), "esl_id": record.esl_id,
        **_command_fields(record),
    }
