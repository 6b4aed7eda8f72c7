"""The `[esl]` configuration section: shelf labels, pick lights and cold-chain sensors."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from edge.esl.frozen import Frozen
from edge.esl.health.config import BatteryInterval, BatteryPerRun, ColdChain
from edge.esl.picking.config import Picking
from edge.esl.prices.config import DemoStore, Retry
from edge.esl.radio.config import BackendName, BluetoothRadio, Connections, OperationTimeout, SimulatedRadio
from edge.esl.storemap import MapSection


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
    battery_interval_s: BatteryInterval = 3600.0
    battery_per_run: BatteryPerRun = 50
    picking: Picking = Picking()
    coldchain: ColdChain = ColdChain()
    demo_store: DemoStore = DemoStore()
    map: MapSection = MapSection()
    positioning: Positioning = Positioning()
