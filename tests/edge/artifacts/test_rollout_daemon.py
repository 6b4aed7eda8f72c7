"""Artifact rollout end to end: a real daemon, a real Mosquitto, HQ sending chunks with paho, kill -9 mid-install and mid-activation."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path
from typing import Any

from edge.demo.hq import Hq
from edge.scale.recognition.model import (
    DEFAULT_GALLERY,
    DEFAULT_MODEL,
    FP32_GALLERY,
    FP32_MODEL,
)
from tests.conftest import wait_online
from tests.edge.artifacts.hq_side import Signer, chunks
from tests.edge.artifacts.test_produce_model import probe_set

REPO = Path(__file__).resolve().parents[3]
KIND = "produce-model"


class Watcher(threading.Thread):
    """Looks at artifacts/produce-model/ all the time: every version folder it ever sees must be whole."""

    def __init__(self, root: Path, sizes: dict[str, dict[str, int]]) -> None:
        super().__init__(daemon=True)
        self.root, self.sizes, self.problems, self.seen = root, sizes, [], set()
        self.done = threading.Event()

    def run(self) -> None:
        """Poll every 5 ms until told to stop."""
        while not self.done.is_set():
            for folder in (self.root.iterdir() if self.root.is_dir() else []):
                if folder.is_dir() and not folder.name.startswith("."):
                    self.seen.add(folder.name)
                    want = self.sizes.get(folder.name, {})
                    got = {p.name: p.stat().st_size for p in folder.iterdir() if p.name != "manifest.json"}
                    if got != want:
                        self.problems.append(f"{folder.name}: {got} != {want}")
            time.sleep(0.005)


def _send_all(hq: Hq, parts: list[dict[str, Any]]) -> dict[str, Any]:
    """Send chunks one by one (each answered before the next); the last reply."""
    reply: dict[str, Any] = {}
    for part in parts:
        reply = hq.request("artifact.chunk", part, timeout=30)
        assert reply["ok"], reply
    return reply


def _exit_status(daemon: Any, timeout: float = 20.0) -> int:
    """The daemon's exit status once it stopped by itself."""
    code = daemon.proc.wait(timeout)
    daemon.proc = None
    return int(code)


def _online(hq: Hq, births: int) -> int:
    """Wait for the daemon's `births`-th online status; returns `births`."""
    wait_online(hq, count=births, timeout=30)
    return births


