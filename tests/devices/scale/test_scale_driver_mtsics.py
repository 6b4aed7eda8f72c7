"""The production driver against the MT-SICS simulator over a real pty."""

from __future__ import annotations

import asyncio

import pytest
import structlog

from devices.scale.driver import Health, ScaleDriver
from devices.scale.errors import CommandRejected
from devices.scale.simulator import MtSicsSimulator


async def test_motion_then_stable_weight(mtsics_sim: MtSicsSimulator, mtsics_driver: ScaleDriver, wait_reading) -> None:
    await wait_reading(mtsics_driver, lambda r: r.state == "zero")
    mtsics_sim.model.place(737)
    moving = await wait_reading(mtsics_driver, lambda r: not r.stable)
    assert moving.state == "motion" and moving.raw.startswith("S D")
    stable = await wait_reading(mtsics_driver, lambda r: r.stable)
    assert (stable.grams, stable.state, stable.net) == (735, "ok", False)
    assert mtsics_driver.latest is not None and mtsics_driver.health is Health.CONNECTED
    label_value = await asyncio.wait_for(mtsics_driver.stable_reading(), 5)
    assert label_value.grams == 735 and label_value.raw == "S S      0.735 kg"


async def test_zero_within_range_and_refused_outside(mtsics_sim: MtSicsSimulator, mtsics_driver: ScaleDriver, wait_reading) -> None:
    mtsics_sim.model.place(100)
    await wait_reading(mtsics_driver, lambda r: r.stable and r.grams == 100)
    await asyncio.wait_for(mtsics_driver.zero(), 5)
    assert (await wait_reading(mtsics_driver, lambda r: r.stable)).state == "zero"
    mtsics_sim.model.place(1000)
    await wait_reading(mtsics_driver, lambda r: r.stable and r.grams == 1000)
    with pytest.raises(CommandRejected):
        await asyncio.wait_for(mtsics_driver.zero(), 5)


async def test_tare_gives_net_and_clear_restores_gross(mtsics_sim: MtSicsSimulator, mtsics_driver: ScaleDriver, wait_reading) -> None:
    mtsics_sim.model.place(500)
    await wait_reading(mtsics_driver, lambda r: r.stable and r.grams == 500)
    assert await asyncio.wait_for(mtsics_driver.tare(), 5) == 500
    mtsics_sim.model.place(735)
    net = await wait_reading(mtsics_driver, lambda r: r.stable and r.grams == 735)
    assert net.net
    await asyncio.wait_for(mtsics_driver.clear_tare(), 5)
    gross = await wait_reading(mtsics_driver, lambda r: r.stable)
    assert gross.grams == 1235 and not gross.net


async def test_preset_tare_per_product(mtsics_sim: MtSicsSimulator, mtsics_driver: ScaleDriver, wait_reading) -> None:
    await asyncio.wait_for(mtsics_driver.preset_tare(5), 5)
    mtsics_sim.model.place(740)
    reading = await wait_reading(mtsics_driver, lambda r: r.stable and r.grams != -5)
    assert reading.grams == 735 and reading.net
    with pytest.raises(CommandRejected):
        await asyncio.wait_for(mtsics_driver.preset_tare(99_000), 5)


async def test_overload_and_underload(mtsics_sim: MtSicsSimulator, mtsics_driver: ScaleDriver, wait_reading) -> None:
    mtsics_sim.model.place(16_000)
    over = await wait_reading(mtsics_driver, lambda r: r.state == "overload")
    assert over.grams is None and not over.stable and over.raw == "S +"
    mtsics_sim.model.clear()
    mtsics_sim.model.place(250)
    await wait_reading(mtsics_driver, lambda r: r.stable and r.grams == 250)
    await asyncio.wait_for(mtsics_driver.zero(), 5)
    mtsics_sim.model.clear()
    under = await wait_reading(mtsics_driver, lambda r: r.state == "underload")
    assert under.grams is None and under.raw == "S -"


