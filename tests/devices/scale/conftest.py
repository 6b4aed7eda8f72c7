"""Fixtures for scale tests: fast pty simulators and a helper to await readings with a bound."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator

import pytest

from devices.backoff import Backoff
from devices.scale.driver import ScaleDriver, default_settings
from devices.scale.reading import WeightReading
from devices.scale.simulator import MtSicsSimulator, ScaleModel, Toledo8217Simulator

TIME_SCALE = 4.0


def fast_model(**kwargs: object) -> ScaleModel:
    """A 15 kg × 5 g scale that settles in 0.8 s of simulated time (0.2 s real)."""
    return ScaleModel(time_scale=TIME_SCALE, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def mtsics_sim(tmp_path) -> Iterator[MtSicsSimulator]:
    """A running MT-SICS simulator (unit kg) on a pty published at tmp_path/ttySICS."""
    sim = MtSicsSimulator(fast_model(), path=tmp_path / "ttySICS", seed=1)
    with sim:
        yield sim


@pytest.fixture
def toledo_sim(tmp_path) -> Iterator[Toledo8217Simulator]:
    """A running Toledo 8217 simulator on a pty published at tmp_path/tty8217."""
    sim = Toledo8217Simulator(fast_model(), path=tmp_path / "tty8217", seed=2)
    with sim:
        yield sim


def make_driver(protocol: str, path: str, **kwargs: object) -> ScaleDriver:
    """A driver with test-friendly timings (fast polls, short timeouts, quick back-off)."""
    options: dict[str, object] = {
        "poll_interval": 0.05,
        "response_timeout": 0.4,
        "command_timeout": 2.0,
        "backoff": Backoff(initial=0.05, maximum=0.2),
    }
    options.update(kwargs)
    return ScaleDriver(default_settings(protocol, path), protocol, **options)  # type: ignore[arg-type]


@pytest.fixture
async def mtsics_driver(mtsics_sim: MtSicsSimulator) -> AsyncIterator[ScaleDriver]:
    """The production driver polling the MT-SICS simulator."""
    async with make_driver("mt-sics", mtsics_sim.path) as driver:
        yield driver


@pytest.fixture
async def toledo_driver(toledo_sim: Toledo8217Simulator) -> AsyncIterator[ScaleDriver]:
    """The production driver polling the 8217 simulator."""
    async with make_driver("toledo-8217", toledo_sim.path) as driver:
        yield driver


@pytest.fixture
def driver_factory() -> Callable[..., ScaleDriver]:
    """Build drivers with test-friendly timings (tests import nothing from conftest)."""
    return make_driver


@pytest.fixture
def wait_reading() -> Callable[..., object]:
    """The `next_reading` helper, as a fixture."""
    return next_reading


async def next_reading(
    driver: ScaleDriver, predicate: Callable[[WeightReading], bool], timeout: float = 5.0
) -> WeightReading:
    """The first reading from now on that satisfies `predicate`, within `timeout` seconds."""
    async with asyncio.timeout(timeout):
        async for reading in driver.readings():
            if predicate(reading):
                return reading
    raise AssertionError("unreachable")
