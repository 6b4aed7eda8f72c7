"""Two parts of the job reaching for one label at once: queued per label instead of failing."""

from __future__ import annotations

import asyncio

from devices.esl.codec import EslAddress
from devices.esl.errors import LabelUnreachable
from devices.esl.gatt_ap import GattAccessPoint
from devices.esl.led import GREEN, LedParams
from devices.esl.radio import Label
from devices.esl.simulator import RadioTiming, SimulatedFleet
from edge.esl.radio.per_label import PerLabelRadio


def _setup() -> tuple[GattAccessPoint, Label, SimulatedFleet]:
    """One synchronized simulated label and the production access point on it."""
    fleet = SimulatedFleet(seed=1, timing=RadioTiming(time_scale=0.01))
    sim = fleet.add_label("2.9-bwr", configured_as=EslAddress(0, 1))
    ap = GattAccessPoint(client_class=fleet.client_class, scanner=fleet.scanner,
                         transport_factory=fleet.transport_factory, connect_attempts=1, timeout=1.0)
    return ap, Label(sim.address, EslAddress(0, 1)), fleet


async def test_concurrent_operations_on_one_label_are_serialised():
    ap, label, fleet = _setup()
    radio = PerLabelRadio(ap)
    flash = LedParams.flash(GREEN, seconds=5)
    async with asyncio.timeout(10):
        results = await asyncio.gather(radio.flash_led(label, 0, flash), radio.ping(label), radio.stop_led(label, 0))
    assert len(results) == 3 and fleet.label(label.ble_address).connections == 3


async def test_without_the_wrapper_the_second_connection_fails():
    ap, label, _ = _setup()
    async with asyncio.timeout(10):
        results = await asyncio.gather(ap.ping(label), ap.ping(label), return_exceptions=True)
    assert any(isinstance(r, LabelUnreachable) and "already connected" in str(r) for r in results)
