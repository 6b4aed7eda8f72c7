"""Fleet benchmark (issue 17 item 7): many real daemons against one broker, and HQ sending one price batch to all.

Why: headquarters runs hundreds of stores through one broker; this measures what the fleet costs and what
grows with the store count, on one machine, with every store a real `store-edge run` process (sync,
catalogue and a small simulated label set each, in reduced-memory settings).

Run: .venv/bin/python benchmarks/bench_fleet.py [--ramp 10,50,100] [--labels 8] [--idle-s 30] [--broker mosquitto]
     .venv/bin/python benchmarks/bench_fleet.py --study [--study-daemons 4]   (what each reduced-memory setting saves)

The ramp grows one fleet: at each step it starts the stores missing (in parallel batches of --batch,
each batch waited for until online), waits until every label showed its first image, measures idle CPU
over --idle-s, then HQ (a paho client subscribed to every store's replies, events and status with a
persistent session) sends one `price.update` of every product (new prices) to every store and times
every reply `ok` and every label's `label.updated` with the new price. A second batch follows with the
broker disturbed when half the stores have acknowledged (Mosquitto: SIGTERM, then a new process on the
same port reading its persistence file): every store must still acknowledge and every label report, and
the extra time is the difference. At the end HQ checks every store's events by seq (duplicates, gaps)
and asks each store's `price.history` whether any batch was applied twice. Prints a table per step and
one JSON object. A step that does not complete in its time limit stops the ramp and says what broke.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import tomli_w  # type: ignore[import-not-found]
from fleet_brokers import FleetBroker, cpu_seconds, make_broker, pss_kb
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge.esl.prices.demo_store import catalogue
from tests.helpers.daemon import DaemonProcess

PREFIX = "store-edge/v1"
#: The reduced-memory settings the fleet runs with (chosen with --study; BENCHMARKS.md gives the figures).
LEAN_ENV = {"MALLOC_ARENA_MAX": "2", "OPENBLAS_NUM_THREADS": "1"}
SEED = 1  # the demo catalogue's seed: every store has the same products at the same first prices


class Broke(Exception):
    """A step did not complete: the ramp stops here and the report says what broke."""


@dataclass
class StoreSeen:
    """What HQ has received from one store."""

    online: bool = False
    online_at: float = 0.0  # when HQ last heard `online` (every connect publishes it)
    event_ids: set[str] = field(default_factory=set)
    seqs: list[int] = field(default_factory=list)
    duplicates: int = 0
    labels: dict[str, tuple[str, float]] = field(default_factory=dict)  # label -> (price shown, when HQ heard it)
    replies: dict[str, list[tuple[float, bool]]] = field(default_factory=lambda: defaultdict(list))
    results: dict[str, Any] = field(default_factory=dict)  # request id -> the first reply's result


class FleetHq:
    """Headquarters: one paho client subscribed to every store's status, replies and events (persistent session)."""

    def __init__(self, port: int, protocol: str) -> None:
        """Connect and subscribe; messages are recorded on paho's thread under one condition."""
        self.cond = threading.Condition()
        self.stores: dict[str, StoreSeen] = defaultdict(StoreSeen)
        self.event_times: list[float] = []
        self._subscribed = False
        v5 = protocol == "5"
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="hq-fleet-bench",
                                   protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311, clean_session=None if v5 else False)
        self._client.on_message = self._on_message
        self._client.on_connect = self._on_connect
        self._client.reconnect_delay_set(0.1, 1.0)
        self._client.max_queued_messages_set(0)
        if v5:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = 3600  # nothing is missed across the broker restart
            self._client.connect("127.0.0.1", port, keepalive=30, clean_start=False, properties=props)
        else:
            self._client.connect("127.0.0.1", port, keepalive=30)
        self._client.loop_start()
        self.wait(lambda: self._subscribed, 10, "HQ subscribed")

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        """(Re)subscribe on every connect: harmless on a kept session, needed on a lost one."""
        client.subscribe([(f"{PREFIX}/+/status", 1), (f"{PREFIX}/+/reply/#", 1), (f"{PREFIX}/+/event/#", 1)])
        with self.cond:
            self._subscribed = True
            self.cond.notify_all()

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        """Record one message: status, a reply by request id, or an event by id and seq."""
        now = time.monotonic()
        parts = msg.topic.split("/")
        if len(parts) < 4 or not msg.payload:
            return
        store_id, kind = parts[2], parts[3]
        body = json.loads(msg.payload)
        with self.cond:
            seen = self.stores[store_id]
            if kind == "status":
                seen.online = body.get("state") == "online"
                if seen.online:
                    seen.online_at = now
            elif kind == "reply":
                seen.replies[body.get("id")].append((now, bool(body.get("ok"))))
                seen.results.setdefault(body.get("id"), body.get("result") or body.get("error"))
            elif kind == "event":
                if body["id"] in seen.event_ids:
                    seen.duplicates += 1
                else:
                    seen.event_ids.add(body["id"])
                    seen.seqs.append(int(body["seq"]))
                    self.event_times.append(now)
                    if body["kind"] == "label.updated":
                        seen.labels[body["data"]["label"]] = (body["data"]["price"], now)
            self.cond.notify_all()

    def send(self, store_id: str, name: str, body: dict[str, Any]) -> mqtt.MQTTMessageInfo:
        """Publish one request (QoS 1); the caller waits for the PUBACKs of a whole batch."""
        return self._client.publish(f"{PREFIX}/{store_id}/cmd/{name}", json.dumps(body), qos=1)

    def wait(self, ready: Callable[[], Any], timeout: float, what: str, check: Callable[[], None] | None = None) -> Any:
        """Block until `ready()` (called under the lock) is truthy; `check` may raise Broke meanwhile (a daemon died)."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                found = ready()
                if found:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    raise Broke(f"timed out after {timeout:.0f} s waiting for {what}")
                self.cond.wait(min(left, 1.0))
                if check is not None:
                    check()

    def cpu_s(self) -> float:
        """This process's CPU-seconds (HQ's paho thread and the benchmark's bookkeeping)."""
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    def close(self) -> None:
        """Disconnect."""
        self._client.disconnect()
        self._client.loop_stop()


