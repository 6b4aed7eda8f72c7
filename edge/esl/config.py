"""The `[esl]` configuration section, composed from the features' models (the keys and their order are the TOML contract)."""

from __future__ import annotations

from edge.esl.frozen import Frozen
from edge.esl.health.config import BatteryInterval, BatteryPerRun, ColdChain
from edge.esl.map.config import Positioning
from edge.esl.map.storemap import MapSection
from edge.esl.picking.config import Picking
from edge.esl.prices.config import DemoStore, Retry
from edge.esl.radio.config import BackendName, BluetoothRadio, Connections, OperationTimeout, PawrRadio, SimulatedRadio


class EslSection(Frozen):
    """Electronic shelf labels over Bluetooth LE."""

    enabled: bool = True
    backend: BackendName = "simulated"
    simulated: SimulatedRadio = SimulatedRadio()
    bluetooth: BluetoothRadio = BluetoothRadio()
    pawr: PawrRadio = PawrRadio()
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
