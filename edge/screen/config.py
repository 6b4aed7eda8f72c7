"""The `[screen]` configuration section: interactive screens with private audience measurement."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ScreenSection(BaseModel):
    """Cameras at screens; only counts and durations leave the job."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
