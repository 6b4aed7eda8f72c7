"""The `[esl]` configuration section: shelf labels, pick lights and cold-chain sensors."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from edge.esl.frozen import Frozen
from edge.esl.picking.config import Picking
from edge.esl.prices.config import DemoStore, Retry
from edge.esl.radio.config import BackendName, BluetoothRadio, Connections, OperationTimeout, SimulatedRadio
from edge.esl.storemap import MapSection


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


class EslSection(BaseModel):
    """Electronic shelf labels over Bluetooth LE."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    backend: BackendName = "simulated"
    simulated: SimulatedRadio = SimulatedRadio()
    bluetooth: BluetoothRadio = BluetoothRadio()
    connections: Connections = 4
    operation_timeout_s: OperationTimeout = 10.0
    retry: Retry = Retry()
    qr_base_url: str = "https://shop.example.cn/p/"
    font: str | None = None
    battery_interval_s: Annotated[float, Field(ge=1)] = 3600.0
    battery_per_run: Annotated[int, Field(ge=0, le=10_000)] = 50
    picking: Picking = Picking()
    coldchain: ColdChain = ColdChain()
    demo_store: DemoStore = DemoStore()
    map: MapSection = MapSection()
    positioning: Positioning = Positioning()
