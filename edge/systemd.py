"""sd_notify over $NOTIFY_SOCKET (READY, STATUS, WATCHDOG): the datagram protocol is a few lines, no dependency."""

from __future__ import annotations

import os
import socket


class Notifier:
    """Tells systemd how start-up went and that the loop is alive; a no-op outside systemd."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        env = dict(os.environ) if env is None else env
        address = env.get("NOTIFY_SOCKET", "")
        if address.startswith("@"):
            address = "\0" + address[1:]  # abstract namespace socket
        self._address = address or None
        usec = env.get("WATCHDOG_USEC", "")
        self.watchdog_s = int(usec) / 1_000_000 if usec.isdigit() and int(usec) > 0 else None

    @property
    def enabled(self) -> bool:
        """True when started by systemd with Type=notify."""
        return self._address is not None

    def send(self, **fields: str | int) -> None:
        """Send `KEY=value` lines, e.g. `send(READY=1, STATUS="starting")`."""
        if self._address is None:
            return
        message = "\n".join(f"{k}={v}" for k, v in fields.items()).encode()
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            try:
                sock.sendto(message, self._address)
            except OSError:
                pass  # systemd gone (shutdown): nothing useful to do
