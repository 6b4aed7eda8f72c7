"""The daemon's web server (aiohttp on the daemon's loop): the status page and JSON API behind a token, plus the jobs' parts."""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import structlog
from aiohttp import web

from edge.web import metrics, status_routes
from edge.web.connections import AcceptErrors, Gate, connection_cap
from edge.web.params import MAX_BODY_BYTES, BadBody, BadQuery
from edge.web.sources import Sources

log = structlog.get_logger("web")

COOKIE = "edge_token"
ASSETS = Path(__file__).parent / "assets"
SHUTDOWN_TIMEOUT_S = 2.0
HEADER_TIMEOUT_S = 10.0  # a connection must send a whole request head within this; an idle keep-alive one is closed after it
BACKLOG = 128  # connections the kernel queues while the loop is busy
MAX_CONNECTIONS = 1024
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
BUSY: web.AppKey[set[Any]] = web.AppKey("busy", set)  # the connections serving a request now (for the connection cap)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Middleware = Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]


def _token_middleware(token: str | None, public: tuple[str, ...]) -> Middleware:
    """401 without the token (header, cookie or `?token=`); a page opened with `?token=` keeps it in a cookie."""

    def matches(sent: str | None) -> bool:
        """Constant-time comparison with the configured token (whatever bytes were sent)."""
        return token is not None and sent is not None and hmac.compare_digest(sent.encode("utf-8", "surrogateescape"), token.encode())

    @web.middleware
    async def require_token(request: web.Request, handler: Handler) -> web.StreamResponse:
        """Let public paths and requests carrying the token through."""
        if token is None or request.path.startswith(public) or request.match_info.http_exception is not None:
            # public paths, and paths no route serves (their 404/405 tells nothing worth a token)
            return await handler(request)
        bearer = request.headers.get("Authorization", "").removeprefix("Bearer ").strip() or None
        if matches(bearer) or matches(request.cookies.get(COOKIE)):
            return await handler(request)
        if matches(request.query.get("token")):
            if request.path.startswith("/api/"):
                return await handler(request)
            clean = request.rel_url.without_query_params("token")  # keep the token out of the address bar
            response = web.HTTPFound(str(clean))
            response.set_cookie(COOKIE, token, httponly=True, samesite="Strict", path="/")
            raise response
        if request.path.startswith("/api/"):
            return web.json_response({"error": "missing or wrong token", "code": "unauthorized"}, status=401)
        return web.Response(status=401, content_type="text/html", text=_LOGIN)

    return require_token


_LOGIN = """<!doctype html><meta charset="utf-8"><title>store-edge</title>
<body style="font-family:sans-serif;padding:2em"><h1>401</h1><p>需要访问令牌 / An access token is needed.</p>
<form><input name="token" type="password" placeholder="token" autofocus> <button>OK</button></form></body>"""


def cross_site(request: web.Request) -> str | None:
    """Why a browser request comes from another site (Sec-Fetch-Site, else Origin), or None; scripts send neither and pass."""
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site is not None:
        return None if fetch_site in ("same-origin", "none") else f"Sec-Fetch-Site: {fetch_site[:40]}"
    origin = request.headers.get("Origin")
    if origin is not None and origin != f"{request.scheme}://{request.host}":
        return f"Origin: {origin[:80]}"
    return None


