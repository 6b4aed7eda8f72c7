"""The battery sweep on the simulated fleet: voltages and last contact in `label.list`."""

from __future__ import annotations

import pytest

from tests.edge.esl.jobkit import running


@pytest.mark.both_radios
async def test_battery_sweep_fills_label_list(broker, tmp_path):
    async with running(broker.port, tmp_path / "data", battery_interval_s=1, battery_per_run=8) as d:
        listed = await d.wait(lambda: d.db("SELECT count(*) FROM esl_labels WHERE battery_v IS NOT NULL")[0][0] == 8)
        assert listed
        page = (await d.request("label.list", {"limit": 8}))["result"]["labels"]
        for entry in page:
            assert abs(entry["battery_v"] - d.job.fleet.label(entry["id"]).battery_v) < 0.05 and entry["last_seen"]
