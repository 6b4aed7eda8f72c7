"""The base of every `[esl]` configuration model."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Frozen(BaseModel):
    """Strict, immutable config models (a typo is an error, not a silent default)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
