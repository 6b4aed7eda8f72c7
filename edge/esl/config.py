"""The `[esl]` configuration section, composed from the features' models (the keys and their order are the TOML contract)."""

from __future__ import annotations

from pydantic import model_validator

from edge.esl.frozen import Frozen
from edge.esl.health.config import BatteryInterval, BatteryPerRun, ColdChain
from edge.esl.map.config import Positioning
from edge.esl.map.storemap import MapSection
from edge.esl.picking.config import Picking
from edge.esl.prices.config import DemoStore, PriceProof, Retry
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
    price_proof: PriceProof = PriceProof()
    map: MapSection = MapSection()
    positioning: Positioning = Positioning()

    @model_validator(mode="after")
    def _virtual_store_fits(self) -> EslSection:
        """The virtual store's labels fit its trains: 255 per group, `num_subevents` groups per access point."""
        if self.backend == "pawr" and self.pawr.virtual:
            labels = self.simulated.labels + len({a for s in self.coldchain.sections for a in s.labels})
            room = len(self.pawr.transports) * self.pawr.train.num_subevents * 255
            if labels > room:
                raise ValueError(f"simulated.labels: {labels} labels do not fit {len(self.pawr.transports)} virtual access "
                                 f"point(s) of {self.pawr.train.num_subevents} groups x 255 labels; add transports or subevents")
        return self
