"""Configuration of label positioning (the store map itself is `MapSection` in edge.esl.map.storemap, built when validated)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from edge.esl.frozen import Frozen


class SimulatedAnchors(Frozen):
    """The anchor radio simulator (see devices.esl.anchors for the model); labels get seeded random places."""

    seed: int = 0
    noise_db: Annotated[float, Field(ge=0, le=30)] = 4.0
    miss_rate: Annotated[float, Field(ge=0, lt=1)] = 0.1
    shelf_db: Annotated[float, Field(ge=0, le=60)] = 10.0
    dead: list[str] = []


class Positioning(Frozen):
    """Label positioning from anchor scans (needs `[esl.map]`)."""

    enabled: bool = True
    interval_s: Annotated[float, Field(ge=0.1, le=86_400)] = 30.0
    alpha: Annotated[float, Field(gt=0, le=1)] = 0.4
    forget_rounds: Annotated[int, Field(ge=1, le=100)] = 3
    min_confidence: Annotated[float, Field(ge=0, le=1)] = 0.6
    simulated: SimulatedAnchors = SimulatedAnchors()
