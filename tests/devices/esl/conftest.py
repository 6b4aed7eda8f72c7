"""Fixtures for the ESL driver tests: a manual clock, a simulated fleet with no air time, an access point."""

from __future__ import annotations

import pytest

from devices.esl.codec import EslAddress
from devices.esl.fridge import Fridge
from devices.esl.gatt_ap import GattAccessPoint
from devices.esl.radio import Label
from devices.esl.simulator import RadioTiming, SimulatedFleet, SimulatedLabel


class ManualClock:
    """A clock that only moves when the test says so."""

    def __init__(self) -> None:
        """Start at an arbitrary non-zero time."""
        self.now = 1000.0

    def __call__(self) -> float:
        """Current time in seconds."""
        return self.now

    def advance(self, seconds: float) -> None:
        """Move time forward."""
        self.now += seconds


@pytest.fixture
def clock() -> ManualClock:
    """The fleet's clock."""
    return ManualClock()


@pytest.fixture
def fleet(clock: ManualClock) -> SimulatedFleet:
    """A seeded fleet whose radio takes no time, with one-minute sync timers."""
    return SimulatedFleet(seed=7, timing=RadioTiming(time_scale=0), clock=clock,
                          sync_timeout_s=60, unassociated_timeout_s=60)


@pytest.fixture
def ap(fleet: SimulatedFleet) -> GattAccessPoint:
    """The production access point wired to the simulator; short timeouts keep failing tests fast."""
    return GattAccessPoint(client_class=fleet.client_class, scanner=fleet.scanner,
                           transport_factory=fleet.transport_factory, connect_attempts=2, timeout=0.5)


@pytest.fixture
def synced(fleet: SimulatedFleet) -> tuple[SimulatedLabel, Label]:
    """A configured 2.9" red label in a 4 degC fridge, ESL address group 1 / id 5."""
    address = EslAddress(1, 5)
    sim = fleet.add_label("2.9-bwr", fridge=Fridge(set_point_c=4.0, seed=3), configured_as=address)
    return sim, Label(sim.address, address)
