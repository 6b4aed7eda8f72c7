"""What every long-running part of the daemon looks like (the sync link and each job), and its supervisor."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import structlog

from devices.backoff import Backoff
from devices.reconnect import Reconnect, ReconnectEvents

log = structlog.get_logger("supervisor")

#: A job that crashes again within this long after a restart keeps backing off (up to a minute).
RESTART_POLICY = Backoff(initial=1.0, maximum=60.0)
HEALTHY_AFTER_S = 60.0
EVENTS = ReconnectEvents(failed="component.start.failed", lost="component.restarting", restored="component.recovered")


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


class Runnable(Protocol):
    """What a supervisor keeps running: a name and a `run` coroutine (a Component, a screen worker)."""

    name: str

    async def run(self) -> None:
        """Work until stopped; returning or raising is a crash unless a stop was asked for."""


@dataclass
class Supervised:
    """Restart bookkeeping for one component."""

    component: Runnable
    restarts: int = 0
    last_crash: str | None = None
    task: asyncio.Task[None] | None = field(default=None, repr=False)


async def supervise(
    entry: Supervised,
    *,
    stop: asyncio.Event | None = None,
    on_crash: Callable[[BaseException | str], None] | None = None,
    policy: Backoff = RESTART_POLICY,
    healthy_after_s: float = HEALTHY_AFTER_S,
    **log_context: Any,
) -> None:
    """Run a component until `stop` is set (or cancelled): a crash is logged with its traceback and restarted.

    The restart delay is the one reconnect object's: capped, jittered, growing while the component
    keeps crashing, back to the first delay after it ran `healthy_after_s`. The traceback of the
    first crash of such a series is logged at ERROR, the ones after at DEBUG (no log spam).
    """
    name = entry.component.name
    reconnect = Reconnect(name, EVENTS, policy=policy, healthy_after_s=healthy_after_s, logger=log.bind(component=name, **log_context))

    async def start() -> None:
        """Nothing to open: the component's `run` is the whole session."""

    async def serve(_: None) -> str | None:
        """Run once; the crash (or an unexpected return) is the reason handed to the reconnect object."""
        try:
            await entry.component.run()
            reason: BaseException | str = "returned unexpectedly"
        except asyncio.CancelledError:
            raise
        except Exception as err:  # noqa: BLE001 - the supervisor is the one place for this
            reason = err
        if stop is not None and stop.is_set():
            return None  # a run that ends because it was asked to is not a crash
        entry.restarts += 1
        entry.last_crash = reason if isinstance(reason, str) else repr(reason)
        first = reconnect.failures == 0
        (log.error if first else log.debug)("component.crashed", component=name, error=entry.last_crash,
                                             exc_info=reason if isinstance(reason, BaseException) else None, **log_context)
        if on_crash is not None:
            on_crash(reason)
        return entry.last_crash

    await reconnect.run(start, serve, retry_on=(), stop=stop)
