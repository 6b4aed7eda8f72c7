"""The store on a full disk: writes wait or fail with DiskFull, reads and dry runs go on, it recovers by itself (issue 11, item 6).

The disk is a real tmpfs filled to its last block (tests/edge/store/disk.py), so SQLite meets
the ENOSPC a full disk gives and answers SQLITE_FULL; a `max_page_count` limit would only stop
the database growing, not its log, and RLIMIT_FSIZE gives EFBIG (SQLite: disk I/O error).
"""

from __future__ import annotations

import asyncio

import pytest

from edge.store import Store
from edge.store.db import DISK_TOPIC
from edge.store.errors import DiskFull
from tests.edge.store.disk import fill, small_disk, truncate_log


@pytest.fixture
def disk(tmp_path):
    """A small real file system."""
    with small_disk(tmp_path / "disk") as where:
        yield where


async def test_writes_wait_for_space_reads_go_on_and_it_recovers(disk):
    store = await asyncio.to_thread(Store, disk / "s.db")
    for i in range(20):
        await store.write(lambda tx, i=i: tx.emit("reading", {"i": i}))
    truncate_log(disk / "s.db")
    filler = fill(disk)
    changed = store.changed(DISK_TOPIC)
    changed.clear()

    with pytest.raises(DiskFull, match="s.db"):
        await store.write(lambda tx: tx.emit("reading", {"i": 20}), wait_for_space=False)
    assert store.disk_full and changed.is_set()
    waiting = asyncio.ensure_future(store.write(lambda tx: tx.emit("reading", {"i": 21})))  # a job's write: it waits
    assert await store.read(lambda db: db.execute("SELECT count(*) FROM outbox").fetchone()[0]) == 20
    assert await store.dry_run(lambda tx: tx.conn.execute("SELECT count(*) FROM outbox").fetchone()[0]) == (20, False)
    assert (await store.dry_run(lambda tx: tx.emit("reading", {})))[1] is True  # would write: nothing kept
    with pytest.raises(DiskFull):
        await store.write(lambda tx: tx.conn.execute("DELETE FROM outbox WHERE seq <= 5"), wait_for_space=False)
    await asyncio.sleep(2.5)  # retried at least once meanwhile
    assert not waiting.done()

    changed.clear()
    await asyncio.to_thread(filler.unlink)
    assert await asyncio.wait_for(waiting, 10) == 21  # written once space came back, seqs without a hole
    assert not store.disk_full and changed.is_set()
    await store.write(lambda tx: tx.emit("reading", {"i": 22}), wait_for_space=False)
    seqs = await store.read(lambda db: [r[0] for r in db.execute("SELECT seq FROM outbox ORDER BY seq")])
    assert seqs == list(range(1, 23))
    await store.aclose()


async def test_a_waiting_write_given_up_is_not_written_and_closing_ends_the_wait(disk):
    store = await asyncio.to_thread(Store, disk / "s.db")
    await store.write(lambda tx: tx.emit("reading", {}))
    truncate_log(disk / "s.db")
    filler = fill(disk)
    gave_up = asyncio.ensure_future(store.write(lambda tx: tx.emit("given.up", {})))
    await asyncio.sleep(0.5)
    gave_up.cancel()
    left = asyncio.ensure_future(store.write(lambda tx: tx.emit("still.waiting", {})))
    await asyncio.sleep(0.3)
    await store.aclose()  # closing fails what still waits instead of hanging
    with pytest.raises(DiskFull):
        await asyncio.wait_for(left, 5)
    await asyncio.to_thread(filler.unlink)
    store = await asyncio.to_thread(Store, disk / "s.db")
    kinds = await store.read(lambda db: [r[0] for r in db.execute("SELECT kind FROM outbox")])
    assert kinds == ["reading"]
    await store.aclose()
