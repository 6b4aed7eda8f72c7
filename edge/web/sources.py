"""What the web layer reads from the daemon, handed in by the App (the web layer never imports job modules)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from edge.store import Store


class ScaleScreen(Protocol):
    """The scale job's customer interaction (edge/scale/job.py), as the touch screen uses it."""

    stations: dict[str, Any]
    products: dict[str, dict[str, Any]]

    def candidates(self, scale_id: str) -> dict[str, Any]:
        """Phase, weight and offered products of one scale."""
        ...

    def search(self, text: str, limit: int = 20) -> list[dict[str, Any]]:
        """Products matching a name, pinyin initials, SKU or PLU."""
        ...

    async def confirm(self, scale_id: str, choice: str | int, pieces: int | None = None) -> dict[str, Any]:
        """The customer's tap: prints the label, returns the sale."""
        ...


@dataclass(frozen=True)
class Sources:
    """Status, the store (read-only use), fridge sections, the scale job and its pictures, the ESL store map: what the pages show."""

    status: Callable[[], Awaitable[dict[str, Any]]]
    store: Store | None = None
    sections: list[dict[str, Any]] = field(default_factory=list)
    scale: ScaleScreen | None = None
    pictures: Callable[[], dict[str, Path]] | None = None  # blocking: SKU -> picture file, called once off the loop
    store_map: Callable[[Any], str] | None = None  # read connection -> the store map SVG with located labels
