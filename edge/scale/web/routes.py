"""The scales' touch screens: the page, a live feed of weight and candidates, search, and the tap that confirms."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from edge.scale.errors import ScaleJobError
from edge.web import sse
from edge.web.params import json_body

if TYPE_CHECKING:
    from edge.scale.job import ScaleJob

TICK_S = 0.1  # weight updates at most this often while nothing else changes
MAX_SKU = 64  # characters of a SKU sent by the screen
MAX_RANK = 99  # candidate ranks the screen can send
HTTP_STATUS = {"not_found": 404, "invalid_argument": 400}


def add(app: web.Application, scale: ScaleJob, pictures: Callable[[], dict[str, Path]], closing: asyncio.Event, assets: Path) -> None:
    """Register `/scale/{id}` and `/api/scale/{id}[/events|/search|/confirm|/picture/{sku}]`."""
    index: dict[str, Path] | None = None

    def station_or_404(request: web.Request) -> str:
        """The scale id from the path, which must be a configured scale."""
        scale_id = request.match_info["scale_id"]
        if scale_id not in scale.stations:
            raise web.HTTPNotFound(text=json.dumps({"error": f"no scale {scale_id!r}", "code": "not_found"}), content_type="application/json")
        return scale_id

    def english(item: dict[str, Any]) -> dict[str, Any]:
        """A product as shown, with its English name for the language toggle."""
        row = scale.products.get(item["sku"]) or {}
        return {**item, "name_en": row.get("name_en") or None}

    def snapshot(scale_id: str) -> dict[str, Any]:
        """Phase, weight, stability and the offered products."""
        shown = scale.candidates(scale_id)
        shown["stable"] = shown["phase"] in ("stable", "offered", "confirmed")
        shown["candidates"] = [english(c) for c in shown["candidates"]]
        return shown

    async def page(request: web.Request) -> web.FileResponse:
        """The touch screen itself."""
        station_or_404(request)
        return web.FileResponse(assets / "scale.html")

    async def get_state(request: web.Request) -> web.Response:
        """The current snapshot (the page's first paint and a fallback)."""
        return web.json_response(snapshot(station_or_404(request)))

    async def events(request: web.Request) -> web.StreamResponse:
        """Server-sent `scale` snapshots: at once when the weighing changes, else at most every TICK_S."""
        scale_id = station_or_404(request)
        changed: asyncio.Event = scale.stations[scale_id].changed

        async def current() -> dict[str, Any]:
            """The snapshot (cheap, in memory)."""
            return snapshot(scale_id)

        async def wake() -> None:
            """The station's change event, or the tick for a moving weight."""
            try:
                await asyncio.wait_for(changed.wait(), TICK_S)
            except TimeoutError:
                return
            changed.clear()

        return await sse.stream(request, current, wake, closing, "scale")

    async def search(request: web.Request) -> web.Response:
        """Products by name, English name, pinyin or initials, SKU or PLU: `?q=xj`."""
        station_or_404(request)
        text = request.query.get("q", "")
        if len(text) > 64:
            return web.json_response({"error": "q: at most 64 characters", "code": "invalid_argument"}, status=400)
        return web.json_response({"products": [english(p) for p in scale.search(text, 24)]})

    async def confirm(request: web.Request) -> web.Response:
        """The customer's tap: `{"sku": ...}` or `{"rank": n}`, with `pieces` for by-piece products (same-origin JSON only)."""
        scale_id = station_or_404(request)
        body = await json_body(request)  # a malformed body is a 400 from the server's middleware, never a 500
        if not isinstance(body, dict) or set(body) - {"sku", "rank", "pieces"} or ("sku" in body) == ("rank" in body):
            return _error("invalid_argument", "body: an object with sku or rank, and optionally pieces")
        choice, pieces = body.get("sku", body.get("rank")), body.get("pieces")
        if "sku" in body and not (isinstance(choice, str) and 1 <= len(choice) <= MAX_SKU):
            return _error("invalid_argument", f"sku: a product SKU, text of 1 to {MAX_SKU} characters")
        if "rank" in body and not (isinstance(choice, int) and not isinstance(choice, bool) and 1 <= choice <= MAX_RANK):
            return _error("invalid_argument", f"rank: a candidate rank, an integer from 1 to {MAX_RANK}")
        if pieces is not None and (not isinstance(pieces, int) or isinstance(pieces, bool) or not 1 <= pieces <= 999):
            return _error("invalid_argument", "pieces: an integer from 1 to 999")
        try:
            sale = await scale.confirm(scale_id, choice, pieces)
        except ScaleJobError as err:
            return _error(err.code, str(err))
        return web.json_response(sale)

    async def picture(request: web.Request) -> web.StreamResponse:
        """A product's picture for its tile, or 404 (the tile then shows the name on a colour)."""
        nonlocal index
        station_or_404(request)
        if index is None:
            index = await asyncio.to_thread(pictures)
        path = index.get(request.match_info["sku"])
        if path is None:
            raise web.HTTPNotFound()
        return web.FileResponse(path, headers={"Cache-Control": "max-age=86400"})

    app.router.add_get("/scale/{scale_id}", page)
    app.router.add_get("/api/scale/{scale_id}/picture/{sku}", picture)
    app.router.add_get("/api/scale/{scale_id}", get_state)
    app.router.add_get("/api/scale/{scale_id}/events", events)
    app.router.add_get("/api/scale/{scale_id}/search", search)
    app.router.add_post("/api/scale/{scale_id}/confirm", confirm)


def _error(code: str, message: str) -> web.Response:
    """A refusal the screen shows as a message: 404 unknown, 400 malformed, 409 refused in this state."""
    return web.json_response({"error": message, "code": code}, status=HTTP_STATUS.get(code, 409))
