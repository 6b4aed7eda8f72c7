"""Periodic and one-off work on APScheduler; one-off actions persist in the store's SQLite file.

Persisted jobs survive restarts, so a price change scheduled for 20:00 fires after a
power cut at 19:59. APScheduler removes a date job right after starting it, but a kill at
that instant could still re-run it after restart, so every persistent action must be
idempotent against the store (e.g. "apply change 42 if it is still pending"). That pair
(durable job + idempotent action) is what makes "fires once" hold.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from edge.scheduler_store import SqliteJobStore

log = structlog.get_logger("scheduler")

Action = Callable[..., Awaitable[None]]
_active: Scheduler | None = None


async def run_action(name: str, **kwargs: Any) -> None:
    """Entry point of every persisted job (APScheduler stores it by this module path)."""
    scheduler = _active
    action = scheduler._actions.get(name) if scheduler else None
    if action is None:
        log.error("scheduler.action.unknown", action=name)
        return
    try:
        await action(**kwargs)
    except Exception:
        log.exception("scheduler.action.failed", action=name, **kwargs)


class Scheduler:
    """The daemon's one scheduler: named persistent actions plus in-memory periodic jobs."""

    def __init__(self, database: Path) -> None:
        self._actions: dict[str, Action] = {}
        self._aps = AsyncIOScheduler(
            jobstores={
                "memory": MemoryJobStore(),
                "durable": SqliteJobStore(database),
            },
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone=UTC,
        )

    def action(self, name: str, fn: Action) -> None:
        """Name an action that persistent jobs may call; register before `start` so due jobs find it."""
        self._actions[name] = fn

    def at(self, job_id: str, when: datetime, action: str, **kwargs: Any) -> None:
        """Run `action(**kwargs)` once at `when` (UTC), surviving restarts; the same id replaces a pending job."""
        if action not in self._actions:
            raise KeyError(f"unknown scheduler action {action!r}")
        self._aps.add_job(
            run_action,
            "date",
            run_date=when,
            args=[action],
            kwargs=kwargs,
            id=job_id,
            jobstore="durable",
            replace_existing=True,
        )

    def every(self, job_id: str, seconds: float, fn: Callable[[], Awaitable[None]]) -> None:
        """Run `fn` periodically while the daemon runs (recreated from config at each start)."""
        self._aps.add_job(fn, "interval", seconds=seconds, id=job_id, jobstore="memory", replace_existing=True)

    def cancel(self, job_id: str) -> bool:
        """Remove a pending job; False when there was none."""
        job = self._aps.get_job(job_id)
        if job is None:
            return False
        job.remove()
        return True

    def pending(self) -> list[tuple[str, datetime | None]]:
        """(id, next run) of every job, for status pages."""
        return [(j.id, j.next_run_time) for j in self._aps.get_jobs()]

    def start(self) -> None:
        """Start firing jobs (must run on the daemon's event loop)."""
        global _active
        _active = self
        self._aps.start()

    def shutdown(self) -> None:
        """Stop without waiting for running jobs (they are cancelled with the loop)."""
        global _active
        if self._aps.running:
            self._aps.shutdown(wait=False)
        if _active is self:
            _active = None

