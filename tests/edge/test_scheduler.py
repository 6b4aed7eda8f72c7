"""Persistent one-off actions survive a restart and fire once; idempotent actions make a repeat harmless."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from edge.scheduler import Scheduler
from edge.store import Store


async def test_scheduled_action_survives_restart_and_fires_once(tmp_path):
    db = tmp_path / "s.db"
    store = await asyncio.to_thread(Store, db)

    async def apply_change(change_id: int) -> None:
        def once(tx):  # noqa: ANN001, ANN202 - idempotent: applied only while pending
            tx.conn.execute("CREATE TABLE IF NOT EXISTS applied (id INTEGER PRIMARY KEY)")
            if tx.conn.execute("INSERT OR IGNORE INTO applied VALUES (?)", (change_id,)).rowcount:
                tx.emit("price.applied", {"change": change_id})
        await store.write(once)

    first = Scheduler(db)
    first.action("apply", apply_change)
    first.start()
    first.at("change-7", datetime.now(UTC) + timedelta(seconds=1.0), "apply", change_id=7)
    first.shutdown()  # the daemon stops (or dies) before the change is due

    second = Scheduler(db)
    second.action("apply", lambda change_id: apply_change(change_id))
    second.start()
    assert [j for j, _ in second.pending()] == ["change-7"]
    await asyncio.sleep(2.0)
    second.shutdown()

    third = Scheduler(db)
    third.action("apply", apply_change)
    third.start()
    await asyncio.sleep(0.5)
    assert third.pending() == []
    third.shutdown()

    rows = await store.read(lambda d: d.execute("SELECT kind, data FROM outbox").fetchall())
    assert rows == [("price.applied", '{"change":7}')]
    await store.aclose()


async def test_overdue_action_runs_at_start(tmp_path):
    db = tmp_path / "s.db"
    ran: list[int] = []

    async def mark(n: int) -> None:
        ran.append(n)

    a = Scheduler(db)
    a.action("mark", mark)
    a.start()
    a.at("late", datetime.now(UTC) + timedelta(milliseconds=200), "mark", n=1)
    a.shutdown()
    await asyncio.sleep(0.5)  # due while nothing ran

    b = Scheduler(db)
    b.action("mark", mark)
    b.start()
    await asyncio.sleep(0.5)
    b.shutdown()
    assert ran == [1]