def daemon_config(path: Path, store_id: str, data_dir: Path, broker: dict[str, object], labels: int, lean: bool) -> Path:
    """One store's config: sync, catalogue, the simulated label fleet bound to `labels` demo products; no scale, no screen."""
    doc: dict[str, Any] = {
        "store": {"id": store_id},
        "data": {"dir": str(data_dir)},
        "broker": {**broker, "keepalive_s": 30, "reconnect_min_s": 0.5, "reconnect_max_s": 10},
        "http": {"enabled": False} if lean else {"listen": "127.0.0.1:0"},
        "log": {"level": "warning" if lean else "info"},
        "esl": {"backend": "simulated", "simulated": {"labels": labels, "seed": SEED, "time_scale": 0.01},
                "demo_store": {"enabled": True, "products": labels, "seed": SEED}},
    }
    path.write_text(tomli_w.dumps(doc))
    return path


class Fleet:
    """The daemons of one run, each with its own data dir, config and log."""

    def __init__(self, workdir: Path, broker: FleetBroker, labels: int, env: dict[str, str], lean: bool = True) -> None:
        """Nothing runs until `add`."""
        self.workdir = workdir
        self.broker = broker
        self.labels = labels
        self.env = env
        self.lean = lean
        self.daemons: dict[str, DaemonProcess] = {}

    def add(self, store_ids: list[str]) -> None:
        """Start these stores (returns at once)."""
        for store_id in store_ids:
            index = len(self.daemons)
            config = daemon_config(self.workdir / f"{store_id}.toml", store_id, self.workdir / store_id,
                                   {**self.broker.broker_section(index), "protocol": self.broker.protocol}, self.labels, self.lean)
            self.daemons[store_id] = DaemonProcess(config, self.workdir / f"{store_id}.log", self.env).start()

    def check_alive(self) -> None:
        """Raise Broke naming the first daemon that exited, with the end of its log."""
        for store_id, daemon in self.daemons.items():
            if daemon.proc is not None and daemon.proc.poll() is not None:
                raise Broke(f"{store_id} exited with {daemon.proc.returncode}: {daemon.log()[-600:]}")

    def pids(self) -> list[int]:
        """Every running daemon's pid."""
        return [d.proc.pid for d in self.daemons.values() if d.proc is not None]

    def cpu_s(self) -> float:
        """CPU-seconds of every daemon so far."""
        return sum(cpu_seconds(pid) for pid in self.pids())

    def memory(self) -> dict[str, float]:
        """PSS per daemon (mean, max) and its anonymous part, in MB; threads of the first daemon."""
        found = [pss_kb(pid) for pid in self.pids()]
        pss = [m["pss"] / 1024 for m in found]
        first = self.pids()[0]
        return {"pss_mb_mean": round(sum(pss) / len(pss), 1), "pss_mb_max": round(max(pss), 1),
                "anon_mb_mean": round(sum(m["anon"] for m in found) / 1024 / len(found), 1),
                "rss_mb_mean": round(sum(m["rss"] for m in found) / 1024 / len(found), 1),
                "pss_mb_sum": round(sum(pss), 1), "threads": len(os.listdir(f"/proc/{first}/task"))}

    def stop(self) -> dict[str, Any]:
        """SIGTERM every daemon at once and wait for all (SIGKILL after 30 s); the wall time and who did not exit 0."""
        started = time.monotonic()
        running = {s: d for s, d in self.daemons.items() if d.proc is not None}
        for daemon in running.values():
            daemon.proc.terminate()  # type: ignore[union-attr]
        unclean = {}
        for store_id, daemon in running.items():
            try:
                code = daemon.proc.wait(max(1.0, 30 - (time.monotonic() - started)))  # type: ignore[union-attr]
            except subprocess.TimeoutExpired:
                daemon.kill()
                code = "killed"
            if code != 0:
                unclean[store_id] = code
            daemon.proc = None
        return {"stop_s": round(time.monotonic() - started, 1), "unclean": unclean}


