"""A scale whose replies the driver cannot use (set to lb): the station and status say `unparseable`, not connected."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.edge.scale.conftest import running, scale_config, until


@pytest.mark.parametrize("protocol", ["mt-sics", "toledo-8217"])
async def test_station_and_status_show_an_unparseable_scale(tmp_path: Path, broker, protocol: str) -> None:
    config = scale_config(tmp_path / "data", broker.url, None, scales=[{"id": "sc1", "port": f"simulated:{protocol}"}])
    async with running(config, gallery=False) as app:
        job = app.jobs[0]
        station = job.stations["sc1"]
        assert job.health()["scales"]["sc1"]["scale_reason"] is None
        station.devices.scale_sim.unit = "lb"
        scale = await until(lambda: (h := job.health()["scales"]["sc1"])["scale_reason"] == "unparseable" and h, 10, "unparseable")
        assert scale["scale"] == "unhealthy" and not job.healthy and "not understood" in scale["scale_detail"]
        await until(lambda: station.session.problem == "scale unhealthy (unparseable)", 5, "the session says why")
        status = await app.status()
        assert status["components"]["scale"]["detail"]["scales"]["sc1"]["scale_reason"] == "unparseable"
        station.devices.scale_sim.unit = "kg"
        await until(lambda: job.healthy, 10, "healthy again")
        assert job.health()["scales"]["sc1"]["scale_reason"] is None
