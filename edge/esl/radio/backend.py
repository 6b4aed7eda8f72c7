"""The radio behind the job, chosen once from config: the simulated fleet, bleak in connected mode, or PAwR on Bumble.

`pawr` with `virtual` transports is the virtual store (Bumble devices on the emulated radio: the
production AP code over real HCI/ATT/L2CAP encodings); with hardware transports, one access
point per controller. Bumble is imported only when `pawr` is configured.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from bleak_retry_connector import BleakClientWithServiceCache

from devices.esl.codec import EslAddress
from devices.esl.fridge import Fridge
from devices.esl.gatt_ap import GattAccessPoint
from devices.esl.info import MeshSensor
from devices.esl.radio import EslRadio
from devices.esl.sensors import MeshProperty
from devices.esl.simulator import RadioTiming, SimulatedFleet, SimulatedLabel, draw_label
from devices.esl.bumble.train import TrainParams
from devices.esl.tag_core import MODELS, TagCore
from edge.esl.config import EslSection
from edge.esl.radio.inventory import LabelRecord

if TYPE_CHECKING:
    from devices.esl.bumble.store import TagSpec


class Fleet(Protocol):
    """Simulated labels the demo can look at: the bleak-seam fleet and the virtual store both offer this."""

    @property
    def labels(self) -> Mapping[str, TagCore]:
        """Every label's tag core by BLE address."""

    def label(self, address: str) -> TagCore:
        """One label's tag core."""

    def clock(self) -> float:
        """The labels' clock."""


@dataclass
class Backend:
    """The access point, the labels it announces at start, and the simulated labels when there are some.

    `start` runs on the event loop before the labels are registered (a radio that needs the loop to
    power on), `stop` when the job stops.
    """

    radio: EslRadio
    labels: list[LabelRecord]
    fleet: Fleet | None = None
    start: Callable[[], Awaitable[None]] | None = None
    stop: Callable[[], Awaitable[None]] | None = None
    #: Commands worth having in flight at once (None: one per configured connection). Over PAwR a
    #: packet carries 3 LED Controls (15 sensor reads) per group per interval on every train.
    led_commands_at_once: int | None = None
    sensor_reads_at_once: int | None = None