def store_ids(start: int, stop: int) -> list[str]:
    """s000, s001, ..."""
    return [f"s{n:03d}" for n in range(start, stop)]


def start_stores(hq: FleetHq, fleet: Fleet, new: list[str], batch: int) -> dict[str, float]:
    """Start `new` in parallel batches (each waited for until online), then wait until every label showed its first image."""
    started, cpu0 = time.monotonic(), fleet.cpu_s()
    for first in range(0, len(new), batch):
        part = new[first:first + batch]
        fleet.add(part)
        hq.wait(lambda part=part: all(hq.stores[s].online for s in part), 60 + 3 * len(part), f"stores {part[0]}..{part[-1]} online",
                fleet.check_alive)
    online = time.monotonic() - started
    hq.wait(lambda: all(len(hq.stores[s].labels) >= fleet.labels for s in new), 60 + 2 * len(new),
            "every label's first image", fleet.check_alive)
    return {"online_s": round(online, 1), "ready_s": round(time.monotonic() - started, 1),
            "cpu_s_per_new_daemon": round((fleet.cpu_s() - cpu0) / len(new), 2)}


def room_for(daemons: int, mb_each: float, reserve_gb: float) -> float:
    """Raise Broke unless `daemons` more daemons of `mb_each` MB leave `reserve_gb` free (the machine is shared); returns GiB available now."""
    meminfo = Path("/proc/meminfo").read_text()
    available_gb = int(re.search(r"^MemAvailable:\s+(\d+) kB", meminfo, re.MULTILINE).group(1)) / 2**20  # type: ignore[union-attr]
    needed_gb = daemons * mb_each * 1.2 / 1024
    if available_gb - needed_gb < reserve_gb:
        raise Broke(f"memory: {daemons} more daemons need about {needed_gb:.1f} GiB and {available_gb:.1f} GiB is available, "
                    f"less the {reserve_gb} GiB kept for the rest of the machine (--reserve-gb)")
    return round(available_gb, 1)


