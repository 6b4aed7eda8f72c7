"""A private Mosquitto process on loopback, for the demo and the tests (never the system service).

The tests add TLS, passwords and ACLs on top of it (tests/helpers/secure_broker.py).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path


class BrokerUnavailable(RuntimeError):
    """Mosquitto is not installed or would not start."""


def free_port() -> int:
    """A TCP port nobody listens on right now (bind to port 0 and let the kernel choose)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    """Poll a TCP connect until the broker listens (never sleep-and-hope)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise BrokerUnavailable(f"mosquitto did not listen on port {port} within {timeout} s")


@dataclass
class Mosquitto:
    """One broker with persistence and a plain, anonymous listener on `port` (loopback only)."""

    workdir: Path
    port: int = field(default_factory=free_port)
    persistent: bool = True
    process: subprocess.Popen[bytes] | None = None

    def _security(self) -> list[str]:
        """Configuration lines for authentication and more listeners (none here: the demo broker is open)."""
        return ["allow_anonymous true"]

    def _ports(self) -> list[int]:
        """Every port the broker must listen on before it counts as started."""
        return [self.port]

    def _write_config(self) -> Path:
        """The broker's configuration file in its work folder."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        lines = ["user root", "log_dest stderr", "log_type error", "log_type warning"]
        if self.persistent:
            lines += [
                "persistence true",
                f"persistence_location {self.workdir}/",
                "autosave_interval 1",
                "autosave_on_changes true",
            ]
        # A slow or offline headquarters subscriber must not lose queued QoS 1 messages (default cap: 1000).
        lines += ["max_queued_messages 1000000", "max_inflight_messages 200", "set_tcp_nodelay true", f"listener {self.port} 127.0.0.1"]
        lines += self._security()
        conf = self.workdir / "mosquitto.conf"
        conf.write_text("\n".join(lines) + "\n")
        return conf

    def start(self) -> Mosquitto:
        """Start the process and wait until it accepts connections."""
        binary = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)
        if binary is None:
            raise BrokerUnavailable("mosquitto is not installed: `apt-get install mosquitto` (Debian) or set STORE_EDGE_BROKER")
        conf = self._write_config()
        self.process = subprocess.Popen([binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            for port in self._ports():
                wait_for_port(port)
        except BrokerUnavailable:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Terminate politely (persistence is flushed), then make sure it is gone."""
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    @property
    def url(self) -> str:
        """The plain listener as a store-edge broker URL."""
        return f"mqtt://127.0.0.1:{self.port}"
