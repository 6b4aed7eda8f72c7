"""MT-SICS level 0/1 codec: host commands to bytes, scale lines to typed replies (pure, no I/O)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from devices.scale.errors import ProtocolError
from devices.scale.reading import Garbage, WeightReading, exact_grams

EOL = b"\r\n"
WEIGHT_WIDTH = 10
MAX_LINE = 256

#: Level 0 and level 1 commands this codec knows how to send and answer.
COMMANDS = frozenset(
    {"@", "I0", "I1", "I2", "I3", "I4", "I5", "S", "SI", "SIR", "Z", "ZI", "T", "TI", "TA", "TAC"}
)
ERROR_CODES = {"ES": "syntax error", "ET": "transmission error", "EL": "logical error"}

_LINE = re.compile(r"^(?P<id>[A-Z@][A-Z0-9]*)(?: (?P<status>[SDIAB+\-L]))?(?: +(?P<rest>.*))?$")
_WEIGHT = re.compile(r"^(?P<value>-?\d+(?:\.\d+)?) +(?P<unit>[A-Za-z%]+)$")
_PARAM = re.compile(r'"[^"]*"|\S+')
_WEIGHT_IDS = frozenset({"S", "T", "TI", "TA"})


@dataclass(frozen=True, slots=True)
class WeightReply:
    """A reply carrying a weight (S/SI/SIR, T, TI, TA): status letter, exact Decimal value and unit."""

    cmd_id: str
    status: str
    value: Decimal
    unit: str
    raw: str


@dataclass(frozen=True, slots=True)
class StatusReply:
    """A reply without a weight: `Z A`, `S I`, `S +`, `I4 A "123"`… with its quoted/plain parameters."""

    cmd_id: str
    status: str
    params: tuple[str, ...]
    raw: str


@dataclass(frozen=True, slots=True)
class ErrorReply:
    """A general error without a command id: ES (syntax), ET (transmission) or EL (logical)."""

    code: str
    raw: str

    @property
    def meaning(self) -> str:
        """Human-readable meaning, for logs."""
        return ERROR_CODES[self.code]


Reply = WeightReply | StatusReply | ErrorReply


def encode_command(command: str, *params: str) -> bytes:
    """Encode one host command (upper-case, space-separated params, CR LF); refuse unknown ones."""
    if command not in COMMANDS:
        raise ProtocolError(f"unknown MT-SICS command {command!r}")
    return " ".join((command, *params)).encode("ascii") + EOL


def format_weight(value: Decimal, decimals: int) -> str:
    """Right-align a weight in the fixed 10-character field, sign glued to the first digit."""
    return f"{value:.{decimals}f}".rjust(WEIGHT_WIDTH)


def encode_weight_reply(cmd_id: str, status: str, value: Decimal, unit: str, decimals: int) -> bytes:
    """Encode `<ID> <status> <weight> <unit>` as a scale would send it (used by the simulator)."""
    return f"{cmd_id} {status} {format_weight(value, decimals)} {unit}".encode("ascii") + EOL


def encode_status_reply(cmd_id: str, status: str, *params: str) -> bytes:
    """Encode a reply without a weight, e.g. `Z A` or `I4 A "0123456789"`."""
    return " ".join((cmd_id, status, *params)).encode("ascii") + EOL


def parse_line(line: str) -> Reply:
    """Parse one scale line (without CR LF) into a typed reply, or raise ProtocolError."""
    if line in ERROR_CODES:
        return ErrorReply(line, line)
    match = _LINE.match(line)
    if match is None or match["status"] is None:
        raise ProtocolError(f"not an MT-SICS reply: {line!r}")
    cmd_id, status, rest = match["id"], match["status"], match["rest"]
    if cmd_id not in COMMANDS:
        raise ProtocolError(f"reply to an unknown command: {line!r}")
    if rest and cmd_id in _WEIGHT_IDS and status in "SDA":
        weight = _WEIGHT.match(rest.strip())
        if weight is None:
            raise ProtocolError(f"bad weight field: {line!r}")
        try:
            value = Decimal(weight["value"])
        except InvalidOperation as err:
            raise ProtocolError(f"bad weight value: {line!r}") from err
        return WeightReply(cmd_id, status, value, weight["unit"], line)
    params = tuple(_PARAM.findall(rest)) if rest else ()
    return StatusReply(cmd_id, status, params, line)


def reading_from(reply: Reply, *, net: bool = False) -> WeightReading | None:
    """Turn an S/SI/SIR reply into a WeightReading; None when it carries no weight state (`S I`, others)."""
    if isinstance(reply, WeightReply) and reply.cmd_id == "S":
        stable = reply.status == "S"
        grams = exact_grams(reply.value, reply.unit)
        state = "motion" if not stable else ("zero" if reply.value == 0 else "ok")
        return WeightReading(grams, stable, state, net, reply.raw)
    if isinstance(reply, StatusReply) and reply.cmd_id == "S" and reply.status in "+-":
        state = "overload" if reply.status == "+" else "underload"
        return WeightReading(None, False, state, net, reply.raw)
    return None


class MtSicsFramer:
    """Pure line framer: feed it any bytes, get replies and garbage; never raises out of `feed`.

    It also follows the tare state from T/TI/TA/TAC replies, because `S` lines do not say whether
    the value is net.
    """

    def __init__(self, max_line: int = MAX_LINE) -> None:
        """Start with an empty buffer and no tare."""
        self._buffer = bytearray()
        self._max_line = max_line
        self.net = False

    def feed(self, data: bytes) -> Iterator[Reply | Garbage]:
        """Consume bytes; yield every complete reply or garbage chunk; keep the partial tail."""
        self._buffer += data
        while True:
            end = self._buffer.find(b"\n")
            if end < 0:
                if len(self._buffer) > self._max_line:
                    yield Garbage(bytes(self._buffer), "line too long")
                    self._buffer.clear()
                return
            raw = bytes(self._buffer[:end])
            del self._buffer[: end + 1]
            yield self._decode(raw.rstrip(b"\r"))

    def _decode(self, raw: bytes) -> Reply | Garbage:
        """Decode one line; anything not ASCII or not in the grammar becomes Garbage."""
        try:
            line = raw.decode("ascii")
        except UnicodeDecodeError:
            return Garbage(raw, "non-ASCII bytes")
        if not line.isprintable():
            return Garbage(raw, "control characters")
        try:
            reply = parse_line(line)
        except ProtocolError as err:
            return Garbage(raw, str(err))
        self._track_tare(reply)
        return reply

    def _track_tare(self, reply: Reply) -> None:
        """Remember whether a tare is active so readings can be marked net."""
        if isinstance(reply, WeightReply) and reply.cmd_id in {"T", "TI", "TA"}:
            self.net = reply.value != 0
        elif isinstance(reply, StatusReply) and reply.cmd_id == "TAC" and reply.status == "A":
            self.net = False

    def reading(self, reply: Reply) -> WeightReading | None:
        """The WeightReading for a reply, marked net when a tare is active."""
        return reading_from(reply, net=self.net)


class MtSicsCommandFramer:
    """Scale-side framer (for the simulator): splits host bytes into command lines, flags bad bytes."""

    def __init__(self, max_line: int = MAX_LINE) -> None:
        """Start with an empty buffer."""
        self._buffer = bytearray()
        self._max_line = max_line

    def feed(self, data: bytes) -> Iterator[tuple[str, ...] | Garbage]:
        """Yield each command as a token tuple; a line with NUL or bit-7 bytes becomes Garbage (→ ET)."""
        self._buffer += data
        while True:
            end = self._buffer.find(b"\n")
            if end < 0:
                if len(self._buffer) > self._max_line:
                    yield Garbage(bytes(self._buffer), "line too long")
                    self._buffer.clear()
                return
            raw = bytes(self._buffer[:end]).rstrip(b"\r")
            del self._buffer[: end + 1]
            if any(b == 0 or b > 0x7F for b in raw):
                yield Garbage(raw, "framing error")
                continue
            tokens = tuple(_PARAM.findall(raw.decode("ascii")))
            if tokens:
                yield tokens