def idle_cpu(fleet: Fleet, broker: FleetBroker, seconds: float) -> dict[str, float]:
    """CPU of the whole fleet and of the broker while nothing is asked of them, as % of one core."""
    daemons0, broker0, t0 = fleet.cpu_s(), broker.cpu_s(), time.monotonic()
    time.sleep(seconds)
    wall = time.monotonic() - t0
    n = len(fleet.pids())
    used = fleet.cpu_s() - daemons0
    return {"idle_pct_core_per_daemon": round(100 * used / wall / n, 2), "idle_pct_core_fleet": round(100 * used / wall, 1),
            "idle_pct_core_broker": round(100 * (broker.cpu_s() - broker0) / wall, 2)}


def new_prices(batch: int, labels: int) -> dict[str, str]:
    """Batch k's prices: every demo product's first price plus k x 1.11 yuan (so each batch changes every label)."""
    return {item["sku"]: f"{Decimal(item['price']) + batch * Decimal('1.11'):.2f}" for item in catalogue(labels, SEED)}


def price_batch(hq: FleetHq, fleet: Fleet, broker: FleetBroker, stores: list[str], batch: int, disturb: bool) -> dict[str, Any]:
    """Send one price.update to every store; time every ack and every label showing its new price."""
    prices = new_prices(batch, fleet.labels)
    items = [{"sku": sku, "price": price} for sku, price in prices.items()]
    wanted = set(prices.values())
    rid = {s: f"pu{batch}-{s}" for s in stores}
    with hq.cond:
        events0 = len(hq.event_times)
    cpu0, broker0, hq0, t0 = fleet.cpu_s(), broker.cpu_s(), hq.cpu_s(), time.monotonic()
    infos = [hq.send(s, "price.update", {"id": rid[s], "sender": "hq-fleet-bench", "items": items}) for s in stores]
    for info in infos:
        info.wait_for_publish(30)
    sent = time.monotonic() - t0

    def acked() -> list[str]:
        return [s for s in stores if hq.stores[s].replies.get(rid[s])]

    fault: dict[str, float] = {}
    if disturb:
        hq.wait(lambda: len(acked()) >= len(stores) / 2, 60 + len(stores), "half the acks", fleet.check_alive)
        with hq.cond:
            fault["acked_before"] = len(acked())
        fault |= broker.disturb()
        disturbed = time.monotonic()
    limit = 90 + 2 * len(stores)
    hq.wait(lambda: len(acked()) == len(stores), limit, "every store's ack", fleet.check_alive)
    refused = [s for s in stores if not hq.stores[s].replies[rid[s]][0][1]]
    if refused:
        raise Broke(f"price.update refused by {refused[:5]}: {hq.stores[refused[0]].results.get(rid[refused[0]])}")
    hq.wait(lambda: all(sum(p in wanted for p, _ in hq.stores[s].labels.values()) >= fleet.labels for s in stores),
            limit, "every label's new price", fleet.check_alive)
    with hq.cond:
        ack_s = max(hq.stores[s].replies[rid[s]][0][0] for s in stores) - t0
        label_s = max(t for s in stores for _, t in hq.stores[s].labels.values()) - t0
        events = len(hq.event_times) - events0
        repeated_replies = sum(len(hq.stores[s].replies[rid[s]]) - 1 for s in stores)
        if disturb:  # the stores that connected again after the fault (all of them on one broker), and the last one's delay
            back = [hq.stores[s].online_at - disturbed for s in stores if hq.stores[s].online_at > disturbed]
            fault |= {"reconnected": len(back), "last_reconnect_s": round(max(back), 2) if back else None}
    return {"ack_s": round(ack_s, 2), "labels_s": round(label_s, 2), "sent_s": round(sent, 2), "events": events,
            "events_per_s": round(events / label_s), "daemon_cpu_s": round(fleet.cpu_s() - cpu0, 1),
            "broker_cpu_s": round(broker.cpu_s() - broker0, 2), "hq_cpu_s": round(hq.cpu_s() - hq0, 2),
            "repeated_replies": repeated_replies, **({"fault": fault} if fault else {})}


