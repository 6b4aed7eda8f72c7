"""Simulated serial devices: a pseudo-terminal "serial port" with a stable symlink path that can be
unplugged and replugged, and the thread that serves it.

Simulators (scales, the label printer) own the master side; the production driver opens the
symlink with pyserial exactly as it would open `/dev/ttyUSB0`.
"""

from __future__ import annotations

import errno
import os
import select
import tempfile
import threading
import tty
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Self


class PtyPort:
    """Master side of a pty pair published at `path`; unplug closes it and removes the link."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        """Create the pty and the link now, so the port exists as soon as the object does."""
        self.path = Path(path)
        self._lock = threading.Lock()
        self._master: int | None = None
        self._slave: int | None = None
        self.plug()

    def plug(self) -> None:
        """Open a fresh pty pair and point the link at its slave (a replugged USB adapter)."""
        with self._lock:
            if self._master is not None:
                return
            master, slave = os.openpty()
            tty.setraw(slave)
            os.set_blocking(master, False)
            self.path.unlink(missing_ok=True)
            self.path.symlink_to(os.ttyname(slave))
            self._master, self._slave = master, slave

    def unplug(self) -> None:
        """Remove the link and close both ends: the driver's next read fails like a pulled cable."""
        with self._lock:
            self.path.unlink(missing_ok=True)
            for fd in (self._master, self._slave):
                if fd is not None:
                    os.close(fd)
            self._master = self._slave = None

    def read(self, timeout: float) -> bytes:
        """Wait up to `timeout` s for bytes from the driver; b'' when none (or unplugged)."""
        master = self._master
        if master is None:
            threading.Event().wait(timeout)
            return b""
        try:
            ready, _, _ = select.select([master], [], [], timeout)
            if not ready:
                return b""
            with self._lock:
                if self._master != master:
                    return b""
                return os.read(master, 4096)
        except (OSError, ValueError) as err:
            if isinstance(err, OSError) and err.errno not in (errno.EIO, errno.EBADF, errno.EAGAIN):
                raise
            return b""

    def write(self, data: bytes) -> None:
        """Send bytes to the driver; dropped when unplugged or when nobody drains the line."""
        with self._lock:
            if self._master is None:
                return
            try:
                os.write(self._master, data)
            except BlockingIOError:
                return
            except OSError as err:
                if err.errno not in (errno.EIO, errno.EAGAIN):
                    raise

    def close(self) -> None:
        """Unplug for good."""
        self.unplug()


class PtyDevice(ABC):
    """A simulated device on its own PtyPort (in a temporary folder unless a path is given), served by a thread."""

    def __init__(self, path: str | Path | None, device_name: str) -> None:
        """Open the pty now (the port exists immediately); `start()` begins serving."""
        self._tmpdir = None if path else tempfile.TemporaryDirectory(prefix=f"{device_name}-")
        self.port = PtyPort(path or Path(self._tmpdir.name) / device_name)  # type: ignore[union-attr]
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def path(self) -> str:
        """The device path to hand to the driver."""
        return str(self.port.path)

    def start(self) -> Self:
        """Start the serving thread."""
        self._thread = threading.Thread(target=self._serve, name=type(self).__name__, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and remove the port."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        self.port.close()
        if self._tmpdir is not None:
            self._tmpdir.cleanup()

    def __enter__(self) -> Self:
        """Start on entering a with-block."""
        return self.start()

    def __exit__(self, *exc: object) -> None:
        """Stop on leaving it."""
        self.stop()

    @abstractmethod
    def _serve(self) -> None:
        """The device's loop, until `self._stop` is set."""
