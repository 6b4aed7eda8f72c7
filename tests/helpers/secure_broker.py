"""The tests' broker with a TLS listener, a password file and the per-store ACL of the deployment notes.

With `username_as_clientid` it is the setup docs/mqtt-api.md recommends: the stores' listeners
replace every client id with the account's username (Mosquitto's `use_username_as_clientid`),
so one store's credentials can never take over another store's session; headquarters' own
clients connect on a listener of their own (`hq_port`), where one account may hold several
connections. `TakeoverProxy` is a broker that ends a session the way MQTT 5 says (DISCONNECT
0x8E): Mosquitto 2.0 closes the old connection without one.
"""

from __future__ import annotations

import asyncio
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from edge.demo.broker import Mosquitto
from tests.helpers.proxy import CuttableProxy

#: MQTT 5 DISCONNECT, reason 0x8E "Session taken over", no properties.
DISCONNECT_TAKEN_OVER = bytes([0xE0, 0x02, 0x8E, 0x00])


@dataclass
class TlsListener:
    """A second listener with server certificate files (PEM paths)."""

    port: int
    ca_file: Path
    cert_file: Path
    key_file: Path
    require_certificate: bool = False


@dataclass
class SecureMosquitto(Mosquitto):
    """Mosquitto with an optional TLS listener, password file and per-store ACL."""

    tls: TlsListener | None = None
    passwords: dict[str, str] = field(default_factory=dict)
    store_acl: bool = False
    username_as_clientid: bool = False
    hq_port: int | None = None

    def _security(self) -> list[str]:
        """Passwords (anonymous refused when there are any), the ACL, the stores' TLS listener and headquarters' listener.

        Mosquitto reads `use_username_as_clientid` per listener: it follows the plain listener
        (written before these lines) and the TLS one; passwords and the ACL apply to all listeners
        (`per_listener_settings` is false by default).
        """
        per_listener = ["use_username_as_clientid true"] if self.username_as_clientid else []
        lines = [*per_listener, "allow_anonymous " + ("false" if self.passwords else "true")]
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
                *per_listener,
            ]
        if self.hq_port is not None:
            lines.append(f"listener {self.hq_port} 127.0.0.1")
        return lines

    def _ports(self) -> list[int]:
        """The plain port, the TLS one and headquarters' one."""
        return [self.port, *([self.tls.port] if self.tls else []), *([self.hq_port] if self.hq_port else [])]


class TakeoverProxy(CuttableProxy):
    """A proxy in front of the broker that can end the store's session with DISCONNECT 0x8E, as a broker does on a takeover."""

    def __init__(self, target_port: int) -> None:
        """Forward to `target_port`; remember the client side of each connection."""
        self._clients: set[asyncio.StreamWriter] = set()
        super().__init__(target_port)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Forward as the plain proxy does."""
        self._clients.add(writer)
        try:
            await super()._handle(reader, writer)
        finally:
            self._clients.discard(writer)

    def take_over(self) -> None:
        """Tell every client its session was taken over, then close both sides (call while the link is idle)."""

        def send() -> None:
            for writer in list(self._clients):
                writer.write(DISCONNECT_TAKEN_OVER)
                writer.close()
            for writer in list(self._writers - self._clients):
                writer.transport.abort()

        self._call(send)

