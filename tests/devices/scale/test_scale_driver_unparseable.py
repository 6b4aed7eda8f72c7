"""A scale whose every reply is unparseable (set to lb while the driver expects kg): polls stay paced, health says why."""

from __future__ import annotations

import asyncio
import time

import pytest

from devices.scale.driver import Health
from devices.scale.simulator import MtSicsSimulator, Toledo8217Simulator
from tests.devices.scale.conftest import fast_model, make_driver

POLL_S = 0.05
WATCH_S = 1.0


def _polls(sim: MtSicsSimulator | Toledo8217Simulator) -> int:
    """Weight requests the simulated scale has received so far (`W` for 8217, `SI` for MT-SICS)."""
    received = bytes(sim.received)
    return received.count(b"W") if isinstance(sim, Toledo8217Simulator) else received.count(b"SI\r\n")


@pytest.mark.parametrize("protocol", ["toledo-8217", "mt-sics"])
async def test_unparseable_replies_are_paced_and_reported(protocol: str, tmp_path) -> None:
    """Every reply in lb: at most one poll per interval, then UNHEALTHY with reason `unparseable`; kg again: healthy."""
    sim_class = Toledo8217Simulator if protocol == "toledo-8217" else MtSicsSimulator
    sim = sim_class(fast_model(), path=tmp_path / "tty", seed=3, unit="lb")
    sim.model.place(1000)
    with sim:
        driver = make_driver(protocol, sim.path, poll_interval=POLL_S, unparseable_after=5)
        async with driver:
            await asyncio.wait_for(driver.wait_health(Health.CONNECTED, Health.UNHEALTHY), 5)
            before, started = _polls(sim), time.monotonic()
            await asyncio.sleep(WATCH_S)
            rate = (_polls(sim) - before) / (time.monotonic() - started)
            assert rate <= 1.5 / POLL_S, f"{rate:.0f} polls/s"  # unpaced, a pty takes thousands per second
            assert driver.health is Health.UNHEALTHY and driver.health_reason == "unparseable"
            assert driver.latest is None and driver.health_detail is not None and "replies in a row not understood" in driver.health_detail
            sim.unit = "kg"
            await asyncio.wait_for(driver.wait_health(Health.CONNECTED), 5)
            assert driver.health_reason is None and driver.health_detail is None
