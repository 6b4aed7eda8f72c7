"""The local `engaged` hook: a fire-and-forget HTTP POST to the screen's player, never in the pipeline's way."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import structlog

log = structlog.get_logger("screen.hook")

MAX_IN_FLIGHT = 4  # more pending posts than this means the endpoint is stuck: drop, do not pile up


class EngagedHook:
    """Posts `engaged` payloads as JSON to one URL in background tasks; failures are logged, not raised."""

    def __init__(self, url: str, timeout_s: float, screen: str) -> None:
        self.url = url
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.screen = screen
        self.sent = 0
        self.failed = 0
        self.last_error: str | None = None
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def fire(self, data: dict[str, Any]) -> None:
        """Start a POST and return at once (call on the event loop)."""
        if len(self._tasks) >= MAX_IN_FLIGHT:
            self._fail("too many posts in flight; dropped")
            return
        task = asyncio.get_running_loop().create_task(self._post(data), name=f"screen-hook-{self.screen}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _post(self, data: dict[str, Any]) -> None:
        """One POST, bounded by the timeout; any non-2xx answer counts as a failure."""
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        try:
            async with self._session.post(self.url, json=data) as resp:
                if resp.status >= 300:
                    self._fail(f"HTTP {resp.status}")
                    return
            self.sent += 1
        except (aiohttp.ClientError, TimeoutError, OSError) as err:
            self._fail(repr(err))

    def _fail(self, error: str) -> None:
        """Count and log a failed post (WARNING: the hook is a local feature someone relies on)."""
        self.failed += 1
        self.last_error = error
        log.warning("screen.hook.failed", screen=self.screen, url=self.url, error=error)

    async def close(self) -> None:
        """Give pending posts a moment, then cancel them and close the session."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=0.5)
        for task in set(self._tasks):
            task.cancel()
        if self._session is not None:
            await self._session.close()
            self._session = None
