"""ESC/POS label/receipt printer over serial: command encoding (pure) and a small blocking driver.

The driver is synchronous (pyserial writes block until the UART drains); the async wrappers run it
in a worker thread so the event loop never waits on the printer.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import serial
from PIL import Image

# Re-exported: callers import the printer's errors from the driver module.
from devices.printer.errors import PrinterError as PrinterError, PrinterUnavailable as PrinterUnavailable

ESC = 0x1B
GS = 0x1D
FS = 0x1C
LF = 0x0A

INIT = bytes([ESC, ord("@")])
FULL_CUT = bytes([GS, ord("V"), 0])
PARTIAL_CUT = bytes([GS, ord("V"), 1])
#: Printers cap one raster command's height; bands of this many rows are safe on common models.
MAX_BAND_ROWS = 256
TEXT_ENCODING = "gb18030"
#: `FS &` / `FS .`: enter and leave Chinese (Kanji) character mode, where GB18030 bytes are read as double-byte
#: characters; outside it a printer reads them as single-byte code-table characters (PC437 after `ESC @`).
CHINESE_ON = bytes([FS, ord("&")])
CHINESE_OFF = bytes([FS, ord(".")])


def feed(lines: int) -> bytes:
    """`ESC d n`: print the buffer and feed n lines."""
    if not 0 <= lines <= 255:
        raise PrinterError(f"feed of {lines} lines is out of range")
    return bytes([ESC, ord("d"), lines])


def text(line: str) -> bytes:
    """A line of text ended by LF: ASCII as is, anything else in GB18030 inside Chinese mode.

    Control characters (C0 and DEL) become '?', so text can never carry a printer command.
    """
    safe = "".join("?" if ord(ch) < 0x20 or ord(ch) == 0x7F else ch for ch in line)
    if safe.isascii():
        return safe.encode("ascii") + bytes([LF])
    return CHINESE_ON + safe.encode(TEXT_ENCODING, errors="replace") + CHINESE_OFF + bytes([LF])


def raster(image: Image.Image, max_band_rows: int = MAX_BAND_ROWS) -> bytes:
    """`GS v 0` raster bit images for a 1-bit image (black = dot), split into bands of rows."""
    mono = image.convert("1")
    width_bytes = (mono.width + 7) // 8
    padded = Image.new("1", (width_bytes * 8, mono.height), 1)
    padded.paste(mono, (0, 0))
    # In mode "1" Pillow packs white as 1; ESC/POS wants 1 = print a dot, so invert the bits.
    packed = bytes(b ^ 0xFF for b in padded.tobytes())
    out = bytearray()
    for top in range(0, mono.height, max_band_rows):
        rows = min(max_band_rows, mono.height - top)
        out += bytes([GS, ord("v"), ord("0"), 0, width_bytes & 0xFF, width_bytes >> 8, rows & 0xFF, rows >> 8])
        out += packed[top * width_bytes : (top + rows) * width_bytes]
    return bytes(out)


@dataclass(frozen=True, slots=True)
class PrinterSettings:
    """Serial line of the printer (most serial ESC/POS printers default to 9600 or 19200 8N1)."""

    port: str
    baudrate: int = 9600
    write_timeout: float = 10.0


class EscPosPrinter:
    """A serial ESC/POS printer; blocking methods, plus `*_async` versions that run in a thread."""

    def __init__(self, settings: PrinterSettings) -> None:
        """Configure; the port opens on `open()` or entering the with-block."""
        self.settings = settings
        self._port: serial.Serial | None = None

    def open(self) -> None:
        """Open the port and reset the printer (ESC @)."""
        try:
            self._port = serial.Serial(
                self.settings.port, self.settings.baudrate, write_timeout=self.settings.write_timeout
            )
        except (serial.SerialException, OSError) as err:
            raise PrinterUnavailable(f"cannot open printer {self.settings.port}: {err}") from err
        self._write(INIT)

    def close(self) -> None:
        """Close the port."""
        if self._port is not None:
            self._port.close()
            self._port = None

    def __enter__(self) -> EscPosPrinter:
        """Open on entering a with-block."""
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        """Close on leaving it."""
        self.close()

    def _write(self, data: bytes) -> None:
        """Write everything and wait for it to leave; port errors become PrinterUnavailable."""
        if self._port is None:
            raise PrinterUnavailable("printer port is not open")
        try:
            self._port.write(data)
            self._port.flush()
        except (serial.SerialException, OSError) as err:
            raise PrinterUnavailable(f"printer {self.settings.port} stopped accepting data: {err}") from err

    def print_text(self, line: str) -> None:
        """Print one line of text."""
        self._write(text(line))

    def print_image(self, image: Image.Image, *, cut: bool = True, feed_lines: int = 3) -> None:
        """Print a 1-bit image (a label), feed past the tear bar, and cut."""
        self._write(raster(image) + feed(feed_lines) + (PARTIAL_CUT if cut else b""))

    def cut(self, partial: bool = True) -> None:
        """Cut the paper."""
        self._write(PARTIAL_CUT if partial else FULL_CUT)

    async def print_image_async(self, image: Image.Image, *, cut: bool = True, feed_lines: int = 3) -> None:
        """`print_image` off the event loop."""
        await asyncio.to_thread(self.print_image, image, cut=cut, feed_lines=feed_lines)