def audit(hq: FleetHq, stores: list[str], batches: dict[str, list[int]], labels: int) -> dict[str, Any]:
    """Every store's events by seq (repeats, gaps) and, from price.history, whether any batch was applied twice."""
    sku = catalogue(labels, SEED)[0]["sku"]
    for s in stores:
        hq.send(s, "price.history", {"id": f"ph-{s}", "sku": sku, "limit": 100})
    hq.wait(lambda: all(f"ph-{s}" in hq.stores[s].results for s in stores), 60 + len(stores), "price.history replies")
    twice, missing_batches, gaps, duplicates = [], [], {}, 0
    with hq.cond:
        for s in stores:
            seen = hq.stores[s]
            result = seen.results[f"ph-{s}"]
            applied = [iv.get("request_id") for iv in result.get("intervals", [])]
            for batch in batches[s]:
                count = applied.count(f"pu{batch}-{s}")
                if count > 1:
                    twice.append(f"{s}: pu{batch} x{count}")
                if count == 0:
                    missing_batches.append(f"{s}: pu{batch}")
            ordered = sorted(seen.seqs)
            lost = (ordered[-1] - ordered[0] + 1 - len(ordered)) if ordered else 0
            if lost or (ordered and ordered[0] != 1):
                gaps[s] = {"first": ordered[0], "last": ordered[-1], "missing": lost}
            duplicates += seen.duplicates
    return {"stores": len(stores), "events_unique": sum(len(hq.stores[s].seqs) for s in stores), "events_repeated": duplicates,
            "seq_gaps": gaps, "applied_twice": twice, "batches_not_in_history": missing_batches}


