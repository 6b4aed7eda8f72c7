"""The scale job's part of fleet health (`JobSpec.fleet`): each scale's state and the produce model version."""

from __future__ import annotations

from typing import Any


async def figures(job: Any) -> dict[str, Any]:
    """Per-scale link state (`connected`, `reconnecting`, ...) and the running model's version."""
    devices = {sid: ("ok" if s.healthy else s.devices.driver.health.value) for sid, s in job.stations.items()}
    return {"devices": devices, "models": {"produce": job.recognition.model_version}}
