"""The scale job's part of the web server: the customers' touch screens (public: no token on a kiosk) and the simulators' controls (behind the token)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import web

from edge.scale.web import routes
from edge.web.parts import WebPart

if TYPE_CHECKING:
    from edge.scale.job import ScaleJob

ASSETS = Path(__file__).parent / "assets"


def web_part(job: ScaleJob) -> WebPart:
    """`/scale/<id>` and its API for every configured scale; `/api/sim/scale/<id>/…` is not public, so it needs the token."""

    def add_routes(app: web.Application, closing: asyncio.Event) -> None:
        """The screen's page, live feed, search, categories, quote, picture and tap routes, and the simulators'."""
        routes.add(app, job, closing, ASSETS)

    return WebPart("scale", add_routes, public=("/scale/", "/api/scale/"), assets=ASSETS)
