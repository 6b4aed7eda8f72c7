"""The `[esl]` configuration section: shelf labels, pick lights and cold-chain sensors."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class EslSection(BaseModel):
    """Electronic shelf labels over Bluetooth LE."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
