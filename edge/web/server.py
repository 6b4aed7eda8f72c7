"""The daemon's web server (aiohttp on the daemon's loop): the status page and JSON API behind a token, plus the jobs' parts."""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Awaitable, Callable
from pathlib import Path

import structlog
from aiohttp import web

from edge.web import status_routes
from edge.web.params import BadQuery
from edge.web.sources import Sources

log = structlog.get_logger("web")

COOKIE = "edge_token"
ASSETS = Path(__file__).parent / "assets"
SHUTDOWN_TIMEOUT_S = 2.0

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _token_middleware(token: str | None, public: tuple[str, ...]) -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
    """401 without the token (header, cookie or `?token=`); a page opened with `?token=` keeps it in a cookie."""

    def matches(sent: str | None) -> bool:
        """Constant-time comparison with the configured token."""
        return token is not None and sent is not None and hmac.compare_digest(sent.encode(), token.encode())

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
            return web.json_response({"error": "missing or wrong token"}, status=401)
        return web.Response(status=401, content_type="text/html", text=_LOGIN)

    return require_token


_LOGIN = """<!doctype html><meta charset="utf-8"><title>store-edge</title>
<body style="font-family:sans-serif;padding:2em"><h1>401</h1><p>需要访问令牌 / An access token is needed.</p>
<form><input name="token" type="password" placeholder="token" autofocus> <button>OK</button></form></body>"""


@web.middleware
async def _bad_query(request: web.Request, handler: Handler) -> web.StreamResponse:
    """BadQuery → 400 with its reason, for every route (core or job)."""
    try:
        return await handler(request)
    except BadQuery as err:
        return web.json_response({"error": str(err)}, status=400)


def build_app(sources: Sources, token: str | None, live_interval_s: float = 1.0) -> web.Application:
    """Core routes, each job part's routes and static files, and the token check (static files and customer screens are public)."""
    public = ("/assets/", "/jobs/", *(prefix for part in sources.parts for prefix in part.public))
    app = web.Application(middlewares=[_token_middleware(token, public), _bad_query])
    closing = asyncio.Event()

    async def on_shutdown(_: web.Application) -> None:
        """End live streams so the server stops quickly."""
        closing.set()

    app.on_shutdown.append(on_shutdown)
    status_routes.add(app, sources, closing, live_interval_s, ASSETS)
    for part in sources.parts:
        part.add_routes(app, closing)
        if part.assets is not None:
            app.router.add_static(part.asset_prefix, str(part.assets))
    app.router.add_static("/assets/", str(ASSETS))
    return app


class WebServer:
    """Starts and stops the site; the bound port is known after `start` (port 0 picks one)."""

    def __init__(self, app: web.Application, host: str, port: int) -> None:
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT_S)
        self._host = host
        self._port = port
        self.port: int | None = None

    async def start(self) -> None:
        """Bind and serve."""
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        server = site._server  # aiohttp exposes the bound socket only here
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else self._port
        log.info("web.listening", host=self._host, port=self.port)

    async def stop(self) -> None:
        """Close connections and release the port."""
        await self._runner.cleanup()
