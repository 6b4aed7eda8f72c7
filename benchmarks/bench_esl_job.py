"""ESL job benchmark: pick.start → first LED command with 50 orders running; full refresh through the job with
1, 4 and 8 connections; daemon memory with 10,000 labels known.

Run: .venv/bin/python benchmarks/bench_esl_job.py [--orders 100] [--labels 10000] [--refresh-labels 400]
     .venv/bin/python benchmarks/bench_esl_job.py --radio pawr [--aps 4] [--orders 100]   (pick only, over PAwR)
Prints one JSON object. Real Mosquitto on loopback, the in-process daemon and the simulated fleet
(radio time scaled by 0.01, so a 2 s connection costs 20 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from edge.app import App  # noqa: E402
from edge.config import parse_config  # noqa: E402
from edge.demo.broker import Mosquitto  # noqa: E402
from edge.demo.hq import Hq  # noqa: E402
from edge.logs import configure  # noqa: E402
from tests.helpers.daemon import DaemonProcess, write_config  # noqa: E402

RUNNING = 50


def _pct(values: list[float], q: float) -> float:
    """The q-quantile in milliseconds, rounded."""
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 1)


#: The PAwR runs: the demo's picking-window train (400 ms interval, 8 groups) on `--aps` virtual access points.
PAWR_TRAIN = {"interval": 320, "num_subevents": 8, "subevent_interval": 40, "response_slot_delay": 30,
              "response_slot_spacing": 6, "num_response_slots": 8}


async def pick_latency(workdir: Path, port: int, orders: int, radio: str = "simulated", aps: int = 4) -> dict[str, object]:
    """Start orders one after another, keeping 50 running; time from publishing pick.start to the first LED command."""
    esl = {"simulated": {"labels": 400, "seed": 11, "time_scale": 0.01}, "connections": 8,
           "demo_store": {"enabled": True, "products": 200}, "picking": {"timeout_s": 3600, "connections": 4}}
    if radio == "pawr":
        esl |= {"backend": "pawr", "pawr": {"transports": ["virtual"] * aps, "train": PAWR_TRAIN}}
    config = parse_config(
        {"store": {"id": "bench"}, "data": {"dir": str(workdir / "data")}, "broker": {"url": f"mqtt://127.0.0.1:{port}"},
         "http": {"enabled": False}, "log": {"level": "warning"}, "esl": esl},
        env={},
    )
    configure("warning", "console")
    app = await App.create(config)
    daemon = asyncio.create_task(app.run())
    hq = await asyncio.to_thread(Hq, port, "bench")
    job = next(j for j in app.jobs if j.name == "esl")
    while app.store.read_sync(lambda db: db.execute(
            "SELECT (SELECT count(*) FROM esl_work), (SELECT count(*) FROM esl_labels WHERE state = 'ok')").fetchone()) != (0, 400):
        await asyncio.sleep(0.2)  # wait for the start-up refresh of the demo store
    skus = [r[0] for r in app.store.read_sync(lambda db: db.execute(
        "SELECT DISTINCT sku FROM esl_labels WHERE leds > 0 AND sku IS NOT NULL").fetchall())]
    rng = random.Random(1)
    latencies, lit = [], []
    active: list[str] = []
    for n in range(RUNNING + orders):
        order = f"o{n}"
        while True:  # the first item's label must be dark: a label another order already flashes is lit at once
            items = [{"sku": s, "qty": 1} for s in rng.sample(skus, 5)]
            label = app.store.read_sync(lambda db: db.execute(
                "SELECT min(id) FROM esl_labels WHERE sku = ? AND leds > 0", (items[0]["sku"],)).fetchone()[0])
            sim = job.fleet.label(label)
            if sim.led(0) is None:
                break
        sent = time.time()
        await asyncio.to_thread(hq.send, "pick.start", {"order_id": order, "items": items})  # send waits for PUBACK
        while order not in job.leds.first_command_at and time.time() - sent < 10:
            await asyncio.sleep(0.0005)
        first = job.leds.first_command_at.get(order)
        while sim.led(0) is None and time.time() - sent < 10:
            await asyncio.sleep(0.0005)
        if n >= RUNNING:
            latencies.append((first or time.time()) - sent)
            lit.append(time.time() - sent)
        active.append(order)
        if len(active) > RUNNING:
            await asyncio.to_thread(hq.request, "pick.done", {"order_id": active.pop(0)})
    commands = job.leds.commands
    app.request_stop()
    await asyncio.wait_for(daemon, 20)
    hq.close()
    interval_s = PAWR_TRAIN["interval"] * 1.25e-3
    extra: dict[str, object] = {} if radio != "pawr" else {
        "radio": f"PAwR virtual store, {aps} access points, {interval_s * 1000:.0f} ms interval, 8 groups",
        "pick_to_first_label_lit_intervals": {"p50": round(_pct(lit, 0.5) / 1000 / interval_s, 2),
                                              "p95": round(_pct(lit, 0.95) / 1000 / interval_s, 2)}}
    return {
        **extra,
        "orders_measured": len(latencies), "orders_running": RUNNING,
        "pick_to_first_led_command_ms": {"p50": _pct(latencies, 0.5), "p95": _pct(latencies, 0.95), "max": _pct(latencies, 1.0)},
        "pick_to_first_label_lit_ms": {"p50": _pct(lit, 0.5), "p95": _pct(lit, 0.95),
                                       "note": ("a dark label, in its group's subevent" if radio == "pawr" else
                                                "includes the simulated connection (2 s x 0.01) and GATT round trips")},
        "led_commands": commands,
        "mean_ms": round(statistics.mean(latencies) * 1000, 1),
    }


async def refresh(workdir: Path, port: int, labels: int, connections: int, scale: float) -> dict[str, float]:
    """Start-up refresh of a demo store through the whole job (render, queue, push, record): wall time vs the radio's limit."""
    esl = {"simulated": {"labels": labels, "seed": 5, "time_scale": scale}, "connections": connections,
           "demo_store": {"enabled": True, "products": labels}, "battery_per_run": 0}
    config = parse_config(
        {"store": {"id": "bench"}, "data": {"dir": str(workdir / f"refresh-{connections}")},
         "broker": {"url": f"mqtt://127.0.0.1:{port}"}, "http": {"enabled": False}, "log": {"level": "warning"}, "esl": esl},
        env={},
    )
    app = await App.create(config)
    daemon = asyncio.create_task(app.run())
    job = next(j for j in app.jobs if j.name == "esl")
    while job.fleet.air_time_s == 0:
        await asyncio.sleep(0.002)
    started = time.monotonic()
    while job.pusher.progress.done < labels:
        await asyncio.sleep(0.005)
    wall = time.monotonic() - started
    limit = job.fleet.air_time_s * scale / connections
    app.request_stop()
    await asyncio.wait_for(daemon, 20)
    return {"connections": connections, "wall_s": round(wall, 2), "radio_limit_s": round(limit, 2),
            "ratio": round(limit / wall, 3), "labels_per_s": round(labels / wall, 1)}


