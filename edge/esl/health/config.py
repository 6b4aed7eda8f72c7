"""Configuration of label-fleet health: fridge sections with their alert rules, the daily report, and the battery sweep."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from edge.esl.frozen import Frozen

BatteryInterval = Annotated[float, Field(ge=1)]
BatteryPerRun = Annotated[int, Field(ge=0, le=10_000)]


class SimulatedFridge(Frozen):
    """How the simulator models a section's fridge (ignored with a real radio)."""

    set_point_c: float = 4.0
    door_opens_per_h: Annotated[float, Field(ge=0)] = 2.0
    seed: int = 0


class Section(Frozen):
    """One fridge or freezer section: its sensor labels and its alert rule."""

    id: Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]{1,32}$")]
    name: str = ""
    labels: Annotated[list[str], Field(min_length=1)]
    min_c: float = -30.0
    max_c: float = 8.0
    min_duration_s: Annotated[float, Field(ge=0)] = 900.0
    hysteresis_c: Annotated[float, Field(ge=0)] = 1.0
    door_tolerance_s: Annotated[float, Field(ge=0)] = 600.0
    door_rise_c: Annotated[float, Field(gt=0)] = 2.0
    simulated: SimulatedFridge = SimulatedFridge()

    @model_validator(mode="after")
    def _limits(self) -> Section:
        """A rule whose range is empty can never be normal."""
        if self.min_c >= self.max_c:
            raise ValueError("min_c must be below max_c")
        return self


class ColdChain(Frozen):
    """Temperature polling of fridge-section labels, retention, alerts and the daily report."""

    poll_interval_s: Annotated[float, Field(ge=0.5)] = 300.0
    retention_days: Annotated[int, Field(ge=1, le=3650)] = 30
    report_hour: Annotated[int, Field(ge=0, le=23)] = 6
    sections: list[Section] = []
