"""Stable weight → candidates ready, through the real scale job on one CPU core, plus the model alone.

Run: .venv/bin/python benchmarks/bench_scale_pipeline.py [--weighings 50]

End to end: the daemon runs in-process with the pty-simulated MT-SICS scale read by the production
driver, a folder camera on test_dev images (30 fps) and the committed int8 model; for each weighing
the time from the stable reading reaching the session to the candidates being set (one frame taken,
preprocessed, embedded, searched, off the event loop). Components: preprocessing, int8 and float
model inference, gallery search, on the same frames, and preprocessing of each frame blown up to a
camera's 1280x720. The process is pinned to one core.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edge.app import App  # noqa: E402
from edge.config import parse_config  # noqa: E402
from edge.logs import configure  # noqa: E402
from edge.scale.recognition.model import DEFAULT_MODEL, ProduceModel, preprocess  # noqa: E402

DATASET = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "grocerystore"


def pct(samples: list[float], q: float) -> float:
    """The q-th percentile (nearest rank)."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, int(round(q / 100 * len(ordered))) - 1))]


def line(name: str, samples: list[float]) -> str:
    """One result line: p50 / p95 / max in ms."""
    return f"{name:<42} p50 {pct(samples, 50):6.1f} ms   p95 {pct(samples, 95):6.1f} ms   max {max(samples):6.1f} ms   (n={len(samples)})"


def pick_images(n: int) -> list[Path]:
    """n test_dev images spread over the classes."""
    lines = [x.split(",")[0].strip() for x in (DATASET / "test_dev.txt").read_text().splitlines() if x.strip()]
    step = max(1, len(lines) // n)
    return [DATASET / p for p in lines[::step][:n]]


async def end_to_end(images: list[Path], work: Path) -> list[float]:
    """Settle → candidates (ms) for each image, measured by the job's own session clock."""
    cam = work / "cam"
    cam.mkdir()
    for i, image in enumerate(images):
        os.symlink(image, cam / f"{i:03d}-{image.name}")
    config = parse_config(
        {"store": {"id": "bench"}, "data": {"dir": str(work / "data")}, "broker": {"url": "mqtt://127.0.0.1:9"},
         "http": {"enabled": False}, "log": {"level": "error"},
         "scale": {"produce_file": str(ROOT / "config/scale-produce.json"), "seed_products": True,
                   "scales": [{"id": "b1", "port": "simulated:mt-sics", "camera": f"folder:{cam}", "camera_fps": 30}]}},
        env={},
    )
    app = await App.create(config)
    task = asyncio.create_task(app.run())
    job = app.jobs[0]
    station = job.stations["b1"]
    model = station.devices.scale_sim.model
    model.settle_s = 0.25

    async def until(predicate, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError("bench: timed out")
            await asyncio.sleep(0.005)

    await until(lambda: len(job.gallery) > 0 and station.healthy, 30)
    samples = []
    for i, name in enumerate(station.devices.camera.source.names):
        station.devices.camera.source.show(name)
        await asyncio.sleep(0.1)
        model.place(300 + 5 * i)
        await until(lambda: station.session.phase.value == "offered")
        weighing = station.session.current
        samples.append((weighing.offered_at - weighing.settled_at) * 1e3)
        model.clear()
        await until(lambda: station.session.phase.value == "empty")
    app.request_stop()
    await asyncio.wait_for(task, 20)
    return samples


def components(images: list[Path]) -> dict[str, list[float]]:
    """Preprocess, int8 model, float model and search timings on the same frames (BGR, as the camera gives)."""
    import cv2

    from edge.scale.recognition.gallery import Gallery
    from edge.scale.recognition.model import DEFAULT_GALLERY

    int8 = ProduceModel(DEFAULT_MODEL)
    fp32 = ProduceModel(DEFAULT_MODEL.with_name(DEFAULT_MODEL.name.replace(".int8", "")))
    gallery = Gallery.load(DEFAULT_GALLERY)
    out: dict[str, list[float]] = {"preprocess": [], "preprocess at 1280x720": [], "model int8": [], "model float32": [],
                                   "search (Gallery.scores, every example)": []}
    for path in images:
        frame = cv2.imread(str(path), cv2.IMREAD_COLOR)
        camera = cv2.resize(frame, (1280, 720), interpolation=cv2.INTER_LINEAR)
        t0 = time.perf_counter()
        preprocess(camera)
        out["preprocess at 1280x720"].append((time.perf_counter() - t0) * 1e3)
        t0 = time.perf_counter()
        x = preprocess(frame)
        t1 = time.perf_counter()
        emb = int8.run(x)
        t2 = time.perf_counter()
        fp32.run(x)
        t3 = time.perf_counter()
        _, sims, _ = gallery.scores(emb, int8.members)
        np.argsort(-sims)[:5]
        t4 = time.perf_counter()
        out["preprocess"].append((t1 - t0) * 1e3)
        out["model int8"].append((t2 - t1) * 1e3)
        out["model float32"].append((t3 - t2) * 1e3)
        out["search (Gallery.scores, every example)"].append((t4 - t3) * 1e3)
    return out


def main() -> int:
    """Pin to one core, run both parts, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weighings", type=int, default=50)
    args = parser.parse_args()
    if not (DATASET / "test_dev.txt").is_file():
        print(f"bench_scale_pipeline needs the Grocery Store dataset at {DATASET}", file=sys.stderr)
        return 1
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    configure("error", "console")
    images = pick_images(args.weighings)
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        e2e = asyncio.run(end_to_end(images, Path(tmp)))
    parts = components(images)
    print(f"scale pipeline on 1 core ({os.cpu_count()} online), model {DEFAULT_MODEL.name}, {len(images)} test_dev images")
    print(line("stable weight -> candidates ready (job)", e2e))
    for name, samples in parts.items():
        print(line(name, samples[3:]))  # the first runs warm the kernels up
    for path in (DEFAULT_MODEL, DEFAULT_MODEL.with_name(DEFAULT_MODEL.name.replace(".int8", ""))):
        print(f"{path.name:<42} {path.stat().st_size / 1e6:6.1f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
