"""What the web layer reads from the daemon, handed in by the App (the web layer never imports job modules)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from edge.store import Store
from edge.web.parts import WebPart


@dataclass(frozen=True)
class Sources:
    """The daemon status, the store (read-only use), each running job's web part and the fleet health figures (`/metrics`)."""

    status: Callable[[], Awaitable[dict[str, Any]]]
    store: Store | None = None
    parts: Sequence[WebPart] = field(default_factory=tuple)
    health: Callable[[], Awaitable[dict[str, Any]]] | None = None
