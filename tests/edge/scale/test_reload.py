"""A `config.set` of the scale job's hot keys (JobSpec.hot_keys) reaches the next weighing without a restart."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from edge.remote_config import Desired, Identity, how_applied
from tests.edge.scale.conftest import clear, place, running, scale_config


async def test_new_thresholds_reach_the_next_weighing_in_the_running_job(tmp_path: Path, broker) -> None:
    folder = tmp_path / "cam"
    folder.mkdir()
    Image.effect_noise((320, 240), 60).convert("RGB").save(folder / "noise.png")
    config = scale_config(tmp_path / "data", broker.url, folder, unrecognised_score=-1.0)
    async with running(config) as app:
        job = app.jobs[0]
        station = job.stations["sc1"]
        await place(station, None, 500)
        assert job.candidates("sc1")["candidates"], "every frame is recognised at -1"
        await clear(station)

        stricter = scale_config(tmp_path / "data", broker.url, folder, unrecognised_score=1.0, unsure_score=0.9)
        assert how_applied(app.config, stricter) == "hot"
        app.apply_config(Desired("", stricter, Identity(2, "0" * 64, "hq"), ["scale"], "hot"))
        assert app.jobs[0] is job and app.identity.version == 2 and job.recognition.unsure_score == 0.9
        await place(station, None, 500)
        shown = job.candidates("sc1")
        assert shown["candidates"] == [] and shown["state"] == "unrecognised"  # nothing clears 1.0: no tiles
        await clear(station)
