"""Screen job benchmark: the whole daemon in-process with one screen; CPU share, analysed FPS, drops, engaged latency.

Run from the repository root:  .venv/bin/python benchmarks/bench_screen_job.py
Needs Mosquitto and scikit-image (test extra). CPU share is the process's CPU time over wall time (daemon,
link and store included; 100 % = one core), on a shared, noisy 2-core machine.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2  # noqa: E402

from devices.camera.scene import shop_background  # noqa: E402
from edge.app import App  # noqa: E402
from edge.config import parse_config  # noqa: E402
from edge.demo.broker import Mosquitto  # noqa: E402
from edge.demo.hq import Hq, unique_in_order  # noqa: E402
from edge.logs import configure  # noqa: E402


async def run_case(port: int, workdir: Path, name: str, screen: dict[str, Any], seconds: float) -> dict[str, Any]:
    """Run the daemon with one screen for `seconds` after it is up; return its figures."""
    config = parse_config({
        "store": {"id": "bench"}, "data": {"dir": str(workdir / name)}, "http": {"enabled": False},
        "broker": {"url": f"mqtt://127.0.0.1:{port}"}, "screen": {"screens": [{"id": name, **screen}]},
    }, env={})
    hq = Hq(port, "bench")
    app = await App.create(config)
    daemon = asyncio.create_task(app.run())
    (job,) = app.jobs
    while job.health()["screens"][name]["state"] != "up":
        await asyncio.sleep(0.05)
    cpu0, wall0 = time.process_time(), time.monotonic()
    await asyncio.sleep(seconds)
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    health = job.health()["screens"][name]
    app.request_stop()
    await asyncio.wait_for(daemon, 15)
    arrivals = [(json.loads(p), time.time()) for t, p, _ in hq.messages if t.endswith("/event/engaged")]
    hq.close()
    engaged = unique_in_order([e for e, _ in arrivals])
    return {
        "case": name,
        "cpu_share_pct": round(100 * cpu / wall, 1),
        "fps_target": screen["fps"],
        "fps_analysed": round(health["frames_analysed"] / (wall + 1e-9), 1),
        "frames_dropped": health["frames_dropped"],
        "engaged_events": len(engaged),
        "frame_to_event_ms": [round((datetime.fromisoformat(e["ts"]) - datetime.fromisoformat(e["data"]["at"])).total_seconds() * 1000, 1) for e in engaged],
    }


async def main() -> None:
    """The cases: an empty still shop, the simulated shopper at 10 FPS, and the shopper at 60 FPS (overload)."""
    configure("warning", "console")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        still = work / "still"
        still.mkdir()
        cv2.imwrite(str(still / "shop.png"), shop_background(640, 480))
        broker = Mosquitto(work / "broker").start()
        try:
            cases = [
                ("idle_still_shop_10fps", {"source": f"folder:{still}", "fps": 10}, 15.0),
                ("shopper_10fps", {"source": "simulated:shopper", "fps": 10}, 15.0),
                ("shopper_60fps_overload", {"source": "simulated:shopper", "fps": 60}, 15.0),
            ]
            for name, screen, seconds in cases:
                print(json.dumps(await run_case(broker.port, work, name, screen, seconds)), flush=True)
        finally:
            broker.stop()


if __name__ == "__main__":
    asyncio.run(main())
