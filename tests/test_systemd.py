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
ESL_RULES = REPO / "systemd" / "70-store-edge-esl.rules"
# udev's rule grammar: KEY or KEY{attribute}, an operator, a quoted value; keys joined by commas.
UDEV_KEY = re.compile(r'(?P<key>[A-Z_]+)(?:\{(?P<attr>[^}]+)\})?(?P<op>==|!=|\+=|-=|:=|=)"(?P<value>[^"]*)"')
UDEV_MATCH_ONLY = {"ACTION", "SUBSYSTEM", "SUBSYSTEMS", "KERNEL", "KERNELS", "DRIVERS", "ATTR", "ATTRS", "DEVPATH"}
UDEV_ASSIGN_ONLY = {"GROUP", "OWNER", "MODE", "SYMLINK", "TAG", "RUN", "GOTO", "LABEL"}


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
                 "SupplementaryGroups=dialout video bluetooth", "AF_BLUETOOTH",
                 "RestartForceExitStatus=75", "ReadWritePaths=/etc/store-edge"):  # config.set's controlled restart and its write
        assert line in text, line


def _udevadm_verifies() -> bool:
    """`udevadm verify` came with systemd 254; older udevadm has no such verb."""
    if shutil.which("udevadm") is None:
        return False
    return subprocess.run(["udevadm", "verify", "--help"], capture_output=True).returncode == 0


@pytest.mark.skipif(not _udevadm_verifies(), reason="udevadm verify (systemd >= 254) not available")
def test_esl_udev_rules_verify():
    # The store-edge group need not exist on the machine that runs the tests.
    result = subprocess.run(["udevadm", "verify", "--resolve-names=never", str(ESL_RULES)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_esl_udev_rules_are_well_formed_and_give_the_service_its_dongle():
    """Where udevadm cannot verify: every rule line parses as udev keys, matches compare and assignments assign."""
    group = re.search(r"^Group=(\S+)$", UNIT.read_text(), re.M).group(1)
    rules = [line for line in ESL_RULES.read_text().splitlines() if line.strip() and not line.startswith("#")]
    for line in rules:
        keys = list(UDEV_KEY.finditer(line))
        assert ", ".join(k.group(0) for k in keys) == line, f"not udev keys joined by ', ': {line}"
        for k in keys:
            if k["key"] in UDEV_MATCH_ONLY:
                assert k["op"] in ("==", "!="), f"{k['key']} only compares: {line}"
            if k["key"] in UDEV_ASSIGN_ONLY:
                assert k["op"] in ("=", "+=", "-=", ":="), f"{k['key']} only assigns: {line}"
            if k["key"] == "GROUP":
                assert k["value"] == group, line
            if k["key"] == "MODE":
                assert k["value"] == "0660", line  # the service's group, nobody else
    text = "\n".join(rules)
    assert 'ATTRS{idVendor}=="2fe3", ATTRS{idProduct}=="0100"' in text  # hci_uart (CDC-ACM)
    assert 'ATTR{idVendor}=="2fe3", ATTR{idProduct}=="000b"' in text  # hci_usb
    assert 'SYMLINK+="esl-ap-$attr{serial}"' in text and 'ENV{ID_MM_DEVICE_IGNORE}="1"' in text


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
