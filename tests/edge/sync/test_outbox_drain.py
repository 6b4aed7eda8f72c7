"""The outbox drains a large backlog in seq order, at least once, in short loop steps (issue 11, item 16).

The drain reads a few hundred rows per reader hop, publishes at most PUBLISH_STEP events per loop
step and deletes acknowledged runs of seqs; the daemon runs in this test's watched loop, so a step
holding the loop ≥ 50 ms fails the test (tests/helpers/loopwatch.py).
"""

from __future__ import annotations

import asyncio

from edge.app import App
from edge.config import parse_config
from edge.demo.hq import Hq, unique_in_order
from edge.store.db import outbox_depth
from edge.sync.link import seq_runs


def test_acknowledged_seqs_are_deleted_as_runs():
    assert seq_runs([5, 3, 4, 9, 10, 12]) == [(3, 5), (9, 10), (12, 12)]
    assert seq_runs([]) == []


async def test_a_big_backlog_drains_in_order_without_holding_the_loop(tmp_path, broker):
    config = parse_config(
        {"store": {"id": "s1"}, "data": {"dir": str(tmp_path / "data")}, "broker": {"url": broker.url},
         "http": {"enabled": False}, "log": {"level": "warning"}},
        env={},
    )
    app = await App.create(config)
    # A backlog waits before the link is up: one job wrote 1,500 events at once, others one each.
    await app.store.write(lambda tx: [tx.emit("bulk", {"n": i}) for i in range(1500)])
    for start in range(1500, 2500, 100):  # 100 at a time: debug mode makes each future costly to create
        await asyncio.gather(*(app.store.write(lambda tx, i=i: tx.emit("bulk", {"n": i})) for i in range(start, start + 100)))
    hq = await asyncio.to_thread(Hq, broker.port, "s1")
    task = asyncio.create_task(app.run())
    try:
        events = await asyncio.to_thread(hq.wait, lambda _: len(unique_in_order(hq.events("bulk"))) >= 2500 and hq.events("bulk"), 60)
        got = unique_in_order(events)
        assert [e["data"]["n"] for e in got] == list(range(2500))
        assert [e["seq"] for e in got] == sorted(e["seq"] for e in got)
        for _ in range(100):
            if await app.store.read(lambda db: outbox_depth(db.conn)) == 0:
                break
            await asyncio.sleep(0.1)
        assert await app.store.read(lambda db: db.execute("SELECT count(*) FROM outbox").fetchone()[0]) == 0
        assert app.link.health().events_sent >= 2500
    finally:
        app.request_stop()
        await asyncio.wait_for(task, 15)
        await asyncio.to_thread(hq.close)
