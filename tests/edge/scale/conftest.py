"""Fixtures for the scale job tests: the daemon in-process with a simulated scale, folder camera and printer."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from edge.app import App
from edge.config import parse_config
from tests.conftest import SHARED

ROOT = Path(__file__).resolve().parents[3]
DATASET = SHARED / "datasets" / "grocerystore"
PRODUCE = ROOT / "config/scale-produce.json"

needs_dataset = pytest.mark.skipif(not (DATASET / "test_dev.txt").is_file(), reason="needs the grocerystore dataset")


def dataset_image(cls: str, index: int = 0) -> Path:
    """The `index`-th test_dev image of a fine class."""
    lines = [line.split(",")[0] for line in (DATASET / "test_dev.txt").read_text().splitlines()]
    return DATASET / [p for p in lines if Path(p).parent.name == cls][index]


def camera_folder(folder: Path, images: list[Path]) -> Path:
    """A folder camera's folder: links to the given images, named in order."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, image in enumerate(images):
        os.symlink(image, folder / f"{i:02d}-{image.name}")
    return folder


def scale_config(data: Path, broker_url: str, camera: Path | None, store: str = "s1", **scale: Any) -> Any:
    """A config of store `store` with one simulated scale (mt-sics, folder camera, simulated printer) and the demo produce file."""
    section: dict[str, Any] = {
        "produce_file": str(PRODUCE),
        "seed_products": True,
        "scales": [{"id": "sc1", "port": "simulated:mt-sics", **({"camera": f"folder:{camera}"} if camera else {})}],
        **scale,
    }
    return parse_config(
        {"store": {"id": store}, "data": {"dir": str(data)}, "broker": {"url": broker_url}, "http": {"enabled": False},
         "log": {"level": "warning"}, "scale": section},
        env={},
    )


async def until(predicate: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    """Poll `predicate` until truthy, bounded in time."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.03)


@asynccontextmanager
async def running(config: Any, gallery: bool = True) -> AsyncIterator[App]:
    """Run the App until the block ends; the scale job's devices ready (scale connected, camera streaming)."""
    app = await App.create(config)
    task = asyncio.create_task(app.run())
    try:
        job = app.jobs[0]
        if gallery:
            await until(lambda: len(job.gallery) > 0, 30, "gallery")
        for station in job.stations.values():
            await until(lambda s=station: s.devices.driver.health.value == "connected", 10, "scale connected")
            if station.devices.camera is not None:
                await until(lambda s=station: s.devices.camera.health.ok, 10, "camera streaming")
        yield app
    finally:
        app.request_stop()
        await asyncio.wait_for(task, 20)


async def place(station: Any, image: str | None, grams: int, timeout: float = 10.0) -> None:
    """Show an image to the camera, put `grams` on the platter and wait for the offer."""
    if image is not None:
        station.devices.camera.source.show(image)
        await asyncio.sleep(0.25)  # a frame of the new image is captured (fps 10)
    station.devices.scale_sim.model.place(grams)
    await until(lambda: station.session.phase.value == "offered", timeout, "offer")


async def clear(station: Any, timeout: float = 10.0) -> None:
    """Take everything off the platter and wait until the session is empty."""
    station.devices.scale_sim.model.clear()
    await until(lambda: station.session.phase.value == "empty", timeout, "empty platter")
