"""Artifact rollout benchmark (issue 17 item 2): install, activate and roll back a produce model on a real daemon.

Why: headquarters ships a 35 MB fp32 model to hundreds of stores; this measures what one store takes to receive it
(one chunk in flight, as HQ's tests and the docs send it), to self-check it on `artifact.activate`, and how long the
controlled restart (exit 75, started again as systemd would) leaves the scale job before it runs the new version,
and the same for `artifact.rollback` back to the shipped int8 model.

Run: .venv/bin/python benchmarks/bench_artifacts.py [--rounds 3] [--probes 32]

One Mosquitto on loopback and one `store-edge run` daemon (the scale job with config/scale-produce.json and no
scales, `[artifacts] public_keys` = an Ed25519 key generated here, no web server). HQ is a paho client that signs
the manifest, sends `artifact.install`, then every `artifact.chunk` one at a time, each answered before the next
(the chunks are base64-encoded before the clock starts). Each round installs the same files under a fresh version
(`v2-fp32`, `v2-fp32-r2`, ...); the median is reported, with the CPU-seconds of the daemon, the broker and HQ.
Then `v2-fp32` is activated (reply time and the self-check's top-1 figures), the daemon's exit 75 is waited for,
it is started again and timed until its log says `scale.gallery.ready ... model=produce-ensemble-v2-fp32`; then
`artifact.rollback` and the same restart timing until `model=produce-ensemble-v2-int8`. Prints a table and one
JSON object. `exit -> confirmed` is when `artifact.list` first says `confirmed: true` (polled for 10 s; null if never).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import random
import re
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import tomli_w  # type: ignore[import-not-found]
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fleet_brokers import cpu_seconds
from paho.mqtt.enums import CallbackAPIVersion

from edge.demo.broker import Mosquitto
from edge.scale.artifacts import probe_npz
from edge.scale.recognition.model import FP32_GALLERY, FP32_MODEL
from tests.helpers.daemon import DaemonProcess

REPO = Path(__file__).resolve().parents[1]
DATASET = REPO / "../shared/datasets/grocerystore/test"
PREFIX = "store-edge/v1"
STORE = "bench-art"
KIND = "produce-model"
CHUNK = 256 * 1024  # docs/mqtt-api.md: every chunk but a file's last is 262,144 bytes
CONFIRM_WAIT_S = 10.0  # how long after the scale job is ready `artifact.list` is polled for `confirmed: true`
READY = re.compile(r"event=scale\.gallery\.ready .*model=(\S+)")


class Hq:
    """Headquarters: a paho client keeping replies by request id and the store's status (O(1) per message)."""

    def __init__(self, port: int) -> None:
        """Connect, subscribe to the store's replies and status, wait for the subscription."""
        self.cond = threading.Condition()
        self.replies: dict[str, dict[str, Any]] = {}
        self.online: list[float] = []  # when each `online` status came (one per daemon start; monotonic)
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"hq-art-{uuid.uuid4().hex[:6]}", protocol=mqtt.MQTTv5)
        self._client.on_message = self._on_message
        self._client.on_subscribe = lambda *_: self._on_subscribed()
        self._subscribed = False
        self._client.connect("127.0.0.1", port, keepalive=30)
        self._client.loop_start()
        self._client.subscribe([(f"{PREFIX}/{STORE}/reply/#", 1), (f"{PREFIX}/{STORE}/status", 1)])
        self.wait(lambda: self._subscribed, 10, "subscribed")

    def _on_subscribed(self) -> None:
        """The broker granted the subscription: requests may go."""
        with self.cond:
            self._subscribed = True
            self.cond.notify_all()

    def _on_message(self, client: Any, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        """Record a reply by id, or count an `online` status."""
        if not msg.payload:
            return
        body = json.loads(msg.payload)
        with self.cond:
            if msg.topic.endswith("/status"):
                if body.get("state") == "online":
                    self.online.append(time.monotonic())
            else:
                self.replies[str(body.get("id"))] = body
            self.cond.notify_all()

    def wait(self, ready: Any, timeout: float, what: str) -> Any:
        """Block until `ready()` (called under the lock) is truthy."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while not (found := ready()):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
                self.cond.wait(left)
            return found

    def request(self, name: str, args: dict[str, Any], timeout: float = 60.0) -> dict[str, Any]:
        """Publish one request (QoS 1) and wait for its reply; raise when it is not ok."""
        rid = uuid.uuid4().hex[:12]
        self._client.publish(f"{PREFIX}/{STORE}/cmd/{name}", json.dumps({"id": rid, **args}), qos=1)
        reply = self.wait(lambda: self.replies.pop(rid, None), timeout, f"reply to {name}")
        if not reply.get("ok"):
            raise RuntimeError(f"{name}: {reply}")
        return dict(reply["result"])

    def close(self) -> None:
        """Disconnect."""
        self._client.disconnect()
        self._client.loop_stop()


def probe_set(n: int, seed: int = 1) -> bytes:
    """A probe.npz of `n` test photos (not in the gallery), as HQ would ship it (as tests/edge/artifacts build it)."""
    files = sorted(DATASET.rglob("*.jpg"))
    random.Random(seed).shuffle(files)
    return probe_npz(files[:n])


def signed_install(key: Ed25519PrivateKey, version: str, files: dict[str, bytes]) -> dict[str, Any]:
    """The `artifact.install` arguments: the manifest and its Ed25519 signature over the canonical JSON."""
    manifest = {"kind": KIND, "version": version,
                "files": [{"name": n, "size": len(d), "sha256": hashlib.sha256(d).hexdigest()} for n, d in files.items()]}
    canonical = json.dumps(manifest, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    return {**manifest, "signature": base64.b64encode(key.sign(canonical)).decode()}


def chunk_args(version: str, files: dict[str, bytes]) -> list[dict[str, Any]]:
    """Every `artifact.chunk` of the files, base64-encoded."""
    return [{"kind": KIND, "version": version, "file": name, "index": i,
             "data": base64.b64encode(data[i * CHUNK:(i + 1) * CHUNK]).decode()}
            for name, data in files.items() for i in range(-(-len(data) // CHUNK))]


def write_config(workdir: Path, broker_url: str, public_key: Path) -> Path:
    """The daemon's config: the scale job with no scales, the artifact key, no web server."""
    doc = {
        "store": {"id": STORE},
        "data": {"dir": str(workdir / "data")},
        "broker": {"url": broker_url, "keepalive_s": 10, "reconnect_min_s": 0.2, "reconnect_max_s": 1.0},
        "http": {"enabled": False},
        "log": {"level": "info"},
        "scale": {"produce_file": str(REPO / "config/scale-produce.json"), "scales": []},
        "artifacts": {"public_keys": [str(public_key)]},
    }
    path = workdir / "store.toml"
    path.write_text(tomli_w.dumps(doc))
    return path


def ran_model(daemon: DaemonProcess, since: int, timeout: float = 60.0) -> tuple[str, float]:
    """The model the scale job started with (log after offset `since`) and when the line was seen (monotonic)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = READY.findall(daemon.log()[since:])
        if found:
            return found[-1], time.monotonic()
        time.sleep(0.01)
    raise TimeoutError(daemon.log()[since:][-2000:])


def restart(daemon: DaemonProcess, hq: Hq, asked_at: float) -> dict[str, Any]:
    """Wait for exit 75 after a switch was answered at `asked_at`, start again, time it until the scale job is ready."""
    assert daemon.proc is not None
    code = daemon.proc.wait(30)
    exited = time.monotonic()
    daemon.proc = None
    if code != 75:
        raise RuntimeError(f"daemon exited with {code}, not 75: {daemon.log()[-2000:]}")
    births = len(hq.online)
    mark = len(daemon.log())
    daemon.start()
    model, ready = ran_model(daemon, mark)
    online = hq.wait(lambda: hq.online[births:], 30, "online after restart")[0]
    confirmed = None
    while confirmed is None and time.monotonic() < ready + CONFIRM_WAIT_S:
        if hq.request("artifact.list", {"kind": KIND})["kinds"][KIND]["confirmed"]:
            confirmed = round(time.monotonic() - exited, 3)
        else:
            time.sleep(0.05)
    return {"reply_to_exit_s": round(exited - asked_at, 3), "exit_to_ready_s": round(ready - exited, 3),
            "exit_to_online_s": round(online - exited, 3), "exit_to_confirmed_s": confirmed, "model": model}


def fsync_floor(folder: Path, chunks: int) -> float:
    """Milliseconds per chunk to write and fsync `chunks` chunks of 256 KiB into one file here: the disk's share of a chunk."""
    piece = bytes(CHUNK)
    started = time.monotonic()
    with open(folder / "fsync-probe", "wb") as out:
        for _ in range(chunks):
            out.write(piece)
            out.flush()
            os.fsync(out.fileno())
    (folder / "fsync-probe").unlink()
    return round((time.monotonic() - started) * 1000 / chunks, 2)


def install(hq: Hq, key: Ed25519PrivateKey, version: str, files: dict[str, bytes], pids: list[int]) -> dict[str, Any]:
    """One install, one chunk in flight: wall time, rate, and CPU-seconds of daemon, broker and HQ during it."""
    parts = chunk_args(version, files)
    args = signed_install(key, version, files)
    cpu_before = [cpu_seconds(p) for p in pids] + [time.process_time()]
    started = time.monotonic()
    opened = hq.request("artifact.install", args)
    open_s = time.monotonic() - started
    if sum(map(len, opened["missing"].values())) != len(parts):
        raise RuntimeError(f"{version}: the store asks for other chunks: {opened}")
    last: dict[str, Any] = {}
    for part in parts:
        last = hq.request("artifact.chunk", part)
    wall = time.monotonic() - started
    cpu_after = [cpu_seconds(p) for p in pids] + [time.process_time()]
    if last.get("state") != "installed":
        raise RuntimeError(f"{version}: not installed after the last chunk: {last}")
    total = sum(map(len, files.values()))
    daemon_cpu, broker_cpu, hq_cpu = (round(b - a, 2) for a, b in zip(cpu_before, cpu_after, strict=True))
    return {"version": version, "wall_s": round(wall, 3), "open_s": round(open_s, 3), "mb_s": round(total / 1e6 / wall, 1),
            "ms_per_chunk": round(wall * 1000 / len(parts), 1),
            "cpu_s": {"daemon": daemon_cpu, "broker": broker_cpu, "hq": hq_cpu}}


def main() -> None:
    """Run the rounds, the activation and the rollback; print the table and the JSON object."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="installs of the same files under fresh versions (median reported)")
    parser.add_argument("--probes", type=int, default=32, help="photos in probe.npz (1-64)")
    opts = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="bench-artifacts-"))
    key = Ed25519PrivateKey.generate()
    public = workdir / "hq.pub"
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    files = {"model.onnx": FP32_MODEL.read_bytes(), "gallery.npz": FP32_GALLERY.read_bytes(), "probe.npz": probe_set(opts.probes)}
    total = sum(map(len, files.values()))
    chunks = sum(-(-len(d) // CHUNK) for d in files.values())
    broker = Mosquitto(workdir / "mosquitto")
    daemon = DaemonProcess(write_config(workdir, broker.url, public), workdir / "daemon.log")  # the port is chosen already
    hq: Hq | None = None
    try:
        broker.start()
        daemon.start()
        hq = Hq(broker.port)
        first, _ = ran_model(daemon, 0)
        hq.wait(lambda: hq.online, 30, "online")
        assert broker.process is not None and daemon.proc is not None
        pids = [daemon.proc.pid, broker.process.pid]
        disk_ms = fsync_floor(workdir, chunks)
        rounds = [install(hq, key, "v2-fp32" if n == 0 else f"v2-fp32-r{n + 1}", files, pids) for n in range(opts.rounds)]

        asked = time.monotonic()
        on = hq.request("artifact.activate", {"kind": KIND, "version": "v2-fp32"}, timeout=120)
        answered = time.monotonic()
        if not on.get("activated"):
            raise RuntimeError(f"activate: {on}")
        check = on["check"]
        activate = {"reply_s": round(answered - asked, 3), "top1": check["top1"], "running_top1": check["running_top1"],
                    "probes": check["probes"], "store_probes": check.get("store_probes"), **restart(daemon, hq, answered)}

        asked = time.monotonic()
        back = hq.request("artifact.rollback", {"kind": KIND}, timeout=60)
        answered = time.monotonic()
        rollback = {"reply_s": round(answered - asked, 3), "to_version": back.get("to_version"), **restart(daemon, hq, answered)}
        listing = hq.request("artifact.list", {"kind": KIND})["kinds"][KIND]
        daemon.terminate()
    finally:
        if hq is not None:
            hq.close()
        if daemon.proc is not None:
            daemon.kill()
        broker.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    med = {k: statistics.median(r[k] for r in rounds) for k in ("wall_s", "mb_s", "ms_per_chunk", "open_s")}
    med_cpu = {k: statistics.median(r["cpu_s"][k] for r in rounds) for k in ("daemon", "broker", "hq")}
    print(f"artifact: {total:,} bytes ({', '.join(f'{n} {len(d):,}' for n, d in files.items())}), {chunks} chunks of 256 KiB")
    print(f"{'round':<12}{'install s':>10}{'MB/s':>7}{'ms/chunk':>10}{'open s':>8}{'CPU s daemon/broker/hq':>24}")
    for r in rounds:
        cpu = r["cpu_s"]
        print(f"{r['version']:<12}{r['wall_s']:>10.2f}{r['mb_s']:>7.1f}{r['ms_per_chunk']:>10.1f}{r['open_s']:>8.3f}"
              f"{cpu['daemon']:>10.2f}/{cpu['broker']:.2f}/{cpu['hq']:.2f}")
    print(f"{'median':<12}{med['wall_s']:>10.2f}{med['mb_s']:>7.1f}{med['ms_per_chunk']:>10.1f}{med['open_s']:>8.3f}"
          f"{med_cpu['daemon']:>10.2f}/{med_cpu['broker']:.2f}/{med_cpu['hq']:.2f}")
    print(f"write + fsync of one 256 KiB chunk in the same folder, alone: {disk_ms} ms")
    print(f"first start ran {first}")
    print(f"activate v2-fp32: reply {activate['reply_s']:.2f} s (self-check top1 {activate['top1']} vs running_top1 "
          f"{activate['running_top1']} on {activate['probes']} probes), exit 75 {activate['reply_to_exit_s']:.2f} s after it, "
          f"exit -> ready {activate['exit_to_ready_s']:.2f} s ({activate['model']}), exit -> online {activate['exit_to_online_s']:.2f} s, "
          f"exit -> confirmed {activate['exit_to_confirmed_s']} s")
    print(f"rollback: reply {rollback['reply_s']:.3f} s, exit 75 {rollback['reply_to_exit_s']:.2f} s after it, "
          f"exit -> ready {rollback['exit_to_ready_s']:.2f} s ({rollback['model']}), exit -> online {rollback['exit_to_online_s']:.2f} s, "
          f"exit -> confirmed {rollback['exit_to_confirmed_s']} s")
    print(json.dumps({"bytes": total, "files": {n: len(d) for n, d in files.items()}, "chunks": chunks, "fsync_ms_per_chunk": disk_ms, "rounds": rounds,
                      "install_median": {**med, "cpu_s": med_cpu}, "first_model": first, "activate": activate,
                      "rollback": rollback, "after": {k: listing[k] for k in ("active", "previous", "confirmed")}}))
    if activate["model"] != "produce-ensemble-v2-fp32" or rollback["model"] != first:
        sys.exit("the restarts did not run the expected models")


if __name__ == "__main__":
    main()
