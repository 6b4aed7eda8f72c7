"""`store-edge esl ...`: field-engineer tools for Bluetooth shelf labels."""

from __future__ import annotations

import argparse
import json
import re
import sys

from devices.esl.codec import decode_commands, decode_responses
from devices.esl.describe import describe
from devices.esl.errors import EslProtocolError

_SEPARATORS = re.compile(r"[\s:\-]|0x", re.IGNORECASE)


def parse_hex(text: str) -> bytes:
    """Bytes from a sniffer-style hex dump: spaces, colons, dashes and 0x prefixes are ignored."""
    cleaned = _SEPARATORS.sub("", text)
    try:
        return bytes.fromhex(cleaned)
    except ValueError as err:
        raise EslProtocolError(f"not hex: {text!r}") from err


def _decode(args: argparse.Namespace) -> int:
    """Print the JSON description of every record in the packet; exit 1 on malformed input."""
    try:
        payload = parse_hex(" ".join(args.hex))
        if not payload:
            raise EslProtocolError("no bytes given")
        records = decode_responses(payload) if args.responses else decode_commands(payload)
    except EslProtocolError as err:
        print(f"store-edge esl decode: {err}", file=sys.stderr)
        return 1
    print(json.dumps([describe(r) for r in records], indent=2))
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
    decode.set_defaults(handler=_decode)