def _esl_address(n: int) -> EslAddress:
    """Consecutive ESL addresses: 255 ids per group."""
    return EslAddress(n // 255 % 128, n % 255)


def _record(label: SimulatedLabel) -> LabelRecord:
    """What onboarding would have learnt about a simulated label (its model, display, LEDs, temperature sensor)."""
    display = label.model.displays[0]
    def sensor(prop: MeshProperty) -> int | None:
        """Index of the label's sensor measuring `prop`, if any."""
        return next((i for i, s in enumerate(label.sensors) if isinstance(s, MeshSensor) and s.property_id == prop), None)

    assert label.esl_address is not None
    return LabelRecord(
        label.address, label.esl_address.group_id, label.esl_address.esl_id, label.model.name,
        display.width, display.height, int(display.display_type), len(label.model.leds),
        sensor(MeshProperty.PRESENT_AMBIENT_TEMPERATURE), sensor(MeshProperty.PRESENT_INPUT_VOLTAGE),
    )


def simulated(config: EslSection) -> Backend:
    """A deterministic fleet: `simulated.labels` plain labels plus one fridge label per id listed in cold-chain sections."""
    sim = config.simulated
    fleet = SimulatedFleet(seed=sim.seed, timing=RadioTiming(sim.connect_s, sim.gatt_op_s, sim.throughput_bytes_per_s, sim.time_scale))
    fleet.populate(sim.labels, fridge_share=0.0)
    for section in config.coldchain.sections:
        for n, address in enumerate(section.labels):
            if address in fleet.labels:
                continue
            s = section.simulated
            fridge = Fridge(set_point_c=s.set_point_c, door_opens_per_h=s.door_opens_per_h, seed=s.seed * 1000 + n)
            fleet.add_label("2.13-bwr", address=address, fridge=fridge, configured_as=_esl_address(len(fleet.labels)))
    radio = GattAccessPoint(
        client_class=fleet.client_class, scanner=fleet.scanner, transport_factory=fleet.transport_factory,
        connect_attempts=2, timeout=config.operation_timeout_s,
    )
    return Backend(radio, [_record(label) for label in fleet.labels.values()], fleet)


def bluetooth(config: EslSection) -> Backend:
    """Bleak on the configured adapter; labels become known by onboarding (not automated yet), so none at start."""
    client_class = functools.partial(BleakClientWithServiceCache, adapter=config.bluetooth.adapter)
    radio = GattAccessPoint(
        client_class=client_class, connect_attempts=config.bluetooth.connect_attempts, timeout=config.operation_timeout_s,
    )
    return Backend(radio, [])


#: ESL commands in one 48-octet sync packet after the Group_ID (esl.md §8.2): LED Control is 13 octets, Read Sensor Data 3.
LED_CONTROLS_PER_PACKET = 3
SENSOR_READS_PER_PACKET = 15


def _virtual_specs(config: EslSection) -> list[TagSpec]:
    """The virtual store's labels: `simulated.labels` of mixed models, then the cold-chain sections' fridge labels.

    Labels are dealt to the access points in turn; on each AP the n-th label is group n mod
    subevents (so commands spread over every subevent of the train), ESL id n div subevents.
    """
    from devices.esl.bumble.store import TagSpec

    sim, pawr = config.simulated, config.pawr
    aps, groups = len(pawr.transports), pawr.train.num_subevents
    rng = random.Random(f"{sim.seed}/populate/0")  # the same draws as the simulated fleet's: the same store
    wanted: dict[str, tuple[str, Fridge | None, float]] = {}
    for n in range(sim.labels):
        model, fridge, battery_v = draw_label(rng, fridge_share=0.0, now=0.0)
        wanted[f"E5:00:00:{n >> 16 & 0xFF:02X}:{n >> 8 & 0xFF:02X}:{n & 0xFF:02X}"] = (model, fridge, battery_v)
    for section in config.coldchain.sections:
        for n, address in enumerate(section.labels):
            s = section.simulated
            fridge = Fridge(set_point_c=s.set_point_c, door_opens_per_h=s.door_opens_per_h, seed=s.seed * 1000 + n)
            wanted.setdefault(address, ("2.13-bwr", fridge, 3.0))
    per_ap = [0] * aps
    specs = []
    for n, (address, (model, fridge, battery_v)) in enumerate(wanted.items()):
        ap = n % aps
        k, per_ap[ap] = per_ap[ap], per_ap[ap] + 1
        specs.append(TagSpec(address, EslAddress(k % groups, k // groups), model=model, ap=ap, fridge=fridge,
                             battery_v=battery_v))
    return specs


def _spec_record(spec: TagSpec) -> LabelRecord:
    """What onboarding would have learnt about a virtual label (model, display, LEDs, sensors)."""
    model = MODELS[spec.model]
    display = model.displays[0]
    temp, volt = (0, 1) if spec.fridge is not None else (None, 0)  # the tag core's sensors: temperature (fridges), voltage
    return LabelRecord(spec.address, spec.esl.group_id, spec.esl.esl_id, model.name, display.width, display.height,
                       int(display.display_type), len(model.leds), temp, volt)


def pawr(config: EslSection) -> Backend:
    """PAwR on Bumble: the virtual store for `virtual` transports, else one access point per hardware controller."""
    params = TrainParams(**config.pawr.train.model_dump())
    if config.pawr.virtual:
        from devices.esl.bumble.store import VirtualStore

        specs = _virtual_specs(config)
        store = VirtualStore(specs, aps=len(config.pawr.transports), params=params, seed=config.simulated.seed,
                             timeout=config.operation_timeout_s, keepalive_s=config.pawr.keepalive_s)
        return Backend(store.radio, [_spec_record(s) for s in specs], store, start=store.start, stop=store.close,
                       **_pawr_capacity(config))
    from devices.esl.bumble.aps import AccessPoints

    radio = AccessPoints()

    async def start() -> None:
        """Open every controller and start its train (labels become known by onboarding: none at start); once."""
        if radio.aps:
            return
        from devices.esl.bumble.hardware import open_access_point

        for n, transport in enumerate(config.pawr.transports):
            radio.add(await open_access_point(transport, params, sid=n, timeout=config.operation_timeout_s,
                                              keepalive_s=config.pawr.keepalive_s))

    return Backend(radio, [], start=start, stop=radio.close, **_pawr_capacity(config))


def _pawr_capacity(config: EslSection) -> dict[str, int]:
    """How many LED commands and sensor reads the trains carry per interval (packets of 48 octets, one per group)."""
    groups = len(config.pawr.transports) * config.pawr.train.num_subevents
    return {"led_commands_at_once": groups * LED_CONTROLS_PER_PACKET, "sensor_reads_at_once": groups * SENSOR_READS_PER_PACKET}


def build_backend(config: EslSection) -> Backend:
    """The backend the config names."""
    builders = {"simulated": simulated, "bluetooth": bluetooth, "pawr": pawr}
    return builders[config.backend](config)