def ramp(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Grow one fleet step by step; at each step: start, idle, a price batch, a price batch with the broker disturbed, memory."""
    broker = make_broker(args.broker, work)
    broker.start()
    hq = FleetHq(broker.hq_port(), broker.protocol)
    fleet = Fleet(work, broker, args.labels, LEAN_ENV)
    steps: list[dict[str, Any]] = []
    batches: dict[str, list[int]] = defaultdict(list)
    broke: str | None = None
    batch = 0
    try:
        for n in args.ramp:
            step: dict[str, Any] = {"stores": n}
            steps.append(step)
            try:
                new = store_ids(len(fleet.daemons), n)
                step["host_available_gb"] = room_for(len(new), steps[-2]["memory"]["pss_mb_mean"] if len(steps) > 1 else 80.0,
                                                     args.reserve_gb)
                step["start"] = start_stores(hq, fleet, new, args.batch)
                step["idle"] = idle_cpu(fleet, broker, args.idle_s)
                stores = list(fleet.daemons)
                for phase, disturb in (("batch", False), ("with_fault", True)):
                    batch += 1
                    for s in stores:
                        batches[s].append(batch)
                    step[phase] = price_batch(hq, fleet, broker, stores, batch, disturb)
                broker.recover()
                step["fault_extra_s"] = round(step["with_fault"]["labels_s"] - step["batch"]["labels_s"], 2)
                step["memory"] = fleet.memory()
                step["memory"]["broker_pss_mb"] = round(sum(pss_kb(p)["pss"] for p in broker.pids()) / 1024, 1)
                step["memory"]["hq_pss_mb"] = round(pss_kb(os.getpid())["pss"] / 1024, 1)
                step["memory"]["total_mb"] = round(step["memory"]["pss_mb_sum"] + step["memory"]["broker_pss_mb"]
                                                   + step["memory"]["hq_pss_mb"], 1)
                print_step(step, broker.name)
            except Broke as err:
                broke = f"{n} stores: {err}"
                step["broke"] = str(err)
                print(f"broke at {n} stores: {err}", flush=True)
                break
        try:
            checked = audit(hq, list(fleet.daemons), batches, args.labels) if fleet.daemons else {}
        except Broke as err:
            checked = {"broke": str(err)}
    finally:
        stopped = fleet.stop()
        hq.close()
        broker.stop()
    return {"broker": broker.name, "protocol": broker.protocol, "labels_per_store": args.labels, "lean_env": LEAN_ENV,
            "steps": steps, "audit": checked, "stop": stopped, "broke": broke}


COLUMNS = ("stores", "online s", "ready s", "start CPU-s/d", "idle %core/d", "idle %core broker", "ack s", "labels s", "events/s",
           "batch CPU-s fleet", "broker CPU-s", "fault ack s", "fault labels s", "fault extra s", "PSS MB/d", "anon MB/d", "total MB")


def print_step(step: dict[str, Any], broker: str) -> None:
    """One row of the table (the header before the first)."""
    if step["stores"] == STEPS_PRINTED[0]:
        print(f"fleet on {broker}:", flush=True)
        print(" | ".join(COLUMNS), flush=True)
    s, i, b, f, m = step["start"], step["idle"], step["batch"], step["with_fault"], step["memory"]
    row = (step["stores"], s["online_s"], s["ready_s"], s["cpu_s_per_new_daemon"], i["idle_pct_core_per_daemon"],
           i["idle_pct_core_broker"], b["ack_s"], b["labels_s"], b["events_per_s"], b["daemon_cpu_s"], b["broker_cpu_s"],
           f["ack_s"], f["labels_s"], step["fault_extra_s"], m["pss_mb_mean"], m["anon_mb_mean"], m["total_mb"])
    print(" | ".join(str(v) for v in row), flush=True)


STEPS_PRINTED: list[int] = [0]

#: --study: the settings tried one after another (each adds to the one before).
VARIANTS: tuple[tuple[str, bool, dict[str, str]], ...] = (
    ("as shipped (web server on, log info)", False, {}),
    ("+ [http] enabled = false, [log] level = warning", True, {}),
    ("+ MALLOC_ARENA_MAX=2", True, {"MALLOC_ARENA_MAX": "2"}),
    ("+ OPENBLAS_NUM_THREADS=1", True, LEAN_ENV),
)


def study(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Start --study-daemons daemons under each setting; their PSS, anonymous memory and threads once ready and idle."""
    broker = make_broker(args.broker, work)
    broker.start()
    hq = FleetHq(broker.hq_port(), broker.protocol)
    rows = []
    try:
        for number, (name, lean, env) in enumerate(VARIANTS):
            fleet = Fleet(work / f"v{number}", broker, args.labels, env, lean)
            fleet.workdir.mkdir()
            try:
                ids = [f"v{number}s{k}" for k in range(args.study_daemons)]
                start = start_stores(hq, fleet, ids, args.study_daemons)
                time.sleep(5)
                rows.append({"settings": name, **fleet.memory(), "cpu_s_per_daemon": start["cpu_s_per_new_daemon"]})
            finally:
                fleet.stop()
            print(f"{name}: {rows[-1]}", flush=True)
    finally:
        hq.close()
        broker.stop()
    return {"study": rows, "daemons_per_setting": args.study_daemons}


def main() -> None:
    """Parse the options, run the ramp (or the settings study) in a temporary folder, print the JSON."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ramp", default="10,50,100", help="store counts, comma-separated, growing (default 10,50,100)")
    parser.add_argument("--labels", type=int, default=8, help="simulated labels (and demo products) per store")
    parser.add_argument("--batch", type=int, default=10, help="daemons started at once")
    parser.add_argument("--idle-s", type=float, default=30.0, help="idle CPU measured over this long at each step")
    parser.add_argument("--broker", default="mosquitto", choices=("mosquitto", "rabbitmq"))
    parser.add_argument("--reserve-gb", type=float, default=4.0, help="stop the ramp rather than leave less memory than this")
    parser.add_argument("--study", action="store_true", help="measure the reduced-memory settings instead of the ramp")
    parser.add_argument("--study-daemons", type=int, default=4)
    parser.add_argument("--keep", action="store_true", help="keep the work folder (daemon logs) and print its path")
    args = parser.parse_args()
    args.ramp = [int(n) for n in args.ramp.split(",") if n]
    if args.ramp != sorted(set(args.ramp)) or args.ramp[0] < 1:
        parser.error("--ramp: growing store counts, at least 1")
    STEPS_PRINTED[0] = args.ramp[0]
    work = Path(tempfile.mkdtemp(prefix="bench-fleet-"))
    try:
        started = time.monotonic()
        result = study(args, work) if args.study else ramp(args, work)
        result["wall_s"] = round(time.monotonic() - started, 1)
        result["host"] = {"cores": os.cpu_count(), "mem_gb": round(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**30, 1)}
        print(json.dumps(result, indent=2, ensure_ascii=False))
    finally:
        if args.keep:
            print(f"work folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
