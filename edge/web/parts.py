"""A job's part of the web server, handed over through its `JobSpec.web`: routes, public paths, panels, live figures.

The web layer never imports a job: each running job gives a `WebPart`, and the server adds its
routes, lets its public paths through without the token (customer screens), lists its panel
scripts on the status page and merges its pieces into the page's live feed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web


@dataclass(frozen=True)
class WebPart:
    """What one job adds to the web server.

    - `name`: the job's name (its static files are served under `/jobs/<name>/`).
    - `add_routes(app, closing)`: registers the job's pages and API routes; `closing` is set when
      the server stops, so live streams can end.
    - `public`: path prefixes that need no token (a customer's screen), e.g. `("/scale/",)`.
    - `assets`: a folder of static files, served under `/jobs/<name>/` (public: no secrets in them).
    - `panels`: scripts under `assets` that the status page loads; each registers a panel with
      `storeEdge.panel({...})` (see edge/web/assets/status.js).
    - `live()`: the job's pieces of the status page's live `summary` event (cheap: read once a second).
    """

    name: str
    add_routes: Callable[[web.Application, asyncio.Event], None]
    public: tuple[str, ...] = ()
    assets: Path | None = None
    panels: tuple[str, ...] = ()
    live: Callable[[], Awaitable[dict[str, Any]]] | None = None

    @property
    def asset_prefix(self) -> str:
        """Where the part's static files are served."""
        return f"/jobs/{self.name}/"
