"""The esl job's part of the web server: status page panels and their read-only API."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from edge.esl.map.picture import from_db
from edge.esl.web.routes import status_part
from edge.web.parts import WebPart

if TYPE_CHECKING:
    from edge.esl.job import EslJob


def web_part(job: EslJob) -> WebPart:
    """The part of a running esl job: its fridge sections and, when configured, its store map."""
    sections = [{"id": s.id, "name": s.name, "min_c": s.min_c, "max_c": s.max_c} for s in job.config.coldchain.sections]
    store_map = job.map

    def draw(db: Any) -> str:
        """The store map picture of what the read connection sees, titled for the status page."""
        return from_db(db, store_map, (), "Store map")

    return status_part(job.ctx.store, sections, None if store_map is None else draw)
