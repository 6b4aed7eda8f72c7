"""What every demo scene gets: the running daemon, headquarters' client, the broker and the output folder."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge.app import App
from edge.demo.broker import Mosquitto
from edge.demo.hq import Hq


@dataclass
class DemoContext:
    """What a scene may use: the daemon, headquarters' client, the broker (if the demo owns it), the output folder."""

    app: App
    hq: Hq
    broker: Mosquitto | None
    output: Path
    started: float = field(default_factory=time.monotonic)

    def say(self, text: str) -> None:
        """Print one line of the story with the time since the demo began."""
        print(f"[{time.monotonic() - self.started:6.1f}s] {text}", flush=True)

    async def request(self, name: str, body: dict[str, Any] | bytes, request_id: str | None = None) -> dict[str, Any]:
        """Send a command as headquarters and wait for its reply (off the event loop)."""
        return await asyncio.to_thread(self.hq.request, name, body, request_id, 15.0)

    async def wait(self, predicate: Callable[[Any], Any], timeout: float = 20.0) -> Any:
        """Wait for something to appear on headquarters' side."""
        return await asyncio.to_thread(self.hq.wait, predicate, timeout)


Scene = Callable[[DemoContext], Awaitable[None]]


