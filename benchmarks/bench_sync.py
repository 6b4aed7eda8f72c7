"""Sync link benchmark: outbox throughput vs raw paho, new writes with a backlog, command round trip, idle memory.

Run: .venv/bin/python benchmarks/bench_sync.py [--events 20000] [--pings 500] [--rounds 3] [--backlog 100000,300000]
Prints one JSON object. Everything runs on loopback against a private Mosquitto. Raw paho and the
outbox are measured alternately, `--rounds` times each; the figures are the medians (the ratio is
the median of each round's ratio), the rounds are listed too.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import sqlite3
import tempfile
import textwrap
import time
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from edge.app import App  # noqa: E402
from edge.config import parse_config  # noqa: E402
from edge.demo.broker import Mosquitto  # noqa: E402
from edge.demo.hq import Hq  # noqa: E402
from edge.store import Store  # noqa: E402
from tests.helpers.daemon import DaemonProcess, write_config  # noqa: E402

SUBSCRIBER = textwrap.dedent(
    """
    import sys, time, threading
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion
    port, topic, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    got = 0
    done = threading.Event()
    def on_message(c, u, m):
        global got
        got += 1
        if got >= n:
            done.set()
    def on_subscribe(c, u, mid, codes, props):
        print("ready", flush=True)
    c = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    c.on_message = on_message
    c.on_subscribe = on_subscribe
    c.connect("127.0.0.1", port)
    c.subscribe(topic, qos=1)
    c.loop_start()
    done.wait(600)
    print("done", time.time(), flush=True)
    """
)


def start_subscriber(port: int, topic: str, n: int) -> subprocess.Popen[str]:
    """A separate process counting QoS 1 deliveries, so it does not share our GIL."""
    proc = subprocess.Popen([sys.executable, "-c", SUBSCRIBER, str(port), topic, str(n)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def finish(proc: subprocess.Popen[str]) -> float:
    """Wall-clock time at which the subscriber had everything."""
    assert proc.stdout is not None
    line = proc.stdout.readline().split()
    proc.wait()
    return float(line[1])


def raw_paho(port: int, n: int) -> float:
    """Events/s with a bare paho client publishing QoS 1 as fast as it can (no durability)."""
    sub = start_subscriber(port, "bench/raw", n)
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.max_inflight_messages_set(200)
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", port)
    client.loop_start()
    payload = json.dumps({"id": "x" * 36, "seq": 1, "ts": "2026-11-25T08:30:00.123Z", "kind": "bench", "data": {"n": 1}})
    start = time.time()
    infos = [client.publish("bench/raw", payload, qos=1) for _ in range(n)]
    end = finish(sub)
    for info in infos[-10:]:
        info.wait_for_publish(10)
    client.disconnect()
    client.loop_stop()
    return n / (end - start)


async def through_outbox(port: int, n: int, workdir: Path) -> float:
    """Events/s from jobs (one store write per event, concurrently) through the durable outbox to a subscriber."""
    config = parse_config(
        {"store": {"id": "bench"}, "data": {"dir": str(workdir / "data")}, "broker": {"url": f"mqtt://127.0.0.1:{port}"},
         "http": {"enabled": False}, "log": {"level": "warning"}},
        env={},
    )
    app = await App.create(config)
    daemon = asyncio.create_task(app.run())
    while app.link.state != "connected":
        await asyncio.sleep(0.05)
    sub = start_subscriber(port, "store-edge/v1/bench/event/#", n)
    start = time.time()
    await asyncio.gather(*(app.store.write(lambda tx, i=i: tx.emit("bench", {"n": i})) for i in range(n)))
    end = await asyncio.to_thread(finish, sub)
    app.request_stop()
    await daemon
    return n / (end - start)


async def writes_with_backlog(workdir: Path, backlog: int, writes: int = 2000) -> float:
    """Writes/s of `writes` concurrent one-event writes while `backlog` events wait in the outbox (no link)."""
    path = workdir / f"backlog-{backlog}.db"
    Store(path).close()
    conn = sqlite3.connect(path)
    conn.executemany(
        "INSERT INTO outbox (id, kind, ts, data) VALUES (?, 'bench', '2026-11-25T08:30:00.123Z', '{\"n\":1}')",
        ((str(uuid.uuid4()),) for _ in range(backlog)),
    )
    conn.commit()
    conn.close()
    store = await asyncio.to_thread(Store, path)
    start = time.perf_counter()
    await asyncio.gather(*(store.write(lambda tx, i=i: tx.emit("bench", {"n": i})) for i in range(writes)))
    elapsed = time.perf_counter() - start
    await store.aclose()
    return writes / elapsed


def round_trips(port: int, pings: int, workdir: Path) -> dict[str, float]:
    """Command round trip (HQ publish → reply received) on loopback, daemon in its own process."""
    config = write_config(workdir / "rt.toml", "rt", workdir / "rt-data", f"mqtt://127.0.0.1:{port}", log={"level": "warning"})
    daemon = DaemonProcess(config, workdir / "rt.log").start()
    hq = Hq(port, "rt")
    hq.wait(lambda _: [s for s in hq.statuses() if s["state"] == "online"], 20)
    for _ in range(20):
        hq.request("ping", {})  # warm-up
    samples = []
    for _ in range(pings):
        t0 = time.perf_counter()
        hq.request("ping", {})
        samples.append((time.perf_counter() - t0) * 1000)
    time.sleep(10)  # idle before measuring memory
    assert daemon.proc is not None
    rss_kb = int(next(line for line in Path(f"/proc/{daemon.proc.pid}/status").read_text().splitlines() if line.startswith("VmRSS")).split()[1])
    hq.close()
    daemon.terminate()
    q = statistics.quantiles(samples, n=100)
    return {"p50_ms": round(q[49], 2), "p95_ms": round(q[94], 2), "max_ms": round(max(samples), 2), "idle_rss_mb": round(rss_kb / 1024, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--pings", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3, help="raw paho and outbox runs, alternately")
    parser.add_argument("--backlog", default="100000,300000", help="queued events to time new writes against (comma-separated)")
    args = parser.parse_args()
    backlogs = [int(n) for n in args.backlog.split(",") if n]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        broker = Mosquitto(work / "broker", persistent=False).start()
        rounds = []
        try:
            for number in range(args.rounds):
                raw = raw_paho(broker.port, args.events)
                outbox = asyncio.run(through_outbox(broker.port, args.events, work / f"round-{number}"))
                rounds.append({"raw": round(raw), "outbox": round(outbox), "ratio": round(outbox / raw, 2)})
            rt = round_trips(broker.port, args.pings, work)
        finally:
            broker.stop()
        empty = asyncio.run(writes_with_backlog(work, 0))
        slowdown = {str(n): round(empty / asyncio.run(writes_with_backlog(work, n)), 2) for n in backlogs}
    print(json.dumps({
        "events": args.events,
        "raw_paho_events_per_s": round(statistics.median(r["raw"] for r in rounds)),
        "outbox_events_per_s": round(statistics.median(r["outbox"] for r in rounds)),
        "outbox_to_raw_ratio": round(statistics.median(r["ratio"] for r in rounds), 2),
        "rounds": rounds,
        "new_writes_per_s_empty_outbox": round(empty),
        "new_write_slowdown_by_backlog": slowdown,
        "command_round_trip": rt,
    }, indent=2))


if __name__ == "__main__":
    main()
