"""A simulated ESC/POS printer on a pty: parses what it receives into text, images and cuts for tests."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from devices.printer.escpos import ESC, GS, LF, TEXT_ENCODING
from devices.pty import PtyDevice

# Argument byte counts of ESC/GS commands that only change formatting (accepted and ignored).
_ESC_ARGS = {ord("@"): 0, ord("d"): 1, ord("a"): 1, ord("E"): 1, ord("!"): 1, ord("-"): 1, ord("2"): 0, ord("3"): 1, ord("t"): 1, ord("J"): 1}
_GS_ARGS = {ord("!"): 1, ord("B"): 1, ord("h"): 1, ord("w"): 1, ord("H"): 1}


@dataclass
class Page:
    """Everything printed between two cuts: raster bands stacked into one image, and text lines."""

    bands: list[Image.Image] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)

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
    """Pure incremental ESC/POS parser: feed bytes, read finished pages; unknown commands are counted."""

    def __init__(self) -> None:
        """Start with an empty page."""
        self._buffer = bytearray()
        self._text = bytearray()
        self.current = Page()
        self.pages: list[Page] = []
        self.unknown: list[bytes] = []
        self.resets = 0

    def feed(self, data: bytes) -> None:
        """Consume bytes; an incomplete command stays buffered until the rest arrives."""
        self._buffer += data
        while self._buffer:
            used = self._step()
            if used == 0:
                return
            del self._buffer[:used]

    def _step(self) -> int:
        """Parse one command or character at the head of the buffer; 0 when more bytes are needed."""
        buf = self._buffer
        head = buf[0]
        if head == ESC:
            return self._escape(buf)
        if head == GS:
            return self._group(buf)
        if head == LF:
            self.current.lines.append(self._text.decode(TEXT_ENCODING, errors="replace"))
            self._text.clear()
            return 1
        self._text.append(head)
        return 1

    def _escape(self, buf: bytearray) -> int:
        """ESC commands: reset, feed, and formatting that the simulator ignores."""
        if len(buf) < 2:
            return 0
        args = _ESC_ARGS.get(buf[1])
        if args is None:
            self.unknown.append(bytes(buf[:2]))
            return 2
        if len(buf) < 2 + args:
            return 0
        if buf[1] == ord("@"):
            self.resets += 1
        return 2 + args

    def _group(self, buf: bytearray) -> int:
        """GS commands: `GS v 0` raster images and `GS V` cuts."""
        if len(buf) < 2:
            return 0
        if buf[1] == ord("v"):
            if len(buf) < 8:
                return 0
            width_bytes = buf[4] | buf[5] << 8
            rows = buf[6] | buf[7] << 8
            end = 8 + width_bytes * rows
            if len(buf) < end:
                return 0
            bits = bytes(b ^ 0xFF for b in buf[8:end])
            self.current.bands.append(Image.frombytes("1", (width_bytes * 8, rows), bits))
            return end
        if buf[1] == ord("V"):
            if len(buf) < 3:
                return 0
            size = 4 if buf[2] in (65, 66) else 3
            if len(buf) < size:
                return 0
            self.pages.append(self.current)
            self.current = Page()
            return size
        args = _GS_ARGS.get(buf[1])
        if args is None:
            self.unknown.append(bytes(buf[:2]))
            return 2
        return 0 if len(buf) < 2 + args else 2 + args


class PrinterSimulator(PtyDevice):
    """The parser served on a pty from a thread; `pages` holds each cut-off label."""

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
