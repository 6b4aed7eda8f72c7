"""The scales' touch screens: the page, a live feed, search and categories, quotes, taps, and the simulated scales' controls.

Every refusal is `{"code", "error"}` with the status of edge/scale/errors.py: the screen shows its
own text for the code, never `error` (docs/http-api.md, "Codes and their texts").
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from edge.scale.errors import STATUS, ScaleJobError
from edge.scale.recognition.produce_map import CATEGORIES
from edge.scale.weighing import simulated
from edge.web import sse
from edge.web.params import check_params, int_param, json_body

if TYPE_CHECKING:
    from edge.scale.job import ScaleJob

TICK_S = 0.1  # weight updates at most this often while nothing else changes
MAX_SKU = 64  # characters of a SKU sent by the screen
MAX_RANK = 99  # candidate ranks the screen can send
MAX_QUERY = 64  # characters of a search
MAX_PIECES = 999
MAX_WEIGHING = 10**12


def add(app: web.Application, scale: ScaleJob, closing: asyncio.Event, assets: Path) -> None:
    """Register `/scale/{id}`, `/api/scale/{id}[/events|/search|/categories|/quote|/confirm|/cancel|/restart|/picture/{sku}]` and `/api/sim/scale/{id}/…`."""

    def station_or_404(request: web.Request) -> str:
        """The scale id from the path, which must be a configured scale."""
        scale_id = request.match_info["scale_id"]
        if scale_id not in scale.stations:
            raise web.HTTPNotFound(text=json.dumps({"error": f"no scale {scale_id!r}", "code": "not_found"}), content_type="application/json")
        return scale_id

    async def page(request: web.Request) -> web.FileResponse:
        """The touch screen itself."""
        station_or_404(request)
        return web.FileResponse(assets / "scale.html")

    async def get_state(request: web.Request) -> web.Response:
        """The current snapshot (the page's first paint and a fallback)."""
        return web.json_response(scale.candidates(station_or_404(request)))

    async def events(request: web.Request) -> web.StreamResponse:
        """Server-sent `scale` snapshots: at once when the weighing changes, else at most every TICK_S (and every second: `clock_s`)."""
        scale_id = station_or_404(request)
        changed: asyncio.Event = scale.stations[scale_id].changed

        async def current() -> dict[str, Any]:
            """The snapshot (cheap, in memory)."""
            return scale.candidates(scale_id)

        async def wake() -> None:
            """The station's change event, or the tick for a moving weight."""
            try:
                await asyncio.wait_for(changed.wait(), TICK_S)
            except TimeoutError:
                return
            changed.clear()

        return await sse.stream(request, current, wake, closing, "scale")

    async def search(request: web.Request) -> web.Response:
        """Scale products by one field (name, pinyin, initials, English, PLU) and/or a category: `?q=xj`, `?category=fruit`."""
        scale_id = station_or_404(request)
        check_params(request, {"q", "category", "limit"})
        text = request.query.get("q", "")
        if len(text) > MAX_QUERY:
            return _error("invalid_argument", f"q: at most {MAX_QUERY} characters")
        category = request.query.get("category") or None
        if category is not None and category not in CATEGORIES:
            return _error("invalid_argument", f"category: expected one of {', '.join(CATEGORIES)}")
        return web.json_response(scale.search(scale_id, text, category, int_param(request, "limit", 24, 1, 60)))

    async def categories(request: web.Request) -> web.Response:
        """The browsing categories with products at this scale."""
        scale_id = station_or_404(request)
        check_params(request, set())
        return web.json_response({"categories": scale.categories(scale_id)})

    async def quote(request: web.Request) -> web.Response:
        """What a tap on `?sku=` (with `&pieces=` by piece) would print now."""
        scale_id = station_or_404(request)
        check_params(request, {"sku", "pieces"})
        sku = request.query.get("sku", "")
        if not 1 <= len(sku) <= MAX_SKU:
            return _error("invalid_argument", f"sku: a product SKU, text of 1 to {MAX_SKU} characters")
        pieces = int_param(request, "pieces", 0, 1, MAX_PIECES) if "pieces" in request.query else None
        return await _answer(lambda: scale.quote(scale_id, sku, pieces))

    async def confirm(request: web.Request) -> web.Response:
        """The customer's tap: `{"sku": ...}` or `{"rank": n}`, with `pieces`, `weighing`, `confirmed` (same-origin JSON only)."""
        scale_id = station_or_404(request)
        body = await json_body(request)  # a malformed body is a 400 from the server's middleware, never a 500
        if not isinstance(body, dict) or set(body) - {"sku", "rank", "pieces", "weighing", "confirmed"} or ("sku" in body) == ("rank" in body):
            return _error("invalid_argument", "body: an object with sku or rank, and optionally pieces, weighing and confirmed")
        choice, pieces = body.get("sku", body.get("rank")), body.get("pieces")
        if "sku" in body and not (isinstance(choice, str) and 1 <= len(choice) <= MAX_SKU):
            return _error("invalid_argument", f"sku: a product SKU, text of 1 to {MAX_SKU} characters")
        if "rank" in body and not _integer(choice, 1, MAX_RANK):
            return _error("invalid_argument", f"rank: a candidate rank, an integer from 1 to {MAX_RANK}")
        if pieces is not None and not _integer(pieces, 1, MAX_PIECES):
            return _error("invalid_argument", f"pieces: an integer from 1 to {MAX_PIECES}")
        if not isinstance(body.get("confirmed", False), bool):
            return _error("invalid_argument", "confirmed: true or false")
        weighing = _weighing(body)
        if isinstance(weighing, web.Response):
            return weighing
        return await _answer(scale.confirm(scale_id, choice, pieces, weighing=weighing, confirmed=body.get("confirmed", False)))

    async def button(request: web.Request) -> web.Response:
        """Cancel or start again; an optional body `{}` / `{"weighing": n}`."""
        scale_id = station_or_404(request)
        body = await _optional_body(request)
        if not isinstance(body, dict) or set(body) - {"weighing"}:
            return _error("invalid_argument", "body: none, or an object with optionally weighing")
        weighing = _weighing(body)
        if isinstance(weighing, web.Response):
            return weighing
        which = scale.cancel if request.match_info["button"] == "cancel" else scale.restart
        return await _answer(lambda: which(scale_id, weighing))

    async def picture(request: web.Request) -> web.StreamResponse:
        """A product's picture for its tile, or 404 (the tile then shows the name on a colour)."""
        station_or_404(request)
        path = scale.pictures.get(request.match_info["sku"])
        if path is None:
            raise web.HTTPNotFound()
        return web.FileResponse(path, headers={"Cache-Control": "max-age=86400"})

    def simulated_station(request: web.Request) -> str:
        """A configured scale whose devices are simulated; 404 for real devices (the routes do not exist for them)."""
        scale_id = request.match_info["scale_id"]
        station = scale.stations.get(scale_id)
        if station is None or station.devices.scale_sim is None:
            raise web.HTTPNotFound(text=json.dumps({"error": f"no simulated scale {scale_id!r}", "code": "not_found"}), content_type="application/json")
        return scale_id

    async def sim_place(request: web.Request) -> web.Response:
        """`{"grams": 1050, "image": "<path>"}`: one item (and its photo) on the simulated platter; the new snapshot."""
        scale_id = simulated_station(request)
        body = await json_body(request)
        if not isinstance(body, dict) or set(body) - {"grams", "image"} or "grams" not in body:
            return _error("invalid_argument", "body: an object with grams and optionally image")
        grams, image = body["grams"], body.get("image")
        if not _integer(grams, 1, 10**9):
            return _error("invalid_argument", "grams: an integer of grams, at least 1")
        if image is not None and not (isinstance(image, str) and 1 <= len(image) <= simulated.MAX_PATH):
            return _error("invalid_argument", f"image: a file path of 1 to {simulated.MAX_PATH} characters")
        devices = scale.stations[scale_id].devices
        try:
            photo = None if image is None else await asyncio.to_thread(simulated.load_photo, image)
            simulated.place(devices, grams, photo)
        except simulated.PhotoError as err:
            return _error("invalid_argument", str(err))
        return web.json_response(scale.candidates(scale_id))

    async def sim_remove(request: web.Request) -> web.Response:
        """Everything off the simulated platter; the new snapshot."""
        scale_id = simulated_station(request)
        body = await _optional_body(request)
        if body != {}:
            return _error("invalid_argument", "body: none, or {}")
        sim = scale.stations[scale_id].devices.scale_sim
        assert sim is not None
        sim.model.clear()
        return web.json_response(scale.candidates(scale_id))

    app.router.add_get("/scale/{scale_id}", page)
    app.router.add_get("/api/scale/{scale_id}/picture/{sku}", picture)
    app.router.add_get("/api/scale/{scale_id}", get_state)
    app.router.add_get("/api/scale/{scale_id}/events", events)
    app.router.add_get("/api/scale/{scale_id}/search", search)
    app.router.add_get("/api/scale/{scale_id}/categories", categories)
    app.router.add_get("/api/scale/{scale_id}/quote", quote)
    app.router.add_post("/api/scale/{scale_id}/confirm", confirm)
    app.router.add_post("/api/scale/{scale_id}/{button:cancel|restart}", button)
    app.router.add_post("/api/sim/scale/{scale_id}/place", sim_place)
    app.router.add_post("/api/sim/scale/{scale_id}/remove", sim_remove)


def _integer(value: Any, low: int, high: int) -> bool:
    """A JSON integer (not a boolean) within [low, high]."""
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _weighing(body: dict[str, Any]) -> int | None | web.Response:
    """The body's optional `weighing` number, or the 400 for a bad one."""
    weighing = body.get("weighing")
    if weighing is not None and not _integer(weighing, 1, MAX_WEIGHING):
        return _error("invalid_argument", "weighing: the snapshot's weighing number, a positive integer")
    return weighing


async def _optional_body(request: web.Request) -> Any:
    """No body (or an empty one) is `{}`; otherwise the JSON body, checked like every other."""
    if not request.body_exists or request.content_length == 0:
        return {}
    return await json_body(request)


async def _answer(action: Any) -> web.Response:
    """Run a job action (a coroutine, or a function) and answer its result, or its refusal with the code's status."""
    try:
        result = await action if asyncio.iscoroutine(action) else action()
    except ScaleJobError as err:
        return _error(err.code, str(err), **err.details)
    return web.json_response(result)


def _error(code: str, message: str, **details: Any) -> web.Response:
    """A refusal: the code (the screen's text), the staff English, any details, with the code's status."""
    return web.json_response({"code": code, "error": message, **details}, status=STATUS[code])
