"""The `[scale]` configuration section: AI self-service scales."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ScaleSection(BaseModel):
    """Serial scales with a camera, produce recognition and a label printer."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
