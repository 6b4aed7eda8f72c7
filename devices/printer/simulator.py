"""A simulated ESC/POS printer on a pty: parses what it receives into text, images, barcodes and cuts for tests.

Every command is parsed with its real argument length (Epson's ESC/POS reference, as python-escpos
encodes the commands and receipt-print-hq/escpos-tools parses them): `GS k` in both forms (m 0-6
ended by NUL, m 65-78 with a length byte), `GS ( x pL pH`, bit images, tab stops, and the fixed ones.
A command it does not know cannot be skipped safely, because its length is unknown: it is reported
in `errors` (with its byte offset) rather than silently eaten. Text is decoded the way the printer
would print it: double-byte GB18030 inside Chinese mode (`FS &` ... `FS .`), otherwise the selected
single-byte code table (`ESC t n`, PC437 after `ESC @`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from devices.printer.escpos import ESC, FS, GS, LF, TEXT_ENCODING
from devices.pty import PtyDevice

DLE = 0x10
HT = 0x09
CR = 0x0D
FF = 0x0C
CAN = 0x18

#: How long a command is, from the bytes received so far: its total length (0: a bad argument), None until it can tell.
Length = Callable[[bytearray], "int | None"]


def _fixed(args: int) -> Length:
    """A command of 2 bytes plus `args` argument bytes."""
    return lambda buf: 2 + args if len(buf) >= 2 + args else None


def _nul_ended(start: int) -> Length:
    """A command whose data runs from `start` up to and including a NUL (ESC D tab stops, GS k m=0-6)."""

    def length(buf: bytearray) -> int | None:
        """Up to the NUL, once it has arrived."""
        end = buf.find(0, start)
        return None if end < 0 else end + 1

    return length


def _counted(header: int, count: Callable[[bytearray], int]) -> Length:
    """A command of `header` bytes followed by `count(header bytes)` data bytes."""
    return lambda buf: header + count(buf) if len(buf) >= header else None


def _bit_image(buf: bytearray) -> int | None:
    """`ESC * m nL nH d`: n columns of 1 byte (8-dot modes 0, 1) or 3 bytes (24-dot modes 32, 33)."""
    if len(buf) < 5:
        return None
    return 5 + (buf[3] | buf[4] << 8) * (3 if buf[2] in (32, 33) else 1)


def _barcode(buf: bytearray) -> int | None:
    """`GS k m`: m 0-6 then data and NUL; m 65-78 then a length byte and that much data; 0 for any other m."""
    if len(buf) < 3:
        return None
    m = buf[2]
    if m <= 6:
        return _nul_ended(3)(buf)
    if 65 <= m <= 78:
        return 4 + buf[3] if len(buf) >= 4 else None
    return 0


_ESC: dict[int, Length] = {
    **{ord(c): _fixed(0) for c in "2<@LSimv"},
    **{ord(c): _fixed(1) for c in " !%-3=?AEGJKMRTVUaderu{+t"},
    ord("$"): _fixed(2), ord("\\"): _fixed(2), ord("c"): _fixed(2), ord("p"): _fixed(3), ord("W"): _fixed(8),
    ord("*"): _bit_image, ord("D"): _nul_ended(2),
}
_GS: dict[int, Length] = {
    **{ord(c): _fixed(0) for c in ":c"},
    **{ord(c): _fixed(1) for c in "!/BHITabfhrw|"},
    **{ord(c): _fixed(2) for c in "$LPW\\"},
    ord("^"): _fixed(3),
    ord("("): _counted(5, lambda b: b[3] | b[4] << 8),
    ord("8"): _counted(7, lambda b: int.from_bytes(b[3:7], "little")),
    ord("*"): _counted(4, lambda b: b[2] * b[3] * 8),
    ord("k"): _barcode,
}
_FS: dict[int, Length] = {
    ord("&"): _fixed(0), ord("."): _fixed(0),
    **{ord(c): _fixed(1) for c in "!-CW"},
    ord("S"): _fixed(2), ord("p"): _fixed(2), ord("2"): _fixed(74),
}
_DLE: dict[int, Length] = {0x04: _fixed(1), 0x05: _fixed(1), 0x14: _fixed(3)}
_TABLES = {ESC: ("ESC", _ESC), GS: ("GS", _GS), FS: ("FS", _FS), DLE: ("DLE", _DLE)}

#: `ESC t n` code tables the simulator can show (the PC ones Python has a codec for).
CODE_TABLES = {0: "cp437", 2: "cp850", 3: "cp860", 4: "cp863", 5: "cp865", 16: "cp1252", 17: "cp866", 18: "cp852", 19: "cp858"}


@dataclass
class Page:
    """Everything printed between two cuts: raster bands stacked into one image, text lines, barcodes, errors."""

    bands: list[Image.Image] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    barcodes: list[tuple[int, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def image(self) -> Image.Image | None:
        """The raster bands stacked top to bottom (None when nothing graphic was printed)."""
        if not self.bands:
            return None
        width = max(b.width for b in self.bands)
        out = Image.new("1", (width, sum(b.height for b in self.bands)), 1)
        y = 0
        for band in self.bands:
            out.paste(band, (0, y))
            y += band.height
        return out


class EscPosParser:
    """Pure incremental ESC/POS parser: feed bytes, read finished pages; never raises, reports what it cannot parse."""

    def __init__(self) -> None:
        """Start with an empty page, in the state `ESC @` leaves."""
        self._buffer = bytearray()
        self._offset = 0
        self._text = bytearray()
        self._pieces: list[str] = []
        self.chinese = False
        self.code_table = 0
        self.current = Page()
        self.pages: list[Page] = []
        self.errors: list[str] = []
        self.resets = 0

    def feed(self, data: bytes) -> None:
        """Consume bytes; an incomplete command stays buffered until the rest arrives."""
        self._buffer += data
        while self._buffer:
            used = self._step(self._buffer)
            if used == 0:
                return
            del self._buffer[:used]
            self._offset += used

    def _error(self, message: str) -> None:
        """Report something the printer could not make sense of, with where it was in the stream."""
        line = f"byte {self._offset}: {message}"
        self.errors.append(line)
        self.current.errors.append(line)

    def _step(self, buf: bytearray) -> int:
        """Parse one command or character at the head of the buffer; 0 when more bytes are needed."""
        head = buf[0]
        if head in _TABLES:
            return self._command(buf)
        if head == LF:
            self._flush_text()
            self.current.lines.append("".join(self._pieces))
            self._pieces.clear()
        elif head == HT:
            self._text.append(head)
        elif head < 0x20 and head not in (CR, FF, CAN):
            self._error(f"unknown control byte 0x{head:02X}")
        elif head >= 0x20:
            self._text.append(head)
        return 1

    def _command(self, buf: bytearray) -> int:
        """An ESC, GS, FS or DLE command: its length from the table, then its effect."""
        if len(buf) < 2:
            return 0
        if buf[0] == GS and buf[1] in (ord("v"), ord("V")):
            return self._raster(buf) if buf[1] == ord("v") else self._cut(buf)
        name, table = _TABLES[buf[0]]
        length = table.get(buf[1])
        if length is None:
            self._error(f"unknown command {name} 0x{buf[1]:02X}")
            return 2
        size = length(buf)
        if size is None or len(buf) < size:
            return 0
        if size == 0:
            self._error(f"bad argument 0x{buf[2]:02X} to {name} {chr(buf[1])!r}")
            return 3
        self._apply(bytes(buf[:size]))
        return size

    def _apply(self, cmd: bytes) -> None:
        """What the commands the simulator models do (the others only change formatting)."""
        op = cmd[:2]
        if op == b"\x1b@":
            self._text.clear()  # ESC @ clears the print buffer: unprinted text is lost
            self._pieces.clear()
            self.chinese, self.code_table = False, 0
            self.resets += 1
        elif op in (b"\x1c&", b"\x1c."):
            self._flush_text()
            self.chinese = op == b"\x1c&"
        elif op == b"\x1bt":
            self._flush_text()
            self.code_table = cmd[2]
            if self.code_table not in CODE_TABLES:
                self._error(f"code table {self.code_table} is not simulated (shown as PC437)")
        elif op in (b"\x1bi", b"\x1bm"):
            self._end_page()
        elif op == b"\x1dk":
            data = cmd[3:-1] if cmd[2] <= 6 else cmd[4:]
            self.current.barcodes.append((cmd[2], data.decode("latin-1")))

    def _raster(self, buf: bytearray) -> int:
        """`GS v 0 m xL xH yL yH d`: one band of a raster bit image."""
        if len(buf) < 8:
            return 0
        if buf[2] != ord("0"):
            self._error(f"unknown command GS 'v' 0x{buf[2]:02X}")
            return 3
        width_bytes = buf[4] | buf[5] << 8
        rows = buf[6] | buf[7] << 8
        end = 8 + width_bytes * rows
        if len(buf) < end:
            return 0
        bits = bytes(b ^ 0xFF for b in buf[8:end])
        self.current.bands.append(Image.frombytes("1", (width_bytes * 8, rows), bits))
        return end

    def _cut(self, buf: bytearray) -> int:
        """`GS V m` (m 0, 1, 48, 49) or `GS V m n` (m 65, 66): cut, ending the page."""
        if len(buf) < 3:
            return 0
        size = 4 if buf[2] in (65, 66) else 3
        if len(buf) < size:
            return 0
        self._end_page()
        return size

    def _end_page(self) -> None:
        """Finish the page (text not yet ended by LF is printed first)."""
        self._flush_text()
        if self._pieces:
            self.current.lines.append("".join(self._pieces))
            self._pieces.clear()
        self.pages.append(self.current)
        self.current = Page()

    def _flush_text(self) -> None:
        """Decode the text received under the current mode: GB18030 in Chinese mode, else the code table."""
        if self._text:
            codec = TEXT_ENCODING if self.chinese else CODE_TABLES.get(self.code_table, "cp437")
            self._pieces.append(self._text.decode(codec, errors="replace"))
            self._text.clear()


class PrinterSimulator(PtyDevice):
    """The parser served on a pty from a thread; `pages` holds each cut-off label, `errors` what it could not parse."""

    def __init__(self, path: str | Path | None = None) -> None:
        """Create the port now; `start()` begins reading."""
        super().__init__(path, "ttyPRINTER")
        self.parser = EscPosParser()
        self._lock = threading.Lock()
        self._printed = threading.Condition(self._lock)

    @property
    def pages(self) -> list[Page]:
        """Pages cut so far."""
        with self._lock:
            return list(self.parser.pages)

    @property
    def errors(self) -> list[str]:
        """Commands and bytes the printer could not make sense of, so far."""
        with self._lock:
            return list(self.parser.errors)

    def wait_pages(self, count: int, timeout: float) -> list[Page]:
        """Block until `count` pages have been cut (or the timeout passes)."""
        with self._printed:
            self._printed.wait_for(lambda: len(self.parser.pages) >= count, timeout)
            return list(self.parser.pages)

    def _serve(self) -> None:
        """Feed everything received to the parser."""
        while not self._stop.is_set():
            data = self.port.read(0.01)
            if data:
                with self._printed:
                    self.parser.feed(data)
                    self._printed.notify_all()
