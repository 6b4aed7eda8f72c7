"""What every long-running part of the daemon looks like (the sync link and each job), and its supervisor."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from typing import Any, Protocol

import structlog

from devices.backoff import Backoff

log = structlog.get_logger("supervisor")


class Component(Protocol):
    """A job or service: `run` until cancelled, `stop` to drain first, `health` for status."""

    name: str

    async def run(self) -> None:
        """Do the work; return or raise only when something is wrong (the supervisor restarts it)."""

    async def stop(self) -> None:
        """Finish or hand back in-flight work quickly before cancellation (a few seconds at most)."""

    @property
    def healthy(self) -> bool:
        """Whether the component does its job right now."""

    def health(self) -> Any:
        """A JSON-able snapshot for `status`."""


@dataclass
class Supervised:
    """Restart bookkeeping for one component."""

    component: Component
    restarts: int = 0
    last_crash: str | None = None
    task: asyncio.Task[None] | None = field(default=None, repr=False)


async def supervise(entry: Supervised, min_delay: float = 1.0, max_delay: float = 60.0) -> None:
    """Run a component forever: a crash is logged with its traceback and retried with capped jittered back-off."""
    rng = random.Random()
    while True:
        try:
            await entry.component.run()
            entry.last_crash = "returned unexpectedly"
            log.error("component.returned", component=entry.component.name)
        except asyncio.CancelledError:
            raise
        except Exception as err:  # noqa: BLE001 - the supervisor is the one place for this
            entry.last_crash = repr(err)
            log.exception("component.crashed", component=entry.component.name)
        entry.restarts += 1
        await asyncio.sleep(Backoff(min_delay, max_delay).delay(entry.restarts - 1, rng))
