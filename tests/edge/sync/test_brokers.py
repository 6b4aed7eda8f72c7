"""A list of broker nodes (docs/brokers.md): validated, tried in order, and nothing lost when one node goes away."""

from __future__ import annotations

import threading
import time
import tomllib
from pathlib import Path
from typing import Any

import pytest
import tomli_w  # type: ignore[import-not-found]

from edge.config import MAX_BROKER_URLS, ConfigError, parse_config
from edge.demo.broker import Mosquitto
from edge.demo.hq import Hq, unique_in_order
from tests.edge.sync.test_delivery import daemon_dir, emit_from_job
from tests.helpers.daemon import DaemonProcess, write_config


def broker_section(**broker: Any) -> Any:
    """The validated `[broker]` section of a minimal config (no environment)."""
    return parse_config({"store": {"id": "s1"}, "broker": broker}, env={}).broker


def test_urls_are_tried_in_the_given_order_and_url_stays_the_one_node_case():
    section = broker_section(urls=["mqtt://a:1883", "mqtt://b"])
    assert [(a.url, a.host, a.port, a.tls) for a in section.addresses] == [
        ("mqtt://a:1883", "a", 1883, False), ("mqtt://b", "b", 1883, False)]
    assert [a.url for a in broker_section(url="mqtts://hq:8884").addresses] == ["mqtts://hq:8884"]
    assert broker_section(urls=["mqtts://a", "mqtts://b:8884"]).tls is True


@pytest.mark.parametrize(("broker", "problem"), [
    ({"url": "mqtt://a", "urls": ["mqtt://b"]}, "not both"),
    ({"urls": []}, "broker.urls"),
    ({"urls": ["mqtt://a", "tcp://b"]}, r"broker.urls\[1\]: .*expected mqtt://HOST"),
    ({"urls": ["mqtt://a:99999"]}, "bad port"),
    ({"urls": ["mqtt://a", "mqtt://a"]}, "listed twice"),
    ({"urls": ["mqtts://a", "mqtt://b"]}, "must use TLS or none"),
    ({"urls": [f"mqtt://n{i}" for i in range(MAX_BROKER_URLS + 1)]}, "broker.urls"),
    ({"urls": "mqtt://a"}, "broker.urls"),
])
def test_bad_broker_lists_are_refused_with_their_key_path(broker, problem):
    with pytest.raises(ConfigError, match=problem) as info:
        parse_config({"store": {"id": "s1"}, "broker": broker}, env={})
    assert any(line.startswith("broker") for line in info.value.problems)


def test_the_environment_broker_replaces_the_files_list():
    config = parse_config({"store": {"id": "s1"}, "broker": {"urls": ["mqtt://a", "mqtt://b"]}},
                          env={"STORE_EDGE_BROKER": "mqtt://c:1884"})
    assert [a.url for a in config.broker.addresses] == ["mqtt://c:1884"]


def two_node_daemon(tmp_path: Path, first: Mosquitto, second: Mosquitto) -> DaemonProcess:
    """A daemon whose config lists both nodes (write_config names one `url`: replaced by `urls`)."""
    path = write_config(tmp_path / "d.toml", "s1", tmp_path / "d-data", first.url)
    doc = tomllib.loads(path.read_text())
    del doc["broker"]["url"]
    doc["broker"]["urls"] = [first.url, second.url]
    path.write_text(tomli_w.dumps(doc))
    return DaemonProcess(path, tmp_path / "d.log")


def emit_stream(db: Path, start: int, count: int, every_s: float) -> threading.Thread:
    """A job emitting `count` events one by one in the background, so that a node can be stopped mid-stream."""
    def emit() -> None:
        for n in range(start, start + count):
            emit_from_job(db, "job.test", 1, start=n)
            time.sleep(every_s)

    thread = threading.Thread(target=emit, name="emit-stream")
    thread.start()
    return thread


def connections(daemon: DaemonProcess) -> list[str]:
    """The node of each `link.connected` line in the daemon's log, in order."""
    return [next(w for w in line.split() if w.startswith("broker=")).removeprefix("broker=").strip('"')
            for line in daemon.log().splitlines() if "link.connected" in line]


def delivered(hqs: list[Hq]) -> list[dict[str, Any]]:
    """What HQ keeps from every node it listens on: repeats dropped by id, ordered by seq."""
    return sorted(unique_in_order([e for hq in hqs for e in hq.events("job.test")]), key=lambda e: e["seq"])


def test_fails_over_to_the_next_node_and_back_losing_nothing(tmp_path, hq_factory):
    a = Mosquitto(tmp_path / "a").start()
    b = Mosquitto(tmp_path / "b").start()
    daemon = two_node_daemon(tmp_path, a, b)
    try:
        hq_a, hq_b = hq_factory(a.port, client_id="hq-a"), hq_factory(b.port, client_id="hq-b")
        daemon.start()
        hq_a.wait(lambda _: any(s["state"] == "online" for s in hq_a.statuses()), 15)
        db = daemon_dir(daemon) / "store-edge.db"
        emit_from_job(db, "job.test", 20)
        hq_a.wait(lambda _: len(delivered([hq_a])) >= 20, 15)

        stream = emit_stream(db, 20, 60, 0.01)
        hq_a.wait(lambda _: len(hq_a.events("job.test")) >= 30, 15)
        a.stop()  # node A goes away mid-stream: the daemon moves to B
        stream.join()
        emit_from_job(db, "job.test", 20, start=80)
        hq_b.wait(lambda _: any(e["data"]["n"] == 99 for e in hq_b.events("job.test")), 20)
        assert connections(daemon) == [a.url, b.url]

        # Events A acknowledged but had not passed to HQ yet are in A's custody (its persistence):
        # they reach HQ's session on A when A is back. Then B goes away: back to A.
        a.start()
        hq_a.wait(lambda _: len(delivered([hq_a, hq_b])) >= 100, 20)
        b.stop()
        emit_from_job(db, "job.test", 40, start=100)
        hq_a.wait(lambda _: len(delivered([hq_a, hq_b])) >= 140, 20)

        events = delivered([hq_a, hq_b])
        assert [e["data"]["n"] for e in events] == list(range(140))  # nothing lost, in seq order
        seqs = [e["seq"] for e in events]
        assert len(set(seqs)) == len(seqs)  # a repeat always carries the same id (dropped above), never a new one
        copies: dict[int, set[str]] = {}
        for e in [e for hq in (hq_a, hq_b) for e in hq.events("job.test")]:
            copies.setdefault(e["seq"], set()).add(e["id"])
        assert all(len(ids) == 1 for ids in copies.values())
        assert any(e["data"]["n"] >= 100 for e in hq_a.events("job.test"))  # the last 40 came through A again
        assert connections(daemon)[:2] == [a.url, b.url] and connections(daemon)[-1] == a.url
    finally:
        if daemon.proc is not None:
            daemon.kill()
        a.stop()
        b.stop()
