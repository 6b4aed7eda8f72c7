"""A full disk does not take the store off the air (issue 11, item 6).

The daemon runs as its own process with its data folder on a real tmpfs filled to the last block
(tests/edge/store/disk.py: real ENOSPC, SQLite's SQLITE_FULL). While it is full the link comes up
(connecting writes nothing it cannot do without), queued events drain (their deletes wait), writing
commands answer `busy` naming the disk, reads and `ping` answer, status and telemetry say
`disk_full`, the esl job's writers pause instead of crashing; freeing the space ends it all by itself.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from pathlib import Path

from tests.conftest import wait_online
from tests.edge.esl.jobkit import esl_config
from tests.edge.store.disk import fill, small_disk, truncate_log
from tests.edge.sync.test_delivery import assert_exactly_once_in_order, emit_from_job
from tests.helpers.proxy import CuttableProxy

FRIDGE = {"poll_interval_s": 0.5, "sections": [{"id": "dairy", "labels": ["F0:00:00:00:00:01"], "max_c": 8, "min_c": 0}]}


def _telemetry(hq) -> list[dict]:  # noqa: ANN001
    """Every `telemetry/link` message headquarters got."""
    return [json.loads(p) for t, p, _ in list(hq.messages) if t.endswith("/telemetry/link")]


def _queued(db: Path) -> int:
    """Events in the daemon's outbox, read on a read-only connection of the test's own."""
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        return int(conn.execute("SELECT count(*) FROM outbox").fetchone()[0])


def _readings(hq) -> int:  # noqa: ANN001
    """How many `temperature` events headquarters got."""
    return len(hq.events("temperature"))


def test_full_disk_keeps_the_link_and_answers_and_recovers_by_itself(tmp_path, broker, daemon_factory, hq_factory):
    with small_disk(tmp_path / "d-data", "16m") as data:
        db = data / "store-edge.db"
        proxy = CuttableProxy(broker.port)
        daemon = daemon_factory(f"mqtt://127.0.0.1:{proxy.port}", esl=esl_config(simulated={"labels": 2}, coldchain=FRIDGE)).start()
        hq = hq_factory(broker.port)
        assert wait_online(hq)["disk_full"] is False
        hq.wait(lambda _: _readings(hq) >= 2, timeout=20)

        proxy.reset(refuse=True)  # link down: events queue up in the outbox
        emit_from_job(db, "job.test", 50)
        truncate_log(db)
        filler = fill(data)
        proxy.restore()

        online = wait_online(hq, count=2)
        assert online["disk_full"] is True and online["birth"] == 2
        assert_exactly_once_in_order(hq, "job.test", list(range(50)))  # queued events drain
        assert hq.request("ping", {})["ok"]
        assert hq.request("config.get", {})["ok"]
        busy = hq.request("link.test", {"count": 1, "tag": "full"})
        assert busy["error"]["code"] == "busy" and "disk is full" in busy["error"]["message"]
        hq.wait(lambda _: any(t.get("disk_full") for t in _telemetry(hq)), timeout=10)
        time.sleep(3)  # the esl job's fridge polls and the link's deletes meet the full disk meanwhile
        readings_while_full = _readings(hq)

        filler.unlink()
        hq.wait(lambda _: hq.statuses()[-1]["disk_full"] is False and hq.statuses()[-1]["state"] == "online", timeout=20)
        hq.wait(lambda _: not _telemetry(hq)[-1]["disk_full"], timeout=10)
        assert hq.request("link.test", {"count": 1, "tag": "after"})["ok"]
        hq.wait(lambda _: [e for e in hq.events("link.test") if e["data"]["tag"] == "after"], timeout=10)
        hq.wait(lambda _: _readings(hq) > readings_while_full + 1, timeout=20)  # the esl job goes on by itself
        deadline = time.monotonic() + 20
        while _queued(db) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _queued(db) == 0  # the acknowledged events were deleted at last

        log = daemon.log()
        assert "store.disk_full" in log and "store.disk_space_back" in log and "link.birth.unsaved" in log
        assert "component.crashed" not in log and "link.task.failed" not in log and "Traceback" not in log
        assert log.count("link.lost") == 1  # the cut before the disk filled; none while it was full
        daemon.kill()
        daemon.start()
        births = hq.wait(lambda _: [s["birth"] for s in hq.statuses() if s["state"] == "online" and s["birth"] > 2], timeout=20)
        assert births[0] == 3  # the birth of the full-disk connection was written once space was back
        daemon.terminate()
        proxy.close()
