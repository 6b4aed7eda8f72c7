"""The daemon as a real process: demo store loaded at start, kill -9 mid-refresh, nothing confirmed is pushed twice."""

from __future__ import annotations

import sqlite3
import time
from collections import Counter

from tests.conftest import wait_online
from tests.edge.esl.jobkit import FAST_RADIO
from tests.edge.sync.test_delivery import daemon_dir

LABELS = 60


def esl_section() -> dict:
    """A demo store slow enough on the radio (about 5 s for the full refresh) to be killed in the middle."""
    return {
        "simulated": {"labels": LABELS, "seed": 5, **FAST_RADIO, "time_scale": 0.08},
        "connections": 2, "operation_timeout_s": 2.0,
        "demo_store": {"enabled": True, "products": 40},
    }


def updated_labels(hq) -> Counter:  # noqa: ANN001
    """How many distinct `label.updated` events each label produced."""
    unique = {e["id"]: e for e in hq.events("label.updated")}
    return Counter(e["data"]["label"] for e in unique.values())


def test_kill_mid_refresh_resumes_without_repeats_and_restart_is_idempotent(broker, daemon_factory, hq_factory):
    daemon = daemon_factory(broker.url, esl=esl_section()).start()
    hq = hq_factory(broker.port)
    wait_online(hq, timeout=30)
    hq.wait(lambda _: sum(updated_labels(hq).values()) >= 10, timeout=30)
    daemon.kill()
    before = sum(updated_labels(hq).values())
    assert before < LABELS, "the refresh finished before the kill; slow the radio down"

    daemon.start()
    wait_online(hq, count=2, timeout=30)
    hq.wait(lambda _: len(updated_labels(hq)) == LABELS, timeout=40)
    assert max(updated_labels(hq).values()) == 1  # nothing confirmed before the kill was pushed again
    db = sqlite3.connect(daemon_dir(daemon) / "store-edge.db")
    assert db.execute("SELECT count(*) FROM esl_work").fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM products").fetchone()[0] == 40
    assert db.execute("SELECT count(*) FROM esl_labels WHERE state = 'ok'").fetchone()[0] == LABELS

    listed = hq.request("label.list", {"state": "ok", "limit": 5})["result"]
    assert listed["total"] == LABELS and all(x["sku"].startswith("DEMO") for x in listed["labels"])

    daemon.terminate()  # a clean restart loads the demo store again: no new products, no new pushes
    daemon.start()
    wait_online(hq, count=3, timeout=30)
    time.sleep(1.5)
    hq.request("ping", {})
    assert sum(updated_labels(hq).values()) == LABELS
    assert db.execute("SELECT count(*) FROM products").fetchone()[0] == 40
    daemon.terminate()
