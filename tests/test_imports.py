"""An idle daemon imports only what its configured jobs need: a heavy library loaded for nothing costs resident memory."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from tests.helpers.daemon import REPO, write_config

# What the jobs use and the core never does: graph search (esl maps), OpenCV and ONNX (scale, screen), Pillow (labels).
HEAVY = ("networkx", "cv2", "onnxruntime", "PIL")

# `store-edge run` exactly as the console script runs it, writing the names of its modules when it exits.
PROBE = textwrap.dedent(
    """
    import atexit, json, sys
    from edge.cli import main
    out, config = sys.argv[1:3]
    atexit.register(lambda: open(out, "w").write(json.dumps(sorted(sys.modules))))
    sys.exit(main(["run", "--config", config]))
    """
)


def _modules_of_a_daemon(tmp_path: Path, broker_url: str, **sections: object) -> set[str]:
    """Start the daemon (no job tables unless given), wait until it is ready, stop it cleanly and return its sys.modules."""
    config = write_config(tmp_path / "store.toml", "s1", tmp_path / "data", broker_url, log={"level": "info"}, **sections)
    out, log_path = tmp_path / "modules.json", tmp_path / "daemon.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-c", PROBE, str(out), str(config)], cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while "daemon.ready" not in log_path.read_text(errors="replace"):
                assert proc.poll() is None, f"daemon exited early:\n{log_path.read_text()[-3000:]}"
                assert time.monotonic() < deadline, f"daemon not ready in 60 s:\n{log_path.read_text()[-3000:]}"
                time.sleep(0.1)
            proc.terminate()
            assert proc.wait(30) == 0, log_path.read_text()[-3000:]
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
    return set(json.loads(out.read_text()))


def test_a_daemon_without_job_tables_imports_no_heavy_library(tmp_path, broker):
    modules = _modules_of_a_daemon(tmp_path, broker.url)
    # The probe saw the real daemon: every installed job's configuration model and the web server were loaded.
    assert {"edge.esl.config", "edge.scale.config", "edge.screen.config", "edge.app", "aiohttp"} <= modules
    loaded = sorted(name for name in modules if name.split(".")[0] in HEAVY)
    assert loaded == [], f"an idle daemon with no [esl]/[scale]/[screen] table imported {loaded}"


def test_a_fleet_daemon_without_a_map_or_web_server_imports_neither(tmp_path, broker):
    """What bench_fleet.py runs (shelf labels, no store map, `[http] enabled = false`, no artifact keys): no graph library,
    no aiohttp, no cryptography (together about 23 MB a daemon, BENCHMARKS.md)."""
    modules = _modules_of_a_daemon(tmp_path, broker.url, esl={"backend": "simulated", "simulated": {"labels": 2}},
                                   http={"enabled": False})
    assert "edge.esl.job" in modules and "edge.esl.picking.routing" in modules  # the job and its pick routes are loaded
    assert {"networkx", "aiohttp", "cryptography"}.isdisjoint(m.split(".")[0] for m in modules)
