"""The store status page and its core API: the daemon status and the live feed; job panels come from their web parts."""

from __future__ import annotations

import asyncio
import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aiohttp import web

from edge.web import sse
from edge.web.sources import Sources

PANELS_MARK = "<!-- job panels -->"


def add(app: web.Application, sources: Sources, closing: asyncio.Event, interval_s: float, assets: Path) -> None:
    """Register `/`, `/api/status` and `/api/events`."""
    page_html = (assets / "status.html").read_text(encoding="utf-8").replace(PANELS_MARK, _panel_tags(sources))

    async def page(request: web.Request) -> web.Response:
        """The status page itself, with the running jobs' panel scripts (data comes from the API)."""
        return web.Response(text=page_html, content_type="text/html")

    async def get_status(request: web.Request) -> web.Response:
        """What `store-edge status` shows."""
        return web.json_response(await sources.status())

    async def summary() -> dict[str, Any]:
        """What the live feed sends: the daemon status and each job's live pieces."""
        status = await sources.status()
        status.pop("now", None)
        status.pop("uptime_s", None)  # changes every time; not worth a push on its own
        merged: dict[str, Any] = {"status": status}
        for part in sources.parts:
            if part.live is not None:
                merged.update(await part.live())
        return merged

    async def wake() -> None:
        """The feed re-reads every `interval_s` (or sooner when the server stops)."""
        try:
            await asyncio.wait_for(closing.wait(), interval_s)
        except TimeoutError:
            pass

    async def events(request: web.Request) -> web.StreamResponse:
        """Server-sent `summary` events whenever the summary changes."""
        return await sse.stream(request, summary, wake, closing, "summary")

    app.router.add_get("/", page)
    app.router.add_get("/api/status", get_status)
    app.router.add_get("/api/events", events)


def _panel_tags(sources: Sources) -> str:
    """One script tag per panel of the running jobs, in job order."""
    tags: Sequence[str] = [
        f'<script src="{html.escape(part.asset_prefix + script)}"></script>' for part in sources.parts for script in part.panels
    ]
    return "\n".join(tags)
