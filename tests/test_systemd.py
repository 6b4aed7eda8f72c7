"""The unit file passes systemd's own checks, and the daemon speaks sd_notify (READY before the broker, WATCHDOG, STOPPING)."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edge.demo.broker import free_port
from tests.helpers.daemon import DaemonProcess, write_config

REPO = Path(__file__).resolve().parents[1]
UNIT = REPO / "systemd" / "store-edge.service"


def _unit_with_real_paths(tmp_path: Path) -> Path:
    """systemd-analyze checks that ExecStart exists: point it at this checkout's installed script."""
    script = Path(sys.executable).parent / "store-edge"
    if not script.exists():
        pytest.skip("store-edge console script not installed in this environment")
    unit = tmp_path / "store-edge.service"
    unit.write_text(UNIT.read_text().replace("/opt/store-edge/.venv/bin/store-edge", str(script)))
    return unit


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not available")
def test_unit_file_verifies_without_any_warning(tmp_path):
    unit = _unit_with_real_paths(tmp_path)
    result = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True)
    # verify exits 0 even for a misspelt key, so any printed line is a failure.
    assert result.returncode == 0 and result.stdout.strip() == "" and result.stderr.strip() == "", result.stderr


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not available")
def test_unit_file_is_hardened(tmp_path):
    unit = _unit_with_real_paths(tmp_path)
    result = subprocess.run(["systemd-analyze", "security", "--offline=true", str(unit)], capture_output=True, text=True)
    score = float(re.search(r"Overall exposure level for \S+: ([0-9.]+)", result.stdout).group(1))
    assert score <= 2.5, result.stdout[-500:]


def test_unit_keeps_what_the_devices_need():
    text = UNIT.read_text()
    for line in ("Type=notify", "WatchdogSec=", "Restart=on-failure", "User=store-edge", "StateDirectory=store-edge",
                 "ConfigurationDirectory=store-edge", "ProtectSystem=strict", "NoNewPrivileges=yes", "PrivateTmp=yes",
                 "SupplementaryGroups=dialout video bluetooth", "AF_BLUETOOTH"):
        assert line in text, line


def test_daemon_speaks_sd_notify(tmp_path):
    sock_path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(sock_path))
    sock.settimeout(0.2)
    unreachable = f"mqtt://127.0.0.1:{free_port()}"  # READY must not wait for the broker
    config = write_config(tmp_path / "d.toml", "s1", tmp_path / "data", unreachable)
    daemon = DaemonProcess(config, tmp_path / "d.log", env={"NOTIFY_SOCKET": str(sock_path), "WATCHDOG_USEC": "900000"}).start()
    seen: list[str] = []

    def collect(until: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not any(until in m for m in seen):
            try:
                seen.append(sock.recv(4096).decode())
            except TimeoutError:
                pass
        assert any(until in m for m in seen), (until, seen, daemon.log()[-2000:])

    try:
        collect("READY=1", 20)
        collect("WATCHDOG=1", 5)
        watchdog = [m for m in seen if "WATCHDOG=1" in m]
        assert any("STATUS=link=" in m for m in watchdog)
        daemon.terminate()
        collect("STOPPING=1", 2)
    finally:
        if daemon.proc is not None:
            daemon.kill()
        sock.close()
    assert os.path.exists(tmp_path / "data" / "store-edge.db")
