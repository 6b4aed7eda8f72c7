"""The esl job's part of the status page: labels, fridge sections, pick orders, the store map, the last price proof, and their live figures."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from aiohttp import web

from edge.esl.web import queries
from edge.store import Store
from edge.web.params import check_params, choice_param, int_param
from edge.web.parts import WebPart

MAX_LIMIT = 10_000
ASSETS = Path(__file__).parent / "assets"


def status_part(store: Store, sections: Sequence[dict[str, Any]], store_map: Callable[[Any], str] | None = None) -> WebPart:
    """The part for a store's database, its configured fridge sections and (when there is one) its store map picture."""

    def add_routes(app: web.Application, closing: asyncio.Event) -> None:
        """Register `/api/labels`, `/api/fridges`, `/api/picks`, `/api/price-proof` and `/api/map.svg` (behind the token, read-only)."""

        async def get_labels(request: web.Request) -> web.Response:
            """Counts by state and a page of labels: `?state=failed&limit=100`."""
            check_params(request, {"state", "limit"})
            state = choice_param(request, "state", queries.LABEL_STATES)
            limit = int_param(request, "limit", 100, 0, MAX_LIMIT)
            return web.json_response(await store.read(lambda db: queries.labels(db, state, limit)))

        async def get_fridges(request: web.Request) -> web.Response:
            """Sections with readings of the last `hours` (default 24) in at most `points` buckets, and alert state."""
            check_params(request, {"hours", "points"})
            hours = int_param(request, "hours", 24, 1, 24 * 31)
            points = int_param(request, "points", 96, 1, 2000)
            found = await store.read(lambda db: queries.fridges(db, list(sections), hours, points))
            return web.json_response({"hours": hours, "sections": found})

        async def get_picks(request: web.Request) -> web.Response:
            """Pick orders with colour and progress: `?status=active&limit=50`."""
            check_params(request, {"status", "limit"})
            status = choice_param(request, "status", ("active", "done", "cancelled", "timeout"))
            limit = int_param(request, "limit", 50, 1, 1000)
            return web.json_response({"orders": await store.read(lambda db: queries.picks(db, status, limit))})

        async def get_map(request: web.Request) -> web.Response:
            """The store map with located labels and open deviations (404 without a configured map)."""
            if store_map is None:
                raise web.HTTPNotFound(text="no store map configured")
            return web.Response(text=await store.read(store_map), content_type="image/svg+xml")

        async def get_price_proof(request: web.Request) -> web.Response:
            """The last shelf = catalogue proof (null before the first)."""
            check_params(request, set())
            return web.json_response({"proof": await store.read(queries.last_proof)})

        app.router.add_get("/api/price-proof", get_price_proof)
        app.router.add_get("/api/map.svg", get_map)
        app.router.add_get("/api/labels", get_labels)
        app.router.add_get("/api/fridges", get_fridges)
        app.router.add_get("/api/picks", get_picks)

    async def live() -> dict[str, Any]:
        """Label counts, latest fridge temperatures and alerts, active picks, the last price proof: one trip to the read thread."""

        def query(db: Any) -> dict[str, Any]:
            """All of it on one read connection."""
            return {
                "labels": queries.labels(db, None, 0)["counts"],
                "fridges": queries.fridge_summary(db),
                "picks": queries.picks(db, "active", 50),
                "proof": queries.last_proof(db),
            }

        return await store.read(query)

    return WebPart("esl", add_routes, assets=ASSETS, panels=("panels.js",), live=live)
