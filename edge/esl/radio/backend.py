"""The radio behind the job, chosen once from config: the simulated fleet, bleak in connected mode, or PAwR on Bumble.

`pawr` with `virtual` transports is the virtual store (Bumble devices on the emulated radio: the
production AP code over real HCI/ATT/L2CAP encodings); with hardware transports, one access
point per controller, each opened with the sync key, address and bonds kept for it in SQLite,
serving the labels stored for it, with the onboarding sweep for new ones (`onboarding.py`).
Bumble is imported only when `pawr` is configured.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import structlog
from bleak_retry_connector import BleakClientWithServiceCache

from devices.esl.codec import EslAddress
from devices.esl.fridge import Fridge
from devices.esl.gatt_ap import GattAccessPoint
from devices.esl.info import MeshSensor
from devices.esl.radio import EslRadio, KeyMaterial
from devices.esl.sensors import MeshProperty
from devices.esl.simulator import RadioTiming, SimulatedFleet, SimulatedLabel, draw_label
from devices.esl.bumble.train import TrainParams
from devices.esl.tag_core import MODELS, TagCore
from edge.esl.config import EslSection
from edge.esl.radio import keys
from edge.esl.radio.inventory import LabelRecord
from edge.esl.radio.onboarding import Onboarding, log_damaged
from edge.store import Store

if TYPE_CHECKING:
    from devices.esl.bumble.ap import PawrAccessPoint
    from devices.esl.bumble.store import TagSpec

log = structlog.get_logger("esl")


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
    #: Image pushes worth having under way at once (None: one per configured connection). Over PAwR
    #: one per group and train, so each AP's connect pacer always has the next subevent's label.
    pushes_at_once: int | None = None
    #: The hardware PAwR path's stored labels and onboarding sweep (None: labels are known from the start).
    onboarding: Onboarding | None = None


class OpenAccessPoint(Protocol):
    """Opens one hardware access point (`devices.esl.bumble.hardware.open_access_point`'s signature)."""

    def __call__(self, transport: str, params: TrainParams, *, sid: int, timeout: float, ap_sync_key: KeyMaterial,
                 keepalive_s: float, address: str, keystore: Any) -> Awaitable[PawrAccessPoint]:
        """The AP on `transport`, powered on, its train started."""


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


def pawr(config: EslSection, store: Store, open_ap: OpenAccessPoint | None = None) -> Backend:
    """PAwR on Bumble: the virtual store for `virtual` transports, else one access point per hardware controller.

    `open_ap` opens a hardware AP (default `open_access_point`; tests hand it emulated controllers).
    """
    params = TrainParams(**config.pawr.train.model_dump())
    if config.pawr.virtual:
        from devices.esl.bumble.store import VirtualStore

        specs = _virtual_specs(config)
        virtual = VirtualStore(specs, aps=len(config.pawr.transports), params=params, seed=config.simulated.seed,
                               timeout=config.operation_timeout_s, keepalive_s=config.pawr.keepalive_s)
        return Backend(virtual.radio, [_spec_record(s) for s in specs], virtual, start=virtual.start, stop=virtual.close,
                       **_pawr_capacity(config))
    from devices.esl.bumble.aps import AccessPoints

    radio = AccessPoints()
    labels: list[LabelRecord] = []
    onboarding = Onboarding(store, config.pawr.onboarding, config.pawr.onboarding_interval_s)

    async def start() -> None:
        """Open every controller not open yet with its stored identity, and serve the labels stored for it.

        Run again after a crash, it opens only the ones that did not open (a missing dongle), so the
        trains already running keep their labels.
        """
        if len(radio.aps) == len(config.pawr.transports):
            return
        from devices.esl.bumble.hardware import open_access_point, random_static_address
        from edge.esl.radio.bonds import StoredBonds

        def identity() -> tuple[KeyMaterial, str]:
            """A new AP's sync key and random static address."""
            return KeyMaterial.generate(), str(random_static_address())

        opener = open_ap or open_access_point
        rows = await store.read(keys.label_rows)
        log_damaged(rows)
        for n, transport in enumerate(config.pawr.transports):
            if n < len(radio.aps):
                continue
            # Committed before the train starts: a crash after this cannot leave labels holding a key nobody kept.
            stored, problem = await store.write(lambda tx, n=n, t=transport: keys.access_point(tx, n, t, identity))
            if problem is not None:
                log.error("esl.keys.ap_damaged", ap=n, transport=transport, problem=problem,
                          hint="a new sync key was made: this AP's labels are onboarded again when they advertise")
            found, damaged = await store.read(lambda db, ap=stored.id: keys.bonds(db, ap))
            for peer in damaged:
                log.error("esl.keys.bond_damaged", ap=n, label=peer, hint="the label is paired again at its next connection")
            ap = await opener(transport, params, sid=n, timeout=config.operation_timeout_s, ap_sync_key=stored.sync_key,
                              keepalive_s=config.pawr.keepalive_s, address=stored.address,
                              keystore=StoredBonds(store, stored.id, found))
            radio.add(ap)
            served = onboarding.attach(stored, ap, rows)
            log.info("esl.pawr.ap_started", ap=n, transport=transport, address=stored.address, labels=served)
        orphans = len({r.label.ble_address for r in rows.labels} - {r.id for r in onboarding.records()})
        if orphans:
            log.warning("esl.keys.without_ap", labels=orphans,
                        hint="stored for an access point no longer configured or whose key was lost, or never completed:"
                             " onboarded again when they advertise")
        labels[:] = onboarding.records()

    return Backend(radio, labels, start=start, stop=radio.close, onboarding=onboarding, **_pawr_capacity(config))


def _pawr_capacity(config: EslSection) -> dict[str, int]:
    """What the trains carry per interval (48-octet packets, one per group), and one push per group to feed each pacer."""
    groups = len(config.pawr.transports) * config.pawr.train.num_subevents
    return {"led_commands_at_once": groups * LED_CONTROLS_PER_PACKET, "sensor_reads_at_once": groups * SENSOR_READS_PER_PACKET,
            "pushes_at_once": groups}


def build_backend(config: EslSection, store: Store) -> Backend:
    """The backend the config names (the hardware PAwR path keeps its keys in `store`)."""
    if config.backend == "pawr":
        return pawr(config, store)
    return {"simulated": simulated, "bluetooth": bluetooth}[config.backend](config)
