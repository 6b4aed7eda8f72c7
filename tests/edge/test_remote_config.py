"""Remote configuration (issue 17 item 1): the running configuration's version and hash, reported to headquarters."""

from __future__ import annotations

import hashlib
import json
import re
import urllib.request
from pathlib import Path
from typing import Any

from edge.config import load_config
from edge.demo.hq import Hq
from edge.remote_config import APPLIED_SUFFIX, config_hash, running_identity
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
