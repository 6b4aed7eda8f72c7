"""Mettler-Toledo 8217 POS codec: single-letter commands, STX…CR replies, status-byte bits (pure, no I/O)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from enum import IntFlag

from devices.scale.errors import ProtocolError
from devices.scale.reading import Garbage, WeightReading, exact_grams

STX = 0x02
CR = 0x0D
MAX_FRAME = 16

WEIGH = b"W"
ZERO = b"Z"
TARE = b"T"
CLEAR_TARE = b"C"
ECHO_END = b"F"

_WEIGHT = re.compile(r"^(?P<value>\d+\.\d+)(?P<net>N?)$")
_UNIT_DECIMALS = {"kg": 3, "lb": 2}


class Status(IntFlag):
    """The status byte after `?`: low 7 bits are flags, bit 6 always set, bit 7 is parity."""

    MOTION = 0x01
    OVER_CAPACITY = 0x02
    UNDER_ZERO = 0x04
    ZERO_ERROR = 0x08
    CENTER_OF_ZERO = 0x10
    NET = 0x20
    ALWAYS = 0x40


@dataclass(frozen=True, slots=True)
class WeightFrame:
    """A numeric reply `STX WW.WWW [N] CR`: the scale only sends it when the weight is stable and valid."""

    value: Decimal
    unit: str
    net: bool
    raw: str


@dataclass(frozen=True, slots=True)
class StatusFrame:
    """A status reply `STX ? <status> CR`, sent instead of a weight or after Z/T/C."""

    status: Status
    raw: str


@dataclass(frozen=True, slots=True)
class TextFrame:
    """Any other well-framed reply (empty ack after `A`, `E` at the start of the echo test)."""

    text: str
    raw: str


Frame = WeightFrame | StatusFrame | TextFrame


def preset_tare(grams: int, unit: str = "kg") -> bytes:
    """Encode the digital tare `T ddddd CR` (implied decimals `WW.WWW` kg); refuse what does not fit."""
    if unit != "kg":
        raise ProtocolError("digital tare is only encoded in kg mode")
    if not 0 <= grams <= 99_999:
        raise ProtocolError(f"preset tare {grams} g does not fit 5 digits")
    return b"T" + f"{grams:05d}".encode("ascii") + b"\r"


def echo_probe(text: str) -> bytes:
    """Encode the echo test `E<text>` (Odoo's port probe); end it with ECHO_END."""
    return b"E" + text.encode("ascii")


def encode_weight(value: Decimal, net: bool, unit: str = "kg") -> bytes:
    """Encode a numeric weight reply as the scale sends it (used by the simulator)."""
    decimals = _UNIT_DECIMALS[unit]
    body = f"{value:0{decimals + 3}.{decimals}f}" + ("N" if net else "")
    return bytes([STX]) + body.encode("ascii") + bytes([CR])


def encode_status(status: Status) -> bytes:
    """Encode `STX ? <status> CR`; bit 6 is forced on so the byte is always in 0x40–0x7F."""
    return bytes([STX, ord("?"), int(status | Status.ALWAYS) & 0x7F, CR])


def parse_frame(body: str, unit: str = "kg") -> Frame:
    """Parse the text between STX and CR (bit 7 already masked) into a typed frame."""
    raw = "\x02" + body + "\r"
    if body.startswith("?"):
        if len(body) != 2 or not 0x40 <= ord(body[1]) <= 0x7F:
            raise ProtocolError(f"bad status frame {raw!r}")
        return StatusFrame(Status(ord(body[1]) & 0x7F), raw)
    match = _WEIGHT.match(body)
    if match is not None:
        decimals = len(match["value"].split(".")[1])
        if decimals != _UNIT_DECIMALS[unit]:
            raise ProtocolError(f"weight {body!r} does not have {unit} decimals")
        return WeightFrame(Decimal(match["value"]), unit, bool(match["net"]), raw)
    if body in ("", "E"):
        return TextFrame(body, raw)
    raise ProtocolError(f"not an 8217 reply: {raw!r}")


def reading_from(frame: Frame) -> WeightReading | None:
    """The WeightReading for the reply to `W`; None for frames that are not weight answers.

    Status precedence: over capacity → "overload"; under zero or zero error (bit 3, the load was
    outside the zero-capture range, no valid weight) → "underload"; motion → "motion".
    """
    if isinstance(frame, WeightFrame):
        grams = exact_grams(frame.value, frame.unit)
        state = "zero" if frame.value == 0 else "ok"
        return WeightReading(grams, True, state, frame.net, frame.raw)
    if isinstance(frame, StatusFrame):
        flags = frame.status
        net = Status.NET in flags
        if Status.OVER_CAPACITY in flags:
            return WeightReading(None, False, "overload", net, frame.raw)
        if Status.UNDER_ZERO in flags or Status.ZERO_ERROR in flags:
            return WeightReading(None, False, "underload", net, frame.raw)
        if Status.MOTION in flags:
            return WeightReading(None, False, "motion", net, frame.raw)
        state = "zero" if Status.CENTER_OF_ZERO in flags else "ok"
        return WeightReading(None, True, state, net, frame.raw)
    return None


class Toledo8217Framer:
    """Pure STX…CR framer: masks bit 7 (7E1 parity), resynchronises on STX, reports garbage, never raises."""

    def __init__(self, unit: str = "kg", max_frame: int = MAX_FRAME) -> None:
        """Start outside a frame; `unit` is the scale's configured weighing unit."""
        self._unit = unit
        self._max_frame = max_frame
        self._frame: bytearray | None = None
        self._junk = bytearray()

    def feed(self, data: bytes) -> Iterator[Frame | Garbage]:
        """Consume bytes; yield complete frames and garbage; keep a half frame for the next call."""
        for byte in data:
            byte &= 0x7F
            if byte == STX:
                if self._frame is not None:
                    yield Garbage(b"\x02" + bytes(self._frame), "frame restarted before CR")
                yield from self._flush_junk()
                self._frame = bytearray()
            elif self._frame is None:
                self._junk.append(byte)
            elif byte == CR:
                body, self._frame = bytes(self._frame), None
                yield self._decode(body)
            else:
                self._frame.append(byte)
                if len(self._frame) > self._max_frame:
                    yield Garbage(b"\x02" + bytes(self._frame), "frame too long")
                    self._frame = None
        yield from self._flush_junk()

    def _flush_junk(self) -> Iterator[Garbage]:
        """Report bytes seen outside any frame as one garbage chunk."""
        if self._junk:
            yield Garbage(bytes(self._junk), "bytes outside STX…CR")
            self._junk.clear()

    def _decode(self, body: bytes) -> Frame | Garbage:
        """Decode one frame body; anything off-grammar becomes Garbage."""
        try:
            return parse_frame(body.decode("ascii"), self._unit)
        except ProtocolError as err:
            return Garbage(b"\x02" + body + b"\r", str(err))
