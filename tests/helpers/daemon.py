"""Run the real daemon as a child process (so SIGKILL is a real kill) with a config written for the test."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import tomli_w  # type: ignore[import-not-found]

REPO = Path(__file__).resolve().parents[2]


def write_config(path: Path, store_id: str, data_dir: Path, broker_url: str, **sections: dict[str, Any]) -> Path:
    """A minimal daemon config; extra sections are merged over the defaults."""
    doc: dict[str, Any] = {
        "store": {"id": store_id},
        "data": {"dir": str(data_dir)},
        "broker": {"url": broker_url, "keepalive_s": 5, "reconnect_min_s": 0.2, "reconnect_max_s": 1.0},
        "http": {"listen": "127.0.0.1:0"},
        "log": {"level": "debug"},
    }
    for name, values in sections.items():
        doc.setdefault(name, {}).update(values)
    path.write_text(tomli_w.dumps(doc))
    return path


class DaemonProcess:
    """`store-edge run --config` in a subprocess; logs go to a file the test can read."""

    def __init__(self, config: Path, log_path: Path, env: dict[str, str] | None = None) -> None:
        self.config = config
        self.log_path = log_path
        self.env = {**os.environ, **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> DaemonProcess:
        """Start and return at once (readiness is the test's business: wait for `online`)."""
        log = open(self.log_path, "ab")  # noqa: SIM115 - kept open for the child's lifetime
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "edge.cli", "run", "--config", str(self.config)],
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=self.env,
        )
        return self

    def kill(self) -> None:
        """SIGKILL: no clean-up of any kind."""
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
            self.proc = None

    def terminate(self, timeout: float = 10.0) -> float:
        """SIGTERM and wait; returns how long the clean stop took."""
        assert self.proc is not None
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout)
        code = self.proc.returncode
        self.proc = None
        assert code == 0, f"daemon exited with {code}; log:\n{self.log_path.read_text()[-3000:]}"
        return time.monotonic() - started

    def log(self) -> str:
        """Everything the daemon printed."""
        return self.log_path.read_text(errors="replace")

    def web_port(self, timeout: float = 15.0) -> int:
        """The port its web server listens on, read from its `web.listening` log line (it binds port 0 in tests)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = re.search(r"event=web.listening host=\S+ port=(\d+)", self.log())
            if found:
                return int(found.group(1))
            time.sleep(0.1)
        raise AssertionError(self.log())