def _ran(daemon: Any, since: int) -> str:
    """The model version the scale job started with, from the log after offset `since`."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = re.findall(r"event=scale.gallery.ready .*model=(\S+)", daemon.log()[since:])
        if found:
            return found[-1]
        time.sleep(0.1)
    raise AssertionError(daemon.log()[since:][-3000:])


def test_install_survives_kill_9_then_activates_and_a_broken_start_rolls_back(
    broker: Any, daemon_factory: Any, hq_factory: Any, tmp_path: Path,
) -> None:
    signer = Signer()
    files = {"model.onnx": FP32_MODEL.read_bytes(), "gallery.npz": FP32_GALLERY.read_bytes(), "probe.npz": probe_set()}
    daemon = daemon_factory(broker.url, artifacts={"public_keys": [str(signer.public_pem(tmp_path / "hq.pub"))]},
                            scale={"produce_file": str(REPO / "config/scale-produce.json"), "scales": []})
    data = daemon.config.parent / "d-data"
    watcher = Watcher(data / "artifacts" / KIND, {"v2-fp32": {n: len(b) for n, b in files.items()}})
    watcher.start()
    daemon.start()
    hq: Hq = hq_factory(broker.port)
    wait_online(hq)
    assert _ran(daemon, 0) == "produce-ensemble-v2-int8"  # what the scale job runs by default
    manifest = signer.install(KIND, "v2-fp32", files)
    opened = hq.request("artifact.install", manifest)
    assert opened["ok"], opened
    parts = list(chunks(KIND, "v2-fp32", files))
    assert sum(map(len, opened["result"]["missing"].values())) == len(parts) > 100
    _send_all(hq, parts[:60])
    hq.send("artifact.chunk", parts[60])
    daemon.kill()  # mid-install, maybe mid-chunk
    assert not (data / "artifacts" / KIND).exists() or not [p for p in (data / "artifacts" / KIND).iterdir() if p.is_dir()]

    mark = len(daemon.log())
    daemon.start()
    wait_online(hq, count=2)
    resumed = hq.request("artifact.install", manifest)
    missing = resumed["result"]["missing"]
    left = sum(map(len, missing.values()))
    assert resumed["result"]["state"] == "staging" and len(parts) - 61 <= left <= len(parts) - 60, missing
    last = _send_all(hq, list(chunks(KIND, "v2-fp32", files, missing)))
    assert last["result"]["state"] == "installed"
    hq.wait(lambda _: hq.events("artifact.installed"), timeout=10)
    listing = hq.request("artifact.list", {"kind": KIND})["result"]["kinds"][KIND]
    assert listing["active"] is None and [v["version"] for v in listing["versions"]] == ["v2-fp32"] and listing["installing"] == []

    on = hq.request("artifact.activate", {"kind": KIND, "version": "v2-fp32"}, timeout=40)
    assert on["ok"] and on["result"]["activated"] is True, on
    assert on["result"]["check"]["top1"] >= 28 and on["result"]["check"]["running_top1"] >= 28  # the same network twice
    assert _exit_status(daemon) == 75  # the controlled restart config.set uses
    mark = len(daemon.log())
    daemon.start()
    wait_online(hq, count=3)
    assert _ran(daemon, mark) == "produce-ensemble-v2-fp32"
    listing = hq.request("artifact.list", {"kind": KIND})["result"]["kinds"][KIND]
    assert (listing["active"], listing["previous"], listing["confirmed"]) == ("v2-fp32", None, True)
    daemon.terminate()
    watcher.done.set()
    watcher.join(5)
    assert watcher.problems == [] and watcher.seen == {"v2-fp32"}  # no version folder was ever seen part-written

    model = data / "artifacts" / KIND / "v2-fp32" / "model.onnx"
    model.write_bytes(model.read_bytes()[:4096])  # the installed model damaged on disk: that start must not run it
    mark = len(daemon.log())
    daemon.start()
    back = hq.wait(lambda _: hq.events("artifact.rolled_back"), timeout=30)[0]["data"]
    assert (back["kind"], back["from_version"], back["to_version"], back["reason"]) == (KIND, "v2-fp32", None, "start_failed")
    assert _ran(daemon, mark) == "produce-ensemble-v2-int8"
    assert hq.request("artifact.list", {})["result"]["kinds"][KIND]["active"] is None
    daemon.terminate()


def test_kill_9_during_activation_leaves_the_old_or_the_new_version_whole(
    broker: Any, daemon_factory: Any, hq_factory: Any, tmp_path: Path,
) -> None:
    signer = Signer()
    files = {"model.onnx": DEFAULT_MODEL.read_bytes(), "gallery.npz": DEFAULT_GALLERY.read_bytes(), "probe.npz": probe_set(16)}
    daemon = daemon_factory(broker.url, artifacts={"public_keys": [str(signer.public_pem(tmp_path / "hq.pub"))]},
                            scale={"produce_file": str(REPO / "config/scale-produce.json"), "scales": []})
    daemon.start()
    hq: Hq = hq_factory(broker.port)
    births = _online(hq, 1)
    for n, delay in enumerate((0.3, None)):  # killed during the self-check; killed after the reply, before the restart
        version = f"v2-int8-copy{n}"
        hq.request("artifact.install", signer.install(KIND, version, files))
        _send_all(hq, list(chunks(KIND, version, files)))
        before = hq.request("artifact.list", {"kind": KIND})["result"]["kinds"][KIND]["active"]
        if delay is None:
            assert hq.request("artifact.activate", {"kind": KIND, "version": version}, timeout=40)["result"]["activated"]
        else:
            hq.send("artifact.activate", {"kind": KIND, "version": version})
            time.sleep(delay)
        daemon.kill()
        mark = len(daemon.log())
        daemon.start()
        births = _online(hq, births + 1)
        listing = hq.request("artifact.list", {"kind": KIND})["result"]["kinds"][KIND]
        if not listing["confirmed"]:  # the broker redelivered the unanswered activate: it switched again and restarts
            assert _exit_status(daemon) == 75
            mark = len(daemon.log())
            daemon.start()
            births = _online(hq, births + 1)
            listing = hq.request("artifact.list", {"kind": KIND})["result"]["kinds"][KIND]
        ran = _ran(daemon, mark)
        assert listing["active"] in (before, version) and listing["confirmed"] is True
        assert ran == "produce-ensemble-v2-int8"  # both versions run the int8 model; the pointer is whole either way
        if delay is None:
            assert listing["active"] == version  # the reply came: the switch was durable before it
    daemon.terminate()
