"""A private Mosquitto process on loopback, for the demo and the tests (never the system service)."""

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
class TlsListener:
    """A second listener with server certificate files (PEM paths)."""

    port: int
    ca_file: Path
    cert_file: Path
    key_file: Path
    require_certificate: bool = False


@dataclass
class Mosquitto:
    """One broker: plain listener on `port`, optional TLS listener, password file and per-store ACL."""

    workdir: Path
    port: int = field(default_factory=free_port)
    tls: TlsListener | None = None
    passwords: dict[str, str] | None = None
    store_acl: bool = False
    persistent: bool = True
    process: subprocess.Popen[bytes] | None = None

    def _write_config(self) -> Path:
        self.workdir.mkdir(parents=True, exist_ok=True)
        lines = ["user root", "allow_anonymous " + ("false" if self.passwords else "true"), "log_dest stderr", "log_type error", "log_type warning"]
        if self.persistent:
            lines += [
                "persistence true",
                f"persistence_location {self.workdir}/",
                "autosave_interval 1",
                "autosave_on_changes true",
            ]
        # A slow or offline headquarters subscriber must not lose queued QoS 1 messages (default cap: 1000).
        lines += ["max_queued_messages 1000000", "max_inflight_messages 200", "set_tcp_nodelay true", f"listener {self.port} 127.0.0.1"]
        if self.passwords:
            pwfile = self.workdir / "passwords"
            pwfile.write_text("")
            pwfile.chmod(0o600)
            for user, password in self.passwords.items():
                subprocess.run(["mosquitto_passwd", "-b", str(pwfile), user, password], check=True, capture_output=True)
            lines.append(f"password_file {pwfile}")
        if self.store_acl:
            acl = self.workdir / "acl"
            acl.write_text("pattern readwrite store-edge/v1/%u/#\nuser hq\ntopic readwrite store-edge/v1/#\n")
            acl.chmod(0o600)
            lines.append(f"acl_file {acl}")
        if self.tls:
            lines += [
                f"listener {self.tls.port} 127.0.0.1",
                f"cafile {self.tls.ca_file}",
                f"certfile {self.tls.cert_file}",
                f"keyfile {self.tls.key_file}",
                f"require_certificate {'true' if self.tls.require_certificate else 'false'}",
            ]
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
            wait_for_port(self.port)
            if self.tls:
                wait_for_port(self.tls.port)
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

    def kill(self) -> None:
        """SIGKILL, as a crashing broker would die."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    @property
    def url(self) -> str:
        """The plain listener as a store-edge broker URL."""
        return f"mqtt://127.0.0.1:{self.port}"
