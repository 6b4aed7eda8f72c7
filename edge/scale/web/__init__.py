"""The scale job's part of the web server: the customers' touch screens (public: no token on a kiosk)."""

from __future__ import annotations

import asyncio
import functools
from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import web

from edge.scale.web import routes
from edge.scale.web.pictures import iconic_index
from edge.web.parts import WebPart

if TYPE_CHECKING:
    from edge.scale.job import ScaleJob

ASSETS = Path(__file__).parent / "assets"


def web_part(job: ScaleJob) -> WebPart:
    """`/scale/<id>` and its API for every configured scale, with the dataset's product pictures where present."""
    pictures = functools.partial(iconic_index, job.cfg.demo_images, dict(job.produce.skus))

    def add_routes(app: web.Application, closing: asyncio.Event) -> None:
        """The screen's page, live feed, search, picture and confirm routes."""
        routes.add(app, job, pictures, closing, ASSETS)

    return WebPart("scale", add_routes, public=("/scale/", "/api/scale/"), assets=ASSETS)
