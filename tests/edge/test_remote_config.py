"""Remote configuration (issue 17 item 1): the running configuration's version and hash, reported to headquarters."""

from __future__ import annotations

import hashlib
import json
import re
import socket
import urllib.request
from pathlib import Path
from typing import Any

from edge.config import load_config
from edge.demo.hq import Hq
from edge.remote_config import (
    APPLIED_SUFFIX,
    ConfigSetArgs,
    Running,
    config_hash,
    desired_config,
    running_identity,
)
from edge.sync.commands import CommandError
from tests.conftest import wait_online


def _http_port(log: str) -> int:
    """The web server's port, from the daemon's log."""
    found = re.search(r"event=web.listening host=\S+ port=(\d+)", log)
    assert found, log[-2000:]
    return int(found.group(1))


def test_the_hash_is_sha256_of_the_canonical_json_the_daemon_runs(tmp_path: Path) -> None:
    path = tmp_path / "store.toml"
    path.write_text('[store]\nid = "s9"\n[data]\ndir = "data"\n')
    config = load_config(path, env={})
    canonical = json.dumps(config.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert config_hash(config) == hashlib.sha256(canonical.encode()).hexdigest()
    # key order and spacing in the file do not change it; a value does
    path.write_text('[data]\ndir   =   "data"\n\n[store]\nid = "s9"\n')
    assert config_hash(load_config(path, env={})) == config_hash(config)
    path.write_text('[store]\nid = "s9"\nname = "other"\n[data]\ndir = "data"\n')
    assert config_hash(load_config(path, env={})) != config_hash(config)


def test_the_version_is_headquarters_only_while_the_file_is_what_it_set(tmp_path: Path) -> None:
    path = tmp_path / "store.toml"
    path.write_text('[store]\nid = "s9"\n')
    config = load_config(path, env={})
    assert running_identity(config, path).as_json() == {"version": 0, "sha256": config_hash(config), "source": "local"}
    applied = Path(f"{path}{APPLIED_SUFFIX}")
    applied.write_text(json.dumps({"version": 7, "sha256": config_hash(config)}))
    assert running_identity(config, path).as_json() == {"version": 7, "sha256": config_hash(config), "source": "hq"}
    applied.write_text(json.dumps({"version": 7, "sha256": "0" * 64}))  # edited by hand since: the version no longer holds
    assert running_identity(config, path).as_json()["source"] == "local"
    applied.write_text("{not json")  # a damaged record is not a crash
    assert running_identity(config, path).as_json()["version"] == 0
    assert running_identity(config, None).as_json()["source"] == "local"


def test_config_get_and_status_carry_version_and_hash(broker: Any, daemon_factory: Any, hq_factory: Any) -> None:
    daemon = daemon_factory(broker.url).start()
    hq: Hq = hq_factory(broker.port)
    wait_online(hq)
    expected = config_hash(load_config(daemon.config))
    reply = hq.request("config.get", {})
    assert reply["ok"], reply
    result = reply["result"]
    assert result["config_version"] == 0 and result["config_sha256"] == expected and result["config_source"] == "local"
    assert result["store"]["id"] == "s1" and "broker" in result  # the configuration itself is unchanged (extend, never break)
    with urllib.request.urlopen(f"http://127.0.0.1:{_http_port(daemon.log())}/api/status", timeout=10) as answer:
        status = json.load(answer)
    assert status["config"] == {"version": 0, "sha256": expected, "source": "local"}
    daemon.terminate()


def _files(config: Path) -> dict[str, bytes]:
    """The configuration file and everything config.set keeps beside it."""
    return {p.name: p.read_bytes() for p in sorted(config.parent.iterdir()) if p.name.startswith(config.name)}


def _wait_exit(daemon: Any, timeout: float = 15.0) -> int:
    """The daemon's exit status once it stopped by itself."""
    code = daemon.proc.wait(timeout)
    daemon.proc = None
    return int(code)


def test_config_set_refuses_bad_values_and_secrets_and_writes_nothing(broker: Any, daemon_factory: Any, hq_factory: Any) -> None:
    daemon = daemon_factory(broker.url).start()
    hq: Hq = hq_factory(broker.port)
    wait_online(hq)
    before = _files(daemon.config)
    bad = hq.request("config.set", {"version": 2, "patch": {"outbox": {"inflight": 0}, "http": {"listen": "nowhere"}}})
    assert bad["error"]["code"] == "invalid_argument", bad
    assert "outbox.inflight:" in bad["error"]["message"] and "http.listen:" in bad["error"]["message"]
    typo = hq.request("config.set", {"version": 2, "patch": {"broker": {"urll": "mqtt://x"}}})
    assert "broker.urll: unknown key; did you mean 'url'?" in typo["error"]["message"]
    secret = hq.request("config.set", {"version": 2, "patch": {"broker": {"password": "hunter2"}}})
    assert secret["error"]["code"] == "invalid_argument" and secret["error"]["message"].startswith("broker.password: secrets are never")
    assert "hunter2" not in secret["error"]["message"]
    missing = hq.request("config.set", {"version": 2, "patch": {"broker": {"password_file": "/nonexistent/pw"}}})
    assert "broker.password_file: /nonexistent/pw does not exist" in missing["error"]["message"]  # the files, as `check` does
    both = hq.request("config.set", {"version": 2, "config": {}, "patch": {}})
    assert both["error"]["code"] == "invalid_argument"
    old = hq.request("config.set", {"version": 0, "patch": {}})
    assert old["error"]["code"] == "invalid_argument" and "version" in old["error"]["message"]
    assert _files(daemon.config) == before  # nothing written, no last-good
    assert hq.request("ping", {})["ok"]  # and the daemon keeps serving
    daemon.terminate()


def test_config_set_patch_restarts_with_the_new_version_and_a_broken_start_rolls_back(
    broker: Any, daemon_factory: Any, hq_factory: Any,
) -> None:
    daemon = daemon_factory(broker.url).start()
    hq: Hq = hq_factory(broker.port)
    wait_online(hq)
    local_hash = hq.request("config.get", {})["result"]["config_sha256"]
    original = daemon.config.read_bytes()
    reply = hq.request("config.set", {"id": "cs-1", "version": 5, "patch": {"store": {"name": "Store One"}, "outbox": {"inflight": 50}}},
                       request_id="cs-1")
    assert reply["ok"], reply
    result = reply["result"]
    assert result["apply"] == "restart" and result["changed"] == ["outbox", "store"] and result["version"] == 5
    assert _wait_exit(daemon) == 75  # the controlled restart: systemd's Restart=on-failure starts it again
    assert Path(f"{daemon.config}.last-good").read_bytes() == original
    assert not [p for p in daemon.config.parent.iterdir() if p.name.startswith(f".{daemon.config.name}")]  # no temp file left
    written = load_config(daemon.config)
    assert written.store.name == "Store One" and written.outbox.inflight == 50 and config_hash(written) == result["sha256"]

    daemon.start()  # what systemd does
    wait_online(hq, count=2)
    got = hq.request("config.get", {})["result"]
    assert (got["config_version"], got["config_sha256"], got["config_source"]) == (5, result["sha256"], "hq")
    assert got["outbox"]["inflight"] == 50
    again = hq.request("config.set", {"version": 5, "patch": {"store": {"name": "Store One"}, "outbox": {"inflight": 50}}})
    assert again["ok"] and again["result"]["apply"] == "none"  # same version, same configuration: nothing done
    conflict = hq.request("config.set", {"version": 5, "patch": {"store": {"name": "Other"}}})
    assert conflict["error"]["code"] == "invalid_argument" and "not newer" in conflict["error"]["message"]
    daemon.terminate()

    daemon.config.write_text(daemon.config.read_text().replace("inflight = 50", "inflight = 0"))  # broken (by hand or disk)
    daemon.start()
    back = hq.wait(lambda _: hq.events("config.rolled_back"), timeout=20)[0]
    assert back["data"]["from_version"] == 5 and back["data"]["to_version"] == 0
    assert any(p.startswith("outbox.inflight:") for p in back["data"]["problems"])
    assert back["data"]["sha256"] == local_hash and daemon.config.read_bytes() == original
    got = hq.request("config.get", {})["result"]
    assert (got["config_version"], got["config_sha256"]) == (0, local_hash)
    daemon.terminate()


def test_a_configuration_that_fails_to_start_is_rolled_back(broker: Any, daemon_factory: Any, hq_factory: Any) -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()  # valid for `check`, refused at start: the daemon never reaches READY with it
    daemon = daemon_factory(broker.url).start()
    hq: Hq = hq_factory(broker.port)
    wait_online(hq)
    local_hash = hq.request("config.get", {})["result"]["config_sha256"]
    listen = f"127.0.0.1:{taken.getsockname()[1]}"
    reply = hq.request("config.set", {"version": 3, "patch": {"http": {"listen": listen}}})
    assert reply["ok"] and reply["result"]["apply"] == "restart", reply
    assert _wait_exit(daemon) == 75
    daemon.start()
    back = hq.wait(lambda _: hq.events("config.rolled_back"), timeout=20)[0]["data"]
    assert (back["from_version"], back["to_version"], back["sha256"]) == (3, 0, local_hash)
    assert listen in back["problems"][0] and "cannot listen" in back["problems"][0]
    assert hq.request("config.get", {})["result"]["http"]["listen"] == "127.0.0.1:0"
    assert not Path(f"{daemon.config}.last-good").exists()  # used up: a second failure is the administrator's
    daemon.terminate()
    taken.close()


def test_config_set_bad_documents_are_refused_with_their_key_path(tmp_path: Path) -> None:
    path = tmp_path / "store.toml"
    path.write_text('[store]\nid = "s1"\n[data]\ndir = "data"\n')
    before = _files(path)
    config = load_config(path, env={})
    running = Running(config, running_identity(config, path))

    def refused(**body: Any) -> str:
        """The invalid_argument message for one config.set body."""
        try:
            desired_config(path, running, ConfigSetArgs(version=2, **body))
        except CommandError as err:
            assert err.code == "invalid_argument"
            return err.message
        raise AssertionError(f"accepted: {body}")

    assert refused(config={"store": {"id": "s1", "name": None}}).startswith("config: not a TOML document")
    assert refused(config={"store": 5}).startswith("store: Input should be a valid dictionary")
    assert refused(patch={"store": None}) == "store: required value is missing"  # null removes a key (RFC 7386)
    assert refused(patch={"broker": {"ca_file": "-----BEGIN RSA PRIVATE KEY-----\n…"}}).startswith("broker.ca_file: secrets")
    assert refused(patch={"screen": [{"api_token": "x"}]}).startswith("screen[0].api_token: secrets")
    assert _files(path) == before


def test_only_keys_the_daemon_reads_where_it_uses_them_apply_hot(tmp_path: Path) -> None:
    path = tmp_path / "store.toml"
    path.write_text('[store]\nid = "s1"\n[data]\ndir = "data"\n[scale]\nenabled = true\n')
    config = load_config(path, env={})
    running = Running(config, running_identity(config, path))

    def applied(**patch: Any) -> str:
        """How one merge patch would be applied."""
        return desired_config(path, running, ConfigSetArgs(version=1, patch=patch)).apply

    assert applied(log={"level": "debug"}) == "hot"
    assert applied(log={"format": "json"}, telemetry={"health_interval_s": 30}, prices={"lookback_days": 30}) == "hot"
    assert applied(scale={"unsure_score": 0.7, "unrecognised_score": 0.3}) == "hot"  # the scale job's JobSpec.hot_keys
    assert applied(log={"level": "info"}) == "hot"  # nothing differs once defaults are filled: nothing to restart for
    assert applied(prices={"rules": "none"}) == "restart"  # built into the label rules at start
    assert applied(scale={"confirm_timeout_s": 60}) == "restart"
    assert applied(scale={"enabled": False}) == "restart"
    assert applied(screen={"enabled": True}) == "restart"  # a job added
    assert applied(broker={"url": "mqtt://127.0.0.1:1884"}, log={"level": "debug"}) == "restart"  # one cold key: all by restart


def test_config_set_of_hot_keys_applies_without_a_restart(broker: Any, daemon_factory: Any, hq_factory: Any) -> None:
    daemon = daemon_factory(broker.url, log={"level": "info"}).start()
    hq: Hq = hq_factory(broker.port)
    wait_online(hq)
    pid = daemon.proc.pid
    hq.request("ping", {})
    assert "command.replied" not in daemon.log()  # a DEBUG line: not at the default level
    reply = hq.request("config.set", {"version": 3, "patch": {"log": {"level": "debug"}, "prices": {"lookback_days": 30}}})
    assert reply["ok"] and reply["result"]["apply"] == "hot" and reply["result"]["changed"] == ["log", "prices"], reply
    applied = hq.wait(lambda _: hq.events("config.applied"))[0]["data"]
    assert applied["apply"] == "hot" and applied["version"] == 3
    status = hq.wait(lambda _: [s for s in hq.statuses() if s.get("config", {}).get("version") == 3])[-1]
    assert status["state"] == "online" and status["config"]["sha256"] == reply["result"]["sha256"]
    got = hq.request("config.get", {})["result"]
    assert (got["config_version"], got["config_source"], got["log"]["level"], got["prices"]["lookback_days"]) == (3, "hq", "debug", 30)
    hq.request("ping", {})
    assert "command.replied" in daemon.log() and "config.reloaded" in daemon.log()  # the new level, in the same process
    assert daemon.proc.poll() is None and daemon.proc.pid == pid and hq.statuses()[-1]["state"] == "online"
    assert load_config(daemon.config).log.level == "debug"  # written too: a later start runs the same
    daemon.terminate()
