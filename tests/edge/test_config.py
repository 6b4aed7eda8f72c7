"""Configuration: every kind of mistake gives its key path, a hint, and a non-zero exit from `store-edge check`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from edge.config import ConfigError, load_config, parse_config

REPO = Path(__file__).resolve().parents[2]


def check(path: Path, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edge.cli", "check", "--config", str(path)], cwd=cwd, capture_output=True, text=True)


def test_the_demo_configuration_checks_from_any_working_directory(tmp_path):
    config = load_config(REPO / "config" / "demo.toml", env={})
    assert config.scale is not None and config.scale.produce_file == REPO / "config" / "scale-produce.json"
    result = check(REPO / "config" / "demo.toml", cwd=tmp_path)
    assert result.returncode == 0, result.stderr


def test_the_example_names_only_absolute_paths_and_check_says_which_files_to_make():
    config = load_config(REPO / "config" / "store.example.toml", env={})
    assert config.store.id
    b = config.broker
    for path in (b.password_file, b.ca_file, b.cert_file, b.key_file, config.http.token_file, config.scale.produce_file, config.data.dir):
        assert path is not None and str(path).startswith(("/etc/store-edge/", "/var/lib/store-edge")), path
    result = check(REPO / "config" / "store.example.toml")
    assert result.returncode == 2
    for key in ("broker.password_file", "http.token_file", "broker.ca_file", "broker.cert_file", "broker.key_file", "scale.produce_file"):
        assert f"{key}: /etc/store-edge/" in result.stderr and "does not exist" in result.stderr, key
    assert "store-edge init --config" in result.stderr and "umask 027" in result.stderr


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ('[store]\nid = "s1"\nnmae = "x"\n', "store.nmae: unknown key; did you mean 'name'?"),
        ('[store]\nid = "s1"\n[brokr]\nurl = "mqtt://h"\n', "brokr: unknown key; did you mean 'broker'?"),
        ('[store]\nid = "s1"\n[broker]\nkeepalive_s = "soon"\n', "broker.keepalive_s: Input should be a valid integer"),
        ('[store]\nid = "s1"\n[broker]\nurl = "http://hq"\n', "broker.url: Value error, expected mqtt://HOST[:PORT]"),
        ('[store]\nname = "x"\n', "store.id: required value is missing"),
        ('[store]\nid = "no spaces allowed"\n', "store.id: String should match pattern"),
        ('[store]\nid = "s1"\n[http]\nlisten = "8787"\n', "http.listen: Value error, expected HOST:PORT"),
        ('[store\nid = "s1"\n', "not valid TOML"),
        ('[store]\nid = "s1"\n[esl]\nbackend = "pawr"\n[esl.pawr]\ntransports = ["usb0"]\n',
         "esl.pawr.transports: Value error, unknown ESL transport 'usb0' (did you mean 'usb'?)"),
        ('[store]\nid = "s1"\n[esl.pawr]\ntransports = ["serial:/dev/ttyACM0,99"]\n', "esl.pawr.transports: Value error"),
        ('[store]\nid = "s1"\n[esl.pawr.train]\nnum_subevents = 40\n',
         "esl.pawr.train: Value error, num_subevents x subevent_interval exceeds the interval"),
        ('[store]\nid = "s1"\n[esl]\nbackend = "pawr"\n[esl.simulated]\nlabels = 8000\n',
         "8000 labels do not fit 1 virtual access point(s) of 28 groups x 255 labels"),
    ],
)
def test_each_kind_of_error_is_readable(tmp_path, toml, expected):
    path = tmp_path / "bad.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    assert any(expected in p for p in info.value.problems), info.value.problems
    result = check(path)
    assert result.returncode != 0
    assert expected in result.stderr and str(path) in result.stderr


def test_hints_reach_into_arrays_of_tables():
    with pytest.raises(ConfigError) as info:
        parse_config({"store": {"id": "s"}, "screen": {"screens": [{"id": "a", "source": 0, "fpss": 3}]}}, env={})
    assert "screen.screens[0].fpss: unknown key; did you mean 'fps'?" in info.value.problems


def test_all_errors_reported_at_once(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('[store]\nid = "s1"\ncolour = 1\n[outbox]\nmax_events = 5\ninflght = 3\n')
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    assert len(info.value.problems) == 3


def test_missing_file(tmp_path):
    result = check(tmp_path / "nope.toml")
    assert result.returncode != 0 and "cannot read file" in result.stderr


def test_environment_overrides_the_file():
    env = {"STORE_EDGE_BROKER": "mqtts://broker.example:8884", "STORE_EDGE_STORE_ID": "env-store", "STORE_EDGE_DATA_DIR": "/tmp/x"}
    config = parse_config({"store": {"id": "file-store"}}, env=env)
    assert (config.broker.host, config.broker.port, config.broker.tls) == ("broker.example", 8884, True)
    assert config.store.id == "env-store" and str(config.data.dir) == "/tmp/x"
    with pytest.raises(ConfigError, match="broker.url"):
        parse_config({"store": {"id": "s"}}, env={"STORE_EDGE_BROKER": "tcp://nope"})


def test_config_is_frozen():
    config = parse_config({"store": {"id": "s1"}}, env={})
    with pytest.raises(Exception):  # noqa: B017 - pydantic's frozen error type
        config.store.id = "other"  # type: ignore[misc]


def test_help_on_every_command():
    for args in (["--help"], ["run", "--help"], ["check", "--help"], ["status", "--help"], ["demo", "--help"], ["init", "--help"]):
        result = subprocess.run([sys.executable, "-m", "edge.cli", *args], cwd=REPO, capture_output=True, text=True)
        assert result.returncode == 0 and "usage:" in result.stdout, args
