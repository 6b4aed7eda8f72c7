"""`store-edge esl ...`: field-engineer tools for Bluetooth shelf labels."""

from __future__ import annotations

import argparse
import json
import re
import sys
from typing import Any

from devices.esl.codec import SensorValue, decode_commands, decode_responses
from devices.esl.describe import describe
from devices.esl.errors import EslProtocolError
from devices.esl.info import MeshSensor
from devices.esl.sensors import MeshProperty, interpret

_SEPARATORS = re.compile(r"[\s:\-]|0x", re.IGNORECASE)


def parse_hex(text: str) -> bytes:
    """Bytes from a sniffer-style hex dump: spaces, colons, dashes and 0x prefixes are ignored."""
    cleaned = _SEPARATORS.sub("", text)
    try:
        return bytes.fromhex(cleaned)
    except ValueError as err:
        raise EslProtocolError(f"not hex: {text!r}") from err


def parse_property(text: str) -> int:
    """A mesh device property id: `0x004F`, `004F`-style hex with a leading zero, decimal `79`, or a name."""
    name = text.strip().lower().replace("-", "_")
    if name.upper() in MeshProperty.__members__:
        return MeshProperty[name.upper()]
    try:
        value = int(name, 16) if name.startswith("0") else int(name)
    except ValueError:
        value = -1
    if not 0 <= value <= 0xFFFF:
        names = ", ".join(p.name.lower() for p in MeshProperty)
        raise EslProtocolError(f"unknown sensor property {text!r}: give its id (0x004F) or one of {names}")
    return value


def _with_value(record: Any, property_id: int | None) -> dict[str, Any]:
    """The record's description; a Sensor Value also gets its data interpreted for the property (null = unknown)."""
    out = describe(record)
    if property_id is not None and isinstance(record, SensorValue):
        reading = interpret(MeshSensor(property_id), record.data)
        out |= {"property": f"0x{property_id:04X}", "quantity": reading.quantity, "value": reading.value,
                "unit": reading.unit}
    return out


def _decode(args: argparse.Namespace) -> int:
    """Print the JSON description of every record in the packet; exit 1 on malformed input."""
    try:
        if args.sensor is not None and not args.responses:
            raise EslProtocolError("--sensor needs --responses (sensor values are responses)")
        property_id = None if args.sensor is None else parse_property(args.sensor)
        payload = parse_hex(" ".join(args.hex))
        if not payload:
            raise EslProtocolError("no bytes given")
        records = decode_responses(payload) if args.responses else decode_commands(payload)
        described = [_with_value(r, property_id) for r in records]
    except EslProtocolError as err:
        print(f"store-edge esl decode: {err}", file=sys.stderr)
        return 1
    print(json.dumps(described, indent=2))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `esl decode`."""
    esl = subparsers.add_parser("esl", help="Bluetooth electronic shelf label tools")
    sub = esl.add_subparsers(dest="esl_command", required=True, metavar="ESL_COMMAND")
    decode = sub.add_parser(
        "decode", help="decode control-point commands (or responses) copied from a sniffer log",
    )
    decode.add_argument("hex", nargs="+", help="hex bytes, e.g. 'B0 05 00 CC 02 00 00 00 00 64 64 79 00'")
    decode.add_argument("--responses", action="store_true", help="decode ESL responses instead of AP commands")
    decode.add_argument(
        "--sensor", metavar="PROPERTY",
        help="with --responses: read each Sensor Value's data as this mesh property (0x004F, 0x0054, 0x0059 or a"
             " name such as present_ambient_temperature) and add its value (null when the tag reports unknown)",
    )
    decode.set_defaults(handler=_decode)
