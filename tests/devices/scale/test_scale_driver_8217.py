"""The production driver against the Toledo 8217 simulator over a real pty."""

from __future__ import annotations

import asyncio

import pytest

from devices.scale.driver import Health, ScaleDriver
from devices.scale.errors import CommandRejected
from devices.scale.simulator import Toledo8217Simulator


async def test_motion_status_then_stable_weight(toledo_sim: Toledo8217Simulator, toledo_driver: ScaleDriver, wait_reading) -> None:
    await wait_reading(toledo_driver, lambda r: r.state == "zero")
    toledo_sim.model.place(1234)
    moving = await wait_reading(toledo_driver, lambda r: r.state == "motion")
    assert moving.grams is None and moving.raw.startswith("\x02?")
    stable = await wait_reading(toledo_driver, lambda r: r.stable)
    assert (stable.grams, stable.state, stable.raw) == (1235, "ok", "\x0201.235\r")
    assert (await asyncio.wait_for(toledo_driver.stable_reading(), 5)).grams == 1235


async def test_tare_marks_net_and_clear_restores(toledo_sim: Toledo8217Simulator, toledo_driver: ScaleDriver, wait_reading) -> None:
    toledo_sim.model.place(300)
    await wait_reading(toledo_driver, lambda r: r.stable and r.grams == 300)
    await asyncio.wait_for(toledo_driver.tare(), 5)
    toledo_sim.model.place(735)
    net = await wait_reading(toledo_driver, lambda r: r.stable and r.grams == 735)
    assert net.net and net.raw == "\x0200.735N\r"
    with pytest.raises(CommandRejected):
        await asyncio.wait_for(toledo_driver.zero(), 5)  # no zeroing while a tare is active
    await asyncio.wait_for(toledo_driver.clear_tare(), 5)
    gross = await wait_reading(toledo_driver, lambda r: r.stable)
    assert gross.grams == 1035 and not gross.net


async def test_preset_tare(toledo_sim: Toledo8217Simulator, toledo_driver: ScaleDriver, wait_reading) -> None:
    await asyncio.wait_for(toledo_driver.preset_tare(5), 5)
    toledo_sim.model.place(740)
    assert (await wait_reading(toledo_driver, lambda r: r.stable and r.grams == 735)).net


async def test_zero_in_range_and_error_outside(toledo_sim: Toledo8217Simulator, toledo_driver: ScaleDriver, wait_reading) -> None:
    toledo_sim.model.place(100)
    await wait_reading(toledo_driver, lambda r: r.stable and r.grams == 100)
    await asyncio.wait_for(toledo_driver.zero(), 5)
    assert (await wait_reading(toledo_driver, lambda r: r.stable)).state == "zero"
    toledo_sim.model.place(2000)
    await wait_reading(toledo_driver, lambda r: r.stable and r.grams == 2000)
    with pytest.raises(CommandRejected):
        await asyncio.wait_for(toledo_driver.zero(), 5)


async def test_overload_and_under_zero(toledo_sim: Toledo8217Simulator, toledo_driver: ScaleDriver, wait_reading) -> None:
    toledo_sim.model.place(20_000)
    over = await wait_reading(toledo_driver, lambda r: r.state == "overload")
    assert over.grams is None
    toledo_sim.model.clear()
    toledo_sim.model.place(200)
    await wait_reading(toledo_driver, lambda r: r.stable and r.grams == 200)
    await asyncio.wait_for(toledo_driver.zero(), 5)
    toledo_sim.model.clear()
    assert (await wait_reading(toledo_driver, lambda r: r.state == "underload")).grams is None


async def test_parity_bit_from_a_7e1_line_is_masked(toledo_sim: Toledo8217Simulator, toledo_driver: ScaleDriver, wait_reading) -> None:
    toledo_sim.parity_in_bit7 = True
    toledo_sim.model.place(735)
    stable = await wait_reading(toledo_driver, lambda r: r.stable and r.grams != 0)
    assert stable.grams == 735 and stable.raw == "\x0200.735\r"


async def test_garbage_and_half_frames(toledo_sim: Toledo8217Simulator, toledo_driver: ScaleDriver, wait_reading) -> None:
    toledo_sim.model.place(500)
    await wait_reading(toledo_driver, lambda r: r.stable)
    toledo_sim.garbage_rate = 0.5
    toledo_sim.inject(b"\x0201.2")  # half frame, resynchronised by the next STX
    toledo_sim.inject(b"\xfe\x7f??\r")
    stable = [await wait_reading(toledo_driver, lambda r: r.stable) for _ in range(5)]
    assert all(r.grams == 500 for r in stable) and toledo_driver.garbage_count >= 2


async def test_silent_then_unplugged_then_back(toledo_sim: Toledo8217Simulator, toledo_driver: ScaleDriver, wait_reading) -> None:
    toledo_sim.model.place(735)
    await wait_reading(toledo_driver, lambda r: r.stable)
    toledo_sim.silent = True
    await asyncio.wait_for(toledo_driver.wait_health(Health.UNHEALTHY), 3)
    assert toledo_driver.latest is None
    toledo_sim.unplug()
    await asyncio.wait_for(toledo_driver.wait_health(Health.RECONNECTING), 3)
    toledo_sim.silent = False
    toledo_sim.replug()
    assert (await wait_reading(toledo_driver, lambda r: r.stable)).grams == 735
    assert toledo_driver.health is Health.CONNECTED
