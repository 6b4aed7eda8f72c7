"""The screen job's part of fleet health (`JobSpec.fleet`): each screen's state, nothing about who is in front of it."""

from __future__ import annotations

from typing import Any


async def figures(job: Any) -> dict[str, Any]:
    """Each screen's `starting` / `up` / `down`."""
    return {"devices": {w.spec.id: w.health()["state"] for w in job.workers}}
