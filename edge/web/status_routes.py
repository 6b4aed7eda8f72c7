"""The store status page and its read-only JSON API: status, labels, fridges, picks, and a live feed."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from aiohttp import web

from edge.web import queries, sse
from edge.web.sources import Sources

MAX_LIMIT = 10_000


class BadQuery(ValueError):
    """A malformed query parameter; the message names it and becomes the 400 reply."""


def _int(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    """An integer query parameter within [low, high]."""
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadQuery(f"{name}: expected an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise BadQuery(f"{name}: must be between {low} and {high}")
    return value


def _choice(request: web.Request, name: str, allowed: tuple[str, ...]) -> str | None:
    """An optional query parameter from a fixed set."""
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    if raw not in allowed:
        raise BadQuery(f"{name}: expected one of {', '.join(allowed)}, got {raw!r}")
    return raw


def _checked(allowed: set[str], request: web.Request) -> None:
    """Unknown parameters are mistakes worth reporting."""
    unknown = sorted(set(request.query) - allowed - {"token"})
    if unknown:
        raise BadQuery(f"unknown parameter(s): {', '.join(unknown)}")


def add(app: web.Application, sources: Sources, closing: asyncio.Event, interval_s: float, assets: Path) -> None:
    """Register `/`, `/api/status`, `/api/labels`, `/api/fridges`, `/api/picks`, `/api/map.svg` and `/api/events`."""
    store = sources.store

    async def read(fn: Any, empty: Any) -> Any:
        """A query on the store's read connection, or `empty` when the web server runs without a store."""
        return empty if store is None else await store.read(fn)

    @web.middleware
    async def bad_query(request: web.Request, handler: Any) -> web.StreamResponse:
        """BadQuery → 400 with its reason."""
        try:
            return await handler(request)
        except BadQuery as err:
            return web.json_response({"error": str(err)}, status=400)

    app.middlewares.append(bad_query)

    async def page(request: web.Request) -> web.FileResponse:
        """The status page itself (data comes from the API)."""
        return web.FileResponse(assets / "status.html")

    async def get_status(request: web.Request) -> web.Response:
        """What `store-edge status` shows."""
        return web.json_response(await sources.status())

    async def get_labels(request: web.Request) -> web.Response:
        """Counts by state and a page of labels: `?state=failed&limit=100`."""
        _checked({"state", "limit"}, request)
        state = _choice(request, "state", queries.LABEL_STATES)
        limit = _int(request, "limit", 100, 0, MAX_LIMIT)
        return web.json_response(await read(lambda db: queries.labels(db, state, limit), {"counts": {}, "total": 0, "labels": []}))

    async def get_fridges(request: web.Request) -> web.Response:
        """Sections with readings of the last `hours` (default 24) in at most `points` buckets, and alert state."""
        _checked({"hours", "points"}, request)
        hours = _int(request, "hours", 24, 1, 24 * 31)
        points = _int(request, "points", 96, 1, 2000)
        sections = await read(lambda db: queries.fridges(db, sources.sections, hours, points), [])
        return web.json_response({"hours": hours, "sections": sections})

    async def get_picks(request: web.Request) -> web.Response:
        """Pick orders with colour and progress: `?status=active&limit=50`."""
        _checked({"status", "limit"}, request)
        status = _choice(request, "status", ("active", "done", "cancelled", "timeout"))
        limit = _int(request, "limit", 50, 1, 1000)
        return web.json_response({"orders": await read(lambda db: queries.picks(db, status, limit), [])})

    async def summary() -> dict[str, Any]:
        """What the live feed sends: the daemon status, label counts, fridge latest/alerts, active picks."""

        def query(db: Any) -> dict[str, Any]:
            """All of it in one trip to the read thread."""
            return {
                "labels": queries.labels(db, None, 0)["counts"],
                "fridges": queries.fridge_summary(db),
                "picks": queries.picks(db, "active", 50),
            }

        data = await read(query, {"labels": {}, "fridges": {"latest": {}, "alerts": {}}, "picks": []})
        status = await sources.status()
        status.pop("now", None)
        status.pop("uptime_s", None)  # changes every time; not worth a push on its own
        return {"status": status, **data}

    async def wake() -> None:
        """The feed re-reads every `interval_s` (or sooner when the server stops)."""
        try:
            await asyncio.wait_for(closing.wait(), interval_s)
        except TimeoutError:
            pass

    async def events(request: web.Request) -> web.StreamResponse:
        """Server-sent `summary` events whenever the summary changes."""
        return await sse.stream(request, summary, wake, closing, "summary")

    async def get_map(request: web.Request) -> web.Response:
        """The store map with located labels and open deviations (404 without a configured map)."""
        draw = sources.store_map
        if draw is None or store is None:
            raise web.HTTPNotFound(text="no store map configured")
        return web.Response(text=await store.read(draw), content_type="image/svg+xml")

    app.router.add_get("/", page)
    app.router.add_get("/api/map.svg", get_map)
    app.router.add_get("/api/status", get_status)
    app.router.add_get("/api/labels", get_labels)
    app.router.add_get("/api/fridges", get_fridges)
    app.router.add_get("/api/picks", get_picks)
    app.router.add_get("/api/events", events)
