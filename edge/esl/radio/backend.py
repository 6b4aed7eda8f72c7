"""The radio behind the job, chosen once from config: the simulated fleet (demo, tests) or a Bluetooth adapter."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from bleak_retry_connector import BleakClientWithServiceCache

from devices.esl.codec import EslAddress
from devices.esl.fridge import Fridge
from devices.esl.gatt_ap import GattAccessPoint
from devices.esl.info import MeshSensor
from devices.esl.radio import EslRadio
from devices.esl.sensors import MeshProperty
from devices.esl.simulator import RadioTiming, SimulatedFleet, SimulatedLabel
from edge.esl.config import EslSection
from edge.esl.radio.inventory import LabelRecord


@dataclass
class Backend:
    """The access point, the labels it announces at start, and the simulated fleet when there is one."""

    radio: EslRadio
    labels: list[LabelRecord]
    fleet: SimulatedFleet | None = None


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


def build_backend(config: EslSection) -> Backend:
    """The backend the config names."""
    return simulated(config) if config.backend == "simulated" else bluetooth(config)
