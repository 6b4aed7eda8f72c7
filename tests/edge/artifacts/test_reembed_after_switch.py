"""A switch to another produce-model version keeps what the store learned: the kept crops are re-embedded (edge/scale/recognition/upgrade.py)."""

from __future__ import annotations

import asyncio
import hashlib
import shutil
from pathlib import Path

from structlog.testing import capture_logs

from edge.artifacts.installed import Pointer, set_pointer
from edge.artifacts.manifest import FileEntry, Manifest
from edge.scale.recognition.model import FP32_GALLERY, FP32_MODEL
from tests.edge.artifacts.test_produce_model import probe_set
from tests.edge.scale.conftest import (
    camera_folder,
    dataset_image,
    place,
    running,
    scale_config,
    until,
)


def _install_by_hand(data: Path, version: str) -> None:
    """The folder and pointer an install plus an activation of the fp32 export leave (both are tested on their own)."""
    folder = data / "artifacts" / "produce-model" / version
    folder.mkdir(parents=True)
    shutil.copy(FP32_MODEL, folder / "model.onnx")
    shutil.copy(FP32_GALLERY, folder / "gallery.npz")
    (folder / "probe.npz").write_bytes(probe_set(4))
    entries = [FileEntry(name=p.name, size=p.stat().st_size, sha256=hashlib.sha256(p.read_bytes()).hexdigest())
               for p in sorted(folder.iterdir())]
    (folder / "manifest.json").write_bytes(Manifest(kind="produce-model", version=version, files=entries).canonical())
    set_pointer(data / "artifacts", "produce-model", Pointer(version, None, confirmed=False))


async def test_learned_examples_survive_the_switch_to_an_installed_version(tmp_path: Path, broker) -> None:
    folder = await asyncio.to_thread(camera_folder, tmp_path / "cam", [dataset_image("Red-Delicious", 2)])
    config = scale_config(tmp_path / "data", broker.url, folder)
    async with running(config) as app:
        job = app.jobs[0]
        before = job.model_version
        station = job.stations["sc1"]
        await place(station, station.devices.camera.source.names[0], 640)
        learned = await job.confirm("sc1", 1)
        assert learned["learned"] is True
    await asyncio.to_thread(_install_by_hand, tmp_path / "data", "v2-fp32")
    with capture_logs() as logs:
        async with running(config) as again:  # the same configuration: the job finds the active version itself
            job = again.jobs[0]
            assert job.model_version == "produce-ensemble-v2-fp32" != before
            await until(lambda: job.gallery.learned(learned["sku"]) == 1 and any(e["event"] == "scale.gallery.reembedded" for e in logs),
                        30, "the learned example re-embedded by the new version")
    assert [(e["reembedded"], e["dropped"]) for e in logs if e["event"] == "scale.gallery.reembedded"] == [(1, 0)]
