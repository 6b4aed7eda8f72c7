"""Server-sent events: one snapshot per change, a heartbeat while idle, and a clean end when the server stops."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

HEARTBEAT_S = 15.0
RETRY_MS = 2000  # the browser's EventSource reconnects after this when the stream drops


async def stream(
    request: web.Request,
    snapshot: Callable[[], Awaitable[Any]],
    wake: Callable[[], Awaitable[None]],
    closing: asyncio.Event,
    event: str,
) -> web.StreamResponse:
    """Send `snapshot()` whenever it differs from the last one sent; `wake()` returns when it may have changed."""
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
    await response.prepare(request)
    await response.write(f"retry: {RETRY_MS}\n\n".encode())
    last: str | None = None
    idle = 0.0
    loop = asyncio.get_running_loop()
    try:
        while not closing.is_set():
            body = json.dumps(await snapshot(), ensure_ascii=False, default=str)
            if body != last:
                await response.write(f"event: {event}\ndata: {body}\n\n".encode())
                last, idle = body, loop.time()
            elif loop.time() - idle > HEARTBEAT_S:
                await response.write(b": keep-alive\n\n")
                idle = loop.time()
            await wake()
    except (ConnectionResetError, ConnectionError):
        pass  # the browser went away; EventSource reconnects on its own
    return response
