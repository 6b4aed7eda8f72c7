"""`check` validates every file a configuration names, `run` refuses the same with one line and status 2, relative paths are the file's folder's."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import tomli_w  # type: ignore[import-not-found]
import trustme

from edge.config import load_config
from edge.demo.broker import free_port

REPO = Path(__file__).resolve().parents[2]
NOGROUP = 65534  # a group that is not the configuration's (tests run as root, whose files are root:root)


def cli(*args: str, cwd: Path = REPO, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """`store-edge …` as a child process."""
    return subprocess.run([sys.executable, "-m", "edge.cli", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)


def secret(path: Path, text: str = "s3cret-value", mode: int = 0o640) -> Path:
    """A secret file with `mode`."""
    path.write_text(text + "\n")
    path.chmod(mode)
    return path


def write(folder: Path, **sections: dict[str, Any]) -> Path:
    """A configuration in `folder` (data in folder/data, an unreachable broker unless given)."""
    folder.mkdir(parents=True, exist_ok=True)
    doc: dict[str, Any] = {"store": {"id": "s1"}, "data": {"dir": "data"}, "broker": {"url": f"mqtt://127.0.0.1:{free_port()}"},
                           "http": {"listen": "127.0.0.1:0"}, "log": {"level": "info"}}
    for name, values in sections.items():
        doc.setdefault(name, {}).update(values)
    path = folder / "store-edge.toml"
    path.write_text(tomli_w.dumps(doc))
    return path


def test_relative_paths_are_read_from_the_configuration_folder_wherever_it_runs(tmp_path: Path) -> None:
    site = tmp_path / "etc"
    site.mkdir()
    secret(site / "http.token")
    (site / "produce.json").write_text((REPO / "config" / "scale-produce.json").read_text())
    config_path = write(site, http={"token_file": "http.token"}, scale={"produce_file": "produce.json", "scales": []})
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    before = Path.cwd()
    os.chdir(elsewhere)
    try:
        config = load_config(Path(os.path.relpath(config_path)), env={})
    finally:
        os.chdir(before)
    assert config.http.token_file == site / "http.token"
    assert config.data.dir == site / "data"
    assert config.scale is not None and config.scale.produce_file == site / "produce.json"
    for cwd in (elsewhere, Path("/")):
        assert cli("check", "--config", str(config_path), cwd=cwd).returncode == 0
    env_dir = load_config(config_path, env={"STORE_EDGE_DATA_DIR": "rel-data"}).data.dir  # the environment's is the caller's
    assert env_dir == Path.cwd() / "rel-data"


FileCase = Callable[[Path], dict[str, dict[str, Any]]]


def _fifo(path: Path) -> Path:
    os.mkfifo(path, 0o600)
    return path


def _group_readable_by_another_group(path: Path) -> Path:
    secret(path)
    os.chown(path, -1, NOGROUP)
    return path


def _pair(tmp: Path) -> dict[str, Path]:
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(tmp / "ca.pem"))
    one, two = ca.issue_cert("s1"), ca.issue_cert("s2")
    one.cert_chain_pems[0].write_to_path(str(tmp / "client.pem"))
    two.private_key_pem.write_to_path(str(tmp / "other.key"))
    (tmp / "other.key").chmod(0o600)
    return {"ca": tmp / "ca.pem", "cert": tmp / "client.pem", "other_key": tmp / "other.key"}


CASES: list[tuple[str, FileCase, str]] = [
    ("missing token", lambda t: {"http": {"token_file": str(t / "nope.token")}},
     "http.token_file: {t}/nope.token does not exist; create it: store-edge init --config {t}/"),
    ("token open to everyone", lambda t: {"http": {"token_file": str(secret(t / "t", mode=0o644))}},
     "http.token_file: {t}/t is a secret open to every user (mode 0644): chmod o-rwx"),
    ("token readable by another group", lambda t: {"http": {"token_file": str(_group_readable_by_another_group(t / "t"))}},
     "is a secret readable by group nogroup, not only the service group root"),
    ("empty token", lambda t: {"http": {"token_file": str(secret(t / "t", text=""))}}, "http.token_file: {t}/t is empty"),
    ("token with spaces", lambda t: {"http": {"token_file": str(secret(t / "t", text="two words"))}}, "an HTTP header cannot carry"),
    ("token is a FIFO", lambda t: {"http": {"token_file": str(_fifo(t / "t"))}}, "http.token_file: {t}/t is not a regular file"),
    ("password file is a folder", lambda t: {"broker": {"password_file": str(t)}}, "broker.password_file: {t} is not a regular file"),
    ("password relative and missing", lambda t: {"broker": {"password_file": "broker.password"}},
     "broker.password_file: {t}/broker.password does not exist (relative paths are read from {t}/); create it: sh -c 'umask 027;"),
    ("huge password file", lambda t: {"broker": {"password_file": str(secret(t / "p", text="x" * 10_000))}}, "too large for a secret"),
    ("CA with plain MQTT", lambda t: {"broker": {"ca_file": str(_pair(t)["ca"])}}, "broker.ca_file: set, but the broker (mqtt://"),
    ("CA that is not PEM", lambda t: {"broker": {"url": "mqtts://127.0.0.1:8883", "ca_file": str(secret(t / "ca.pem", mode=0o644))}},
     "is not a PEM certificate the TLS library accepts"),
    ("key without its certificate", lambda t: {"broker": {"url": "mqtts://127.0.0.1:8883", "key_file": str(_pair(t)["other_key"])}},
     "broker.key_file: set without broker.cert_file"),
    ("certificate with another's key", lambda t: {"broker": {"url": "mqtts://127.0.0.1:8883", "cert_file": str(_pair(t)["cert"]),
                                                             "key_file": str(t / "other.key")}}, "do not load together"),
    ("key open to everyone", lambda t: {"broker": {"url": "mqtts://127.0.0.1:8883", "cert_file": str(_pair(t)["cert"]),
                                                   "key_file": str(secret(t / "k", mode=0o644))}},
     "broker.key_file: {t}/k is a secret open to every user"),
    ("a job's file missing", lambda t: {"scale": {"produce_file": "produce.json", "scales": []}},
     "scale.produce_file: {t}/produce.json does not exist (relative paths are read from {t}/)"),
]


@pytest.mark.parametrize(("name", "make", "expected"), CASES, ids=[c[0] for c in CASES])
def test_check_and_run_refuse_each_unusable_file_the_same_way(tmp_path: Path, name: str, make: FileCase, expected: str) -> None:
    config = write(tmp_path, **make(tmp_path))
    line = expected.format(t=tmp_path)
    checked = cli("check", "--config", str(config), timeout=20)
    assert checked.returncode == 2 and line in checked.stderr, checked.stderr
    started = time.monotonic()
    ran = cli("run", "--config", str(config), timeout=20)
    assert ran.returncode == 2, ran.stderr
    assert ran.stderr.count("\n") == 1 and ran.stderr.startswith(f"store-edge: cannot start: {config}: ") and line in ran.stderr
    assert "Traceback" not in ran.stderr + ran.stdout and time.monotonic() - started < 15
    assert not (tmp_path / "data").exists()  # refused before anything was opened


def test_run_as_root_sees_what_the_service_group_cannot_read(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root (to give the configuration another group)")
    token = secret(tmp_path / "http.token", mode=0o600)  # root:root 0600: the service (group nogroup) cannot read it
    config = write(tmp_path, http={"token_file": str(token)})
    os.chown(config, -1, NOGROUP)
    result = cli("check", "--config", str(config))
    assert result.returncode == 2 and "is not readable by the service" in result.stderr and "chgrp nogroup" in result.stderr
    os.chown(token, -1, NOGROUP)
    token.chmod(0o640)
    assert cli("check", "--config", str(config)).returncode == 0


def test_open_to_the_network_without_a_token_is_a_warning_or_with_the_setting_a_refusal(tmp_path: Path) -> None:
    config = write(tmp_path / "warn", http={"listen": "0.0.0.0:0"})
    warned = cli("check", "--config", str(config))
    assert warned.returncode == 0 and "warning: http.listen: 0.0.0.0:0 is reachable from other machines" in warned.stderr
    log = tmp_path / "daemon.log"
    with log.open("wb") as out:
        daemon = subprocess.Popen([sys.executable, "-m", "edge.cli", "run", "--config", str(config)], cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while "event=daemon.ready" not in log.read_text():
            assert time.monotonic() < deadline and daemon.poll() is None, log.read_text()
            time.sleep(0.1)
        assert "event=web.open_without_token" in log.read_text()
    finally:
        daemon.terminate()
        daemon.wait(15)

    strict = write(tmp_path / "strict", http={"listen": "0.0.0.0:0", "require_token_beyond_loopback": True})
    checked = cli("check", "--config", str(strict))
    assert checked.returncode == 2 and "http.token_file is not set" in checked.stderr
    ran = cli("run", "--config", str(strict))
    assert ran.returncode == 2 and ran.stderr.count("\n") == 1 and "Traceback" not in ran.stderr
    loopback = write(tmp_path / "loopback", http={"listen": "127.0.0.1:0", "require_token_beyond_loopback": True})
    assert cli("check", "--config", str(loopback)).returncode == 0


def test_a_port_in_use_is_one_line_and_status_1_not_a_traceback(tmp_path: Path) -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    try:
        ran = cli("run", "--config", str(write(tmp_path, http={"listen": f"127.0.0.1:{port}"})))
    finally:
        taken.close()
    assert ran.returncode == 1 and "Traceback" not in ran.stderr, ran.stderr
    assert ran.stderr.splitlines()[-1] == f"store-edge: cannot start: http.listen 127.0.0.1:{port}: cannot listen (Address already in use)"
