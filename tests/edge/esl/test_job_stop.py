"""Stopping the daemon in the middle of a price refresh over PAwR: the esl job ends cleanly and quickly.

Before: the job closed the radio and the render pool under pushes still running, so they failed
(counted as attempts), the job crashed and the supervisor restarted it while the daemon stopped;
a push whose cancel was lost kept retrying its connects and the daemon hung.
"""

from __future__ import annotations

import asyncio

import pytest

from edge.app import App
from edge.config import parse_config

#: Two virtual APs, 8 groups of a 400 ms train, 48 labels bound to products: a refresh of a few seconds.
ESL = {"backend": "pawr", "simulated": {"labels": 48, "seed": 3}, "operation_timeout_s": 5.0,
       "pawr": {"transports": ["virtual", "virtual"],
                "train": {"interval": 320, "num_subevents": 8, "subevent_interval": 40, "response_slot_delay": 30,
                          "response_slot_spacing": 8, "num_response_slots": 8}},
       "demo_store": {"enabled": True, "products": 48}}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("after_s", [0.3, 1.0])
async def test_a_stop_in_the_middle_of_a_refresh_ends_the_job_without_a_crash_or_a_counted_failure(broker, tmp_path, after_s):
    config = await asyncio.to_thread(parse_config, {"store": {"id": "s1"}, "data": {"dir": str(tmp_path / "data")},
                           "broker": {"url": f"mqtt://127.0.0.1:{broker.port}"}, "http": {"enabled": False},
                           "log": {"level": "warning"}, "esl": ESL}, env={})  # off the loop: it imports Bumble
    app = await App.create(config)
    task = asyncio.create_task(app.run())
    job = next(j for j in app.jobs if j.name == "esl")
    async with asyncio.timeout(30):
        while not job.healthy or not job.pusher.progress.in_flight:
            await asyncio.sleep(0.05)
    await asyncio.sleep(after_s)
    assert job.pusher.progress.in_flight, "the refresh ended before the stop: nothing was tested"
    loop = asyncio.get_running_loop()
    asked = loop.time()
    app.request_stop()
    done, _ = await asyncio.wait({task}, timeout=10)
    try:
        assert done, "the daemon did not stop within 10 s"
        assert loop.time() - asked < 7.0  # the job's share of the daemon's 5 s stop budget, and the rest
        entry = next(e for e in app._supervised if e.component is job)
        assert entry.restarts == 0 and entry.last_crash is None
        attempts = await asyncio.to_thread(_max_attempts, config.database_path)
        assert attempts == 0  # pushes cut short by the stop stay queued as they were, not as failed tries
    finally:
        if not done:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


def _max_attempts(database: object) -> int:
    """The most attempts any queued push has (read after the daemon closed the database)."""
    import sqlite3

    with sqlite3.connect(str(database)) as db:
        return int(db.execute("SELECT coalesce(max(attempts), 0) FROM esl_work").fetchone()[0])