@web.middleware
async def _same_origin(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A request that changes something (POST, …) from a page of another site is refused: no cross-site form can tap a scale."""
    if request.method not in SAFE_METHODS:
        reason = cross_site(request)
        if reason is not None:
            return web.json_response({"error": f"cross-site request refused ({reason})", "code": "forbidden"}, status=403)
    return await handler(request)


@web.middleware
async def _bad_request(request: web.Request, handler: Handler) -> web.StreamResponse:
    """BadQuery / BadBody → 400 (or the body's own 408/413/415) with its reason, for every route (core or job)."""
    try:
        return await handler(request)
    except BadQuery as err:
        status = err.status if isinstance(err, BadBody) else 400
        return web.json_response({"error": str(err), "code": "invalid_argument"}, status=status)


def _busy_middleware(busy: set[Any]) -> Middleware:
    """Mark the connection busy while it serves a request, so the connection cap never closes it for an idle one."""

    @web.middleware
    async def mark(request: web.Request, handler: Handler) -> web.StreamResponse:
        """In the busy set for the time of the handler."""
        busy.add(request.protocol)
        try:
            return await handler(request)
        finally:
            busy.discard(request.protocol)

    return mark


def build_app(sources: Sources, token: str | None, live_interval_s: float = 1.0) -> web.Application:
    """Core routes, each job part's routes and static files, and the token check (static files and customer screens are public)."""
    public = ("/assets/", "/jobs/", *(prefix for part in sources.parts for prefix in part.public))
    busy: set[Any] = set()
    app = web.Application(
        middlewares=[_busy_middleware(busy), _same_origin, _token_middleware(token, public), _bad_request],
        client_max_size=MAX_BODY_BYTES,
    )
    app[BUSY] = busy
    closing = asyncio.Event()

    async def on_shutdown(_: web.Application) -> None:
        """End live streams so the server stops quickly."""
        closing.set()

    app.on_shutdown.append(on_shutdown)
    status_routes.add(app, sources, closing, live_interval_s, ASSETS)
    if sources.health is not None:
        metrics.add(app, sources.health)
    for part in sources.parts:
        part.add_routes(app, closing)
        if part.assets is not None:
            app.router.add_static(part.asset_prefix, str(part.assets))
    app.router.add_static("/assets/", str(ASSETS))
    return app


class WebServer:
    """Starts and stops the site; the bound port is known after `start` (port 0 picks one).

    aiohttp's own settings bound what it can: `keepalive_timeout` (from the moment a connection
    opens) is the header timeout, `client_max_size` the body size, its parser the line and
    header sizes; the `Gate` (edge/web/connections.py) adds the connection cap it lacks.
    Handlers are not cancelled when a client goes away (`handler_cancellation=False`): a tap
    that has started printing a label finishes it; live streams end at their next write.
    """

    def __init__(
        self, app: web.Application, host: str, port: int,
        max_connections: int = MAX_CONNECTIONS, header_timeout_s: float = HEADER_TIMEOUT_S,
    ) -> None:
        self._runner = web.AppRunner(
            app, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT_S, handler_cancellation=False, keepalive_timeout=header_timeout_s,
        )
        self._busy = app.get(BUSY, set())
        self._host = host
        self._port = port
        self._wanted = max_connections
        self._listener: asyncio.Server | None = None
        self._accept_errors: AcceptErrors | None = None
        self.port: int | None = None
        self.cap: int | None = None

    async def start(self) -> None:
        """Bind and serve."""
        await self._runner.setup()
        assert self._runner.server is not None
        loop = asyncio.get_running_loop()
        self.cap = connection_cap(self._wanted)
        if self.cap < self._wanted:
            log.warning("web.connections.capped", max_connections=self._wanted, cap=self.cap,
                        hint="the descriptor limit is low: raise LimitNOFILE (the unit sets 8192)")
        gate = Gate(self._runner.server, self.cap, self._busy)
        self._accept_errors = AcceptErrors(loop)
        self._accept_errors.install()
        try:
            self._listener = await loop.create_server(gate, self._host, self._port, backlog=BACKLOG, reuse_address=True)
        except OSError:
            await self.stop()
            raise
        sockets = self._listener.sockets
        self.port = sockets[0].getsockname()[1] if sockets else self._port
        log.info("web.listening", host=self._host, port=self.port, max_connections=self.cap)

    async def stop(self) -> None:
        """Stop listening, close connections and release the port."""
        if self._listener is not None:
            self._listener.close()
        await self._runner.cleanup()
        if self._listener is not None:
            await self._listener.wait_closed()
            self._listener = None
        if self._accept_errors is not None:
            self._accept_errors.remove()
            self._accept_errors = None
