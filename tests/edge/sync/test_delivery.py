"""No event lost, none applied twice: broker restarts, network cuts, a killed daemon, the retained status."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from edge.store import Store
from tests.conftest import wait_online
from edge.demo.hq import Hq, unique_in_order
from tests.helpers.proxy import CuttableProxy


def emit_from_job(db_path: Path, kind: str, count: int, start: int = 0) -> list[int]:
    """Stand in for a job: queue events in the daemon's database from another process's connection."""
    store = Store(db_path)
    try:
        return [store.write_sync(lambda tx, i=i: tx.emit(kind, {"n": i})) for i in range(start, start + count)]
    finally:
        store.close()


def assert_exactly_once_in_order(hq: Hq, kind: str, expected: list[int], timeout: float = 30.0) -> None:
    """After dropping repeats by id, the consumer holds every expected `n` once, in seq order."""
    hq.wait(lambda _: len(unique_in_order(hq.events(kind))) >= len(expected), timeout)
    events = unique_in_order(hq.events(kind))
    assert [e["data"]["n"] for e in events] == expected
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


#: The session-level tests run in both protocol modes (docs/brokers.md): the outbox must not depend on MQTT 5.
PROTOCOLS = pytest.mark.parametrize("protocol", ["5", "3.1.1"])


@PROTOCOLS
def test_broker_restart_loses_nothing(tmp_path, broker, daemon_factory, protocol):
    daemon = daemon_factory(broker.url, broker={"protocol": protocol}).start()
    hq = Hq(broker.port, "s1", client_id="hq-restart")
    wait_online(hq)
    emit_from_job(daemon_dir(daemon) / "store-edge.db", "job.test", 20)
    hq.wait(lambda _: len(unique_in_order(hq.events("job.test"))) >= 20)

    broker.stop()
    emit_from_job(daemon_dir(daemon) / "store-edge.db", "job.test", 100, start=20)
    time.sleep(1.5)  # the daemon notices and retries meanwhile
    broker.start()
    assert_exactly_once_in_order(hq, "job.test", list(range(120)))
    hq.close()
    daemon.terminate()


@PROTOCOLS
def test_killed_daemon_with_unreachable_broker_delivers_after_restart(broker, daemon_factory, hq_factory, protocol):
    proxy = CuttableProxy(broker.port)
    daemon = daemon_factory(f"mqtt://127.0.0.1:{proxy.port}", broker={"protocol": protocol}).start()
    hq = hq_factory(broker.port, client_id="hq-kill")
    wait_online(hq)

    applied = hq.request("link.test", {"count": 5, "tag": "before-kill"}, request_id="cmd-1")
    assert applied["ok"]
    proxy.reset(refuse=True)  # broker unreachable from here on
    emit_from_job(daemon_dir(daemon) / "store-edge.db", "job.test", 50)
    daemon.kill()

    proxy.restore()
    daemon.start()
    wait_online(hq, count=2)
    assert_exactly_once_in_order(hq, "job.test", list(range(50)))
    # The same command id again: the remembered reply, no second effect.
    assert hq.request("link.test", {"count": 5, "tag": "before-kill"}, request_id="cmd-1") == applied
    hq.request("ping", {})
    assert len(unique_in_order(hq.events("link.test"))) == 5
    daemon.terminate()
    proxy.close()


def test_network_cut_and_blackhole(broker, daemon_factory, hq_factory):
    proxy = CuttableProxy(broker.port)
    daemon = daemon_factory(f"mqtt://127.0.0.1:{proxy.port}").start()
    hq = hq_factory(broker.port, client_id="hq-cut")
    wait_online(hq)
    db = daemon_dir(daemon) / "store-edge.db"

    emit_from_job(db, "job.test", 30)
    proxy.reset(refuse=False)  # connections torn down, reconnect allowed
    emit_from_job(db, "job.test", 30, start=30)
    assert_exactly_once_in_order(hq, "job.test", list(range(60)))

    proxy.blackhole()  # packets vanish; only keepalive (5 s here) can tell
    emit_from_job(db, "job.test", 40, start=60)
    time.sleep(9)
    assert len(unique_in_order(hq.events("job.test"))) == 60
    proxy.restore()
    assert_exactly_once_in_order(hq, "job.test", list(range(100)), timeout=40)
    daemon.terminate()
    proxy.close()


def test_last_will_marks_offline_and_restart_marks_online(broker, daemon_factory, hq_factory):
    daemon = daemon_factory(broker.url).start()
    hq = hq_factory(broker.port)
    first = wait_online(hq)
    assert set(first["config"]) == {"version", "sha256", "source"} and len(first["config"]["sha256"]) == 64
    daemon.kill()
    offline = hq.wait(lambda _: [s for s in hq.statuses() if s["state"] == "offline"], timeout=20)[-1]
    assert offline["birth"] == first["birth"]  # the will of that session, recognisable as such

    daemon.start()
    second = wait_online(hq, count=2)
    assert second["birth"] == first["birth"] + 1
    # A late subscriber sees the retained, current state.
    late = hq_factory(broker.port)
    assert late.wait(lambda _: late.statuses())[-1]["state"] == "online"
    stop_s = daemon.terminate()
    assert stop_s < 5
    assert hq.wait(lambda _: hq.statuses()[-1]["state"] == "offline" and hq.statuses()[-1])["birth"] == second["birth"]


def daemon_dir(daemon) -> Path:  # noqa: ANN001
    """The data directory written into the daemon's config by the fixture."""
    import tomllib

    return Path(tomllib.loads(daemon.config.read_text())["data"]["dir"])
