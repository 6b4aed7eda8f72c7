"""The screen job's part of the web server: `POST /api/screens/<id>/content`, the local player's way to say what it plays.

The body is the `screen.content` command's arguments without `screen` (the path names it), checked
by the same model and stored by the same code (edge/screen/content.py), so a span sent over HTTP
and one sent over MQTT are one thing. Behind the token like the status API: a player is a machine
that can hold one, unlike a customer's kiosk.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from aiohttp import web
from pydantic import ValidationError

from edge.screen import content
from edge.store import Store
from edge.store.errors import DiskFull
from edge.sync.commands import CommandError
from edge.sync.requests import Limits, describe_validation
from edge.web.params import check_params, json_body
from edge.web.parts import WebPart

if TYPE_CHECKING:
    from edge.screen.job import ScreenJob

STATUS = {"invalid_argument": 400, "not_found": 404, "busy": 503}
LIMITS = Limits()  # the command channel's bounds on how a field error is described


def web_part(job: ScreenJob) -> WebPart:
    """The content input of every configured screen."""
    return content_part(job.ctx.store, job.schedules, time.time)


def content_part(store: Store, schedules: dict[str, content.ContentSchedule], clock: Callable[[], float]) -> WebPart:
    """The part for a store and its screens' schedules."""

    def add_routes(app: web.Application, closing: asyncio.Event) -> None:
        """Register `POST /api/screens/{screen}/content`."""

        async def post_content(request: web.Request) -> web.Response:
            """Replace the screen's spans from the first one's start on; reply as the command does."""
            check_params(request, set())
            screen = request.match_info["screen"]
            if screen not in schedules:
                return _error("not_found", f"screen: no screen {screen[:64]!r} is configured")
            body = await json_body(request)
            if not isinstance(body, dict):
                return _error("invalid_argument", "body: an object with spans (as the screen.content command, without screen)")
            if "screen" in body:
                return _error("invalid_argument", "screen: unknown field (the path names the screen)")
            try:
                args = content.ContentArgs.model_validate({"screen": screen, **body})
            except ValidationError as err:
                return _error("invalid_argument", describe_validation(err, LIMITS))
            try:
                result = await store.write(lambda tx: content.apply(tx, args, clock(), schedules), wait_for_space=False)
            except CommandError as err:
                return _error(err.code, err.message)
            except DiskFull:
                return _error("busy", "the store's disk is full, so the content cannot be written; nothing was applied, retry later")
            return web.json_response(result)

        app.router.add_post("/api/screens/{screen}/content", post_content)

    return WebPart("screen", add_routes)


def _error(code: str, message: str) -> web.Response:
    """A refusal as the other routes give it: `{"error", "code"}` with the code's status."""
    return web.json_response({"error": message, "code": code}, status=STATUS[code])
