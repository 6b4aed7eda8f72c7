"""The tests' broker with a TLS listener, a password file and the per-store ACL of the deployment notes."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from edge.demo.broker import Mosquitto


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

    def _security(self) -> list[str]:
        """Passwords (anonymous refused when there are any), the ACL and the TLS listener."""
        lines = ["allow_anonymous " + ("false" if self.passwords else "true")]
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
        return lines

    def _ports(self) -> list[int]:
        """The plain port and the TLS one."""
        return [self.port, *([self.tls.port] if self.tls else [])]
