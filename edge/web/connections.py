"""Bounds on the web server's connections that aiohttp has no setting for: a cap, and accept errors logged without a flood.

aiohttp closes a connection that has not sent a whole request head within its `keepalive_timeout`
(the timer runs from the moment a connection opens), so a half-open connection costs a
descriptor for that long at most. What it lacks is a cap: 1,100 such connections used to take
every descriptor of a process under systemd's default limit of 1,024, after which the port
stopped answering and asyncio logged a traceback for every failed `accept()`. The `Gate` is the
protocol factory in front of aiohttp's: at the cap it closes the oldest connection that is
waiting for a request (idle keep-alive or a head still arriving), so a flood of idle
connections cannot starve a real one; when every connection is busy serving a request
(e.g. live feeds) the newcomer gets `503` and is closed.
"""

from __future__ import annotations

import asyncio
import resource
import time
from collections.abc import Callable
from typing import Any

import structlog
from aiohttp import web
from aiohttp.web_protocol import RequestHandler

log = structlog.get_logger("web")

FD_RESERVE = 256  # descriptors kept for everything else (SQLite, serial ports, cameras, MQTT, the loop itself)
REFUSED_LINGER_S = 0.5  # a refused connection is read from this long so the client gets its 503, not a reset
MAX_LINGERING = 64
LOG_EVERY_S = 60.0  # the same connection trouble is logged at most once a minute, with a count
_REFUSAL = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\nRetry-After: 5\r\n\r\n"


def connection_cap(wanted: int) -> int:
    """`wanted`, lowered to fit the process's descriptor limit (RLIMIT_NOFILE) with FD_RESERVE to spare."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return wanted
    return max(16, min(wanted, soft - FD_RESERVE))


class Throttle:
    """At most one log line per `every_s` for one kind of trouble; the next line says how many were not logged."""

    def __init__(self, every_s: float = LOG_EVERY_S, clock: Callable[[], float] = time.monotonic) -> None:
        self._every = every_s
        self._clock = clock
        self._last: float | None = None
        self._quiet = 0

    def __call__(self) -> int | None:
        """The number of occurrences not logged since the last line when this one should be logged, else None."""
        now = self._clock()
        if self._last is not None and now - self._last < self._every:
            self._quiet += 1
            return None
        quiet, self._quiet, self._last = self._quiet, 0, now
        return quiet


class _Refused(asyncio.Protocol):
    """A connection over the cap while every other one is busy: a 503, then closed.

    It lingers up to REFUSED_LINGER_S reading (and dropping) what the client sends, because
    closing with unread data makes the kernel reset the connection before the client reads the
    503; at most MAX_LINGERING do so at once per gate, any more are closed at once.
    """

    def __init__(self, gate: Gate) -> None:
        self._gate = gate
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Answer, half-close, and close after a moment (or at once when many already linger)."""
        assert isinstance(transport, asyncio.Transport)
        transport.write(_REFUSAL)
        if self._gate.lingering >= MAX_LINGERING or not transport.can_write_eof():
            transport.close()
            return
        transport.write_eof()
        self._gate.lingering += 1
        self._timer = asyncio.get_running_loop().call_later(REFUSED_LINGER_S, transport.close)

    def data_received(self, data: bytes) -> None:
        """The refused request: dropped."""

    def connection_lost(self, exc: Exception | None) -> None:
        """Stop lingering."""
        if self._timer is not None:
            self._timer.cancel()
            self._gate.lingering -= 1


class Gate:
    """The protocol factory the listening socket uses: aiohttp's handler while under the cap, room made or a 503 at it."""

    def __init__(self, server: web.Server, cap: int, busy: set[Any]) -> None:
        self._server = server
        self.cap = cap
        self._busy = busy  # handlers serving a request now (kept by the app's middleware)
        self._pending: set[RequestHandler] = set()  # made, and not yet among aiohttp's connections
        self._evicted = Throttle()
        self._refused = Throttle()
        self.lingering = 0  # refused connections still open (see _Refused)

    def __call__(self) -> asyncio.BaseProtocol:
        """A handler for the new connection, closing the oldest waiting one first when at the cap."""
        live = self._server.connections  # in the order they opened, oldest first
        open_ = [h for h in live if h.transport is not None and not h.transport.is_closing()]
        if len(open_) + len(self._pending) >= self.cap and not self._evict(open_):
            quiet = self._refused()
            if quiet is not None:
                log.warning("web.connections.full", cap=self.cap, refused_unlogged=quiet, hint="every connection is serving a request")
            return _Refused(self)
        handler = self._server()
        self._pending.add(handler)
        # The transport calls connection_made soon after this returns; two hops later it has surely run.
        loop = asyncio.get_running_loop()
        loop.call_soon(loop.call_soon, self._pending.discard, handler)
        return handler

    def _evict(self, open_: list[RequestHandler]) -> bool:
        """Close the oldest connection waiting for a request; False when every one is busy."""
        for handler in open_:
            if handler not in self._busy:
                handler.force_close()
                quiet = self._evicted()
                if quiet is not None:
                    log.warning("web.connections.evicted", cap=self.cap, evicted_unlogged=quiet,
                                hint="at the connection cap: the oldest idle connection was closed")
                return True
        return False


class AcceptErrors:
    """The loop's exception handler while the server listens: a failed `accept()` (out of descriptors) is one throttled line, no traceback."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._previous = loop.get_exception_handler()
        self._throttle = Throttle()

    def install(self) -> None:
        """Take over the loop's exception handler (other contexts go to the one before)."""
        self._loop.set_exception_handler(self._handle)

    def remove(self) -> None:
        """Give the loop its previous handler back (unless another server has taken it over since)."""
        if self._loop.get_exception_handler() == self._handle:
            self._loop.set_exception_handler(self._previous)

    def _handle(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        """Throttle accept failures; hand anything else on unchanged."""
        if str(context.get("message", "")).startswith("socket.accept() out of system resource"):
            quiet = self._throttle()
            if quiet is not None:
                log.error("web.accept.failed", error=str(context.get("exception")), failed_unlogged=quiet,
                          hint="the process is out of file descriptors: raise LimitNOFILE or lower [http] max_connections")
            return
        if self._previous is not None:
            self._previous(loop, context)
        else:
            loop.default_exception_handler(context)
