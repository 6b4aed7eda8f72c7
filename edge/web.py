"""The daemon's local HTTP API (aiohttp on the daemon's loop): `/api/status` for `store-edge status` and IT."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from aiohttp import web

log = structlog.get_logger("web")

StatusFn = Callable[[], Awaitable[dict[str, Any]]]


def build_app(status: StatusFn, token: str | None) -> web.Application:
    """Routes plus the optional bearer-token check (read-only API)."""

    @web.middleware
    async def require_token(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        if token is not None:
            sent = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
            if not hmac.compare_digest(sent.encode(), token.encode()):
                return web.json_response({"error": "missing or wrong token"}, status=401)
        return await handler(request)

    async def get_status(request: web.Request) -> web.Response:
        return web.json_response(await status())

    app = web.Application(middlewares=[require_token])
    app.router.add_get("/api/status", get_status)
    return app


class WebServer:
    """Starts and stops the site; the bound port is known after `start` (port 0 picks one)."""

    def __init__(self, app: web.Application, host: str, port: int) -> None:
        self._runner = web.AppRunner(app, access_log=None)
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