async def test_garbage_and_half_lines_do_not_break_readings(mtsics_sim: MtSicsSimulator, mtsics_driver: ScaleDriver, wait_reading) -> None:
    mtsics_sim.model.place(735)
    await wait_reading(mtsics_driver, lambda r: r.stable)
    mtsics_sim.garbage_rate = 0.5
    mtsics_sim.inject(b"S S   1")  # half line: glued to the next reply, which is then discarded
    mtsics_sim.inject(b"\xff\x00\xfe\r\n")
    stable = [await wait_reading(mtsics_driver, lambda r: r.stable) for _ in range(5)]
    assert all(r.grams == 735 and r.raw == "S S      0.735 kg" for r in stable)
    assert mtsics_driver.garbage_count >= 2


async def test_silent_scale_is_unhealthy_then_recovers(mtsics_sim: MtSicsSimulator, mtsics_driver: ScaleDriver, wait_reading) -> None:
    await wait_reading(mtsics_driver, lambda r: True)
    mtsics_sim.silent = True
    await asyncio.wait_for(mtsics_driver.wait_health(Health.UNHEALTHY), 3)
    assert mtsics_driver.latest is None
    with pytest.raises(TimeoutError):
        await wait_reading(mtsics_driver, lambda r: True, timeout=0.5)
    mtsics_sim.silent = False
    await wait_reading(mtsics_driver, lambda r: True)
    assert mtsics_driver.health is Health.CONNECTED and mtsics_driver.latest is not None


async def test_unplug_replug_is_survived_and_logged_once_at_warning(mtsics_sim: MtSicsSimulator, mtsics_driver: ScaleDriver, wait_reading) -> None:
    mtsics_sim.model.place(735)
    await wait_reading(mtsics_driver, lambda r: r.stable)
    with structlog.testing.capture_logs() as logs:
        mtsics_sim.unplug()
        await asyncio.wait_for(mtsics_driver.wait_health(Health.RECONNECTING), 3)
        assert mtsics_driver.latest is None
        await asyncio.sleep(0.6)  # several failed attempts while the port path is gone
        mtsics_sim.replug()
        reading = await wait_reading(mtsics_driver, lambda r: r.stable)
    assert reading.grams == 735 and mtsics_driver.health is Health.CONNECTED
    failures = [e for e in logs if e["event"] == "scale.connect.failed"]
    assert len(failures) >= 2
    assert failures[0]["log_level"] == "warning" and all(e["log_level"] == "debug" for e in failures[1:])


async def test_stream_mode_sir(mtsics_sim: MtSicsSimulator, driver_factory, wait_reading) -> None:
    async with driver_factory("mt-sics", mtsics_sim.path, mode="stream") as driver:
        mtsics_sim.model.place(300)
        assert (await wait_reading(driver, lambda r: r.stable)).grams == 300
        await asyncio.wait_for(driver.zero(), 5)
        assert (await wait_reading(driver, lambda r: r.stable)).state == "zero"
        assert b"SI\r\n" not in mtsics_sim.received


async def test_port_missing_at_start_then_appears(tmp_path, driver_factory, wait_reading) -> None:
    path = tmp_path / "late"
    async with driver_factory("mt-sics", str(path)) as driver:
        await asyncio.wait_for(driver.wait_health(Health.RECONNECTING), 3)
        with MtSicsSimulator(path=path) as sim:
            sim.model.place(10)
            await asyncio.wait_for(driver.wait_health(Health.CONNECTED), 3)
            await wait_reading(driver, lambda r: True)


async def test_tare_state_is_recovered_after_reconnect(mtsics_sim: MtSicsSimulator, mtsics_driver: ScaleDriver, wait_reading) -> None:
    mtsics_sim.model.place(300)
    await wait_reading(mtsics_driver, lambda r: r.stable and r.grams == 300)
    await asyncio.wait_for(mtsics_driver.tare(), 5)
    mtsics_sim.unplug()
    await asyncio.wait_for(mtsics_driver.wait_health(Health.RECONNECTING), 3)
    mtsics_sim.replug()
    mtsics_sim.model.place(735)
    reading = await wait_reading(mtsics_driver, lambda r: r.stable and r.grams == 735)
    assert reading.net  # the new connection learned the scale's tare with `TA`