def memory(workdir: Path, broker_url: str, labels: int) -> dict[str, object]:
    """RSS of a `store-edge run` process that knows `labels` labels (simulated fleet included)."""
    result = {}
    for count in (0, labels):
        config = write_config(workdir / f"mem{count}.toml", "mem", workdir / f"mem{count}-data", broker_url,
                              log={"level": "warning"}, esl={"simulated": {"labels": count}})
        daemon = DaemonProcess(config, workdir / f"mem{count}.log").start()
        hq = Hq(int(broker_url.rsplit(":", 1)[1]), "mem")
        try:
            hq.wait(lambda _: [s for s in hq.statuses() if s["state"] == "online"], 60)
            deadline = time.time() + 60
            while time.time() < deadline:
                reply = hq.request("label.list", {"limit": 1}, timeout=30)
                if reply.get("ok") and reply["result"]["total"] == count:
                    break
                time.sleep(0.5)
            time.sleep(1)
            status = Path(f"/proc/{daemon.proc.pid}/status").read_text()  # type: ignore[union-attr]
            rss_kb = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS")))
            result[f"rss_mb_{count}_labels"] = round(rss_kb / 1024, 1)
        finally:
            hq.close()
            daemon.terminate()
    result["rss_mb_per_1000_labels"] = round((result[f"rss_mb_{labels}_labels"] - result["rss_mb_0_labels"]) / labels * 1000, 2)
    return result


def main() -> None:
    """Run both measurements against a private broker and print JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=100)
    parser.add_argument("--labels", type=int, default=10_000)
    parser.add_argument("--refresh-labels", type=int, default=400)
    parser.add_argument("--refresh-scale", type=float, default=0.05, help="radio time scale of the refresh runs")
    parser.add_argument("--radio", choices=("simulated", "pawr"), default="simulated",
                        help="pawr: only the pick measurement, on the PAwR virtual store")
    parser.add_argument("--aps", type=int, default=4, help="virtual access points of the pawr run")
    args = parser.parse_args()
    if args.radio == "pawr":
        with tempfile.TemporaryDirectory() as tmp:
            broker = Mosquitto(Path(tmp) / "broker").start()
            try:
                print(json.dumps({"pick": asyncio.run(pick_latency(Path(tmp), broker.port, args.orders, "pawr", args.aps))},
                                 indent=2, ensure_ascii=False))
            finally:
                broker.stop()
        return
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        broker = Mosquitto(workdir / "broker").start()
        try:
            out = {
                "pick": asyncio.run(pick_latency(workdir, broker.port, args.orders)),
                "refresh": {
                    "labels": args.refresh_labels, "time_scale": args.refresh_scale,
                    "note": "realistic cost per label (2 s connection, 30 ms GATT ops, 10 kB/s), scaled; ratio = radio limit / wall",
                    "runs": [asyncio.run(refresh(workdir, broker.port, args.refresh_labels, n, args.refresh_scale)) for n in (1, 4, 8)],
                },
                "memory": memory(workdir, broker.url, args.labels),
            }
        finally:
            broker.stop()
    print(json.dumps(out, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
