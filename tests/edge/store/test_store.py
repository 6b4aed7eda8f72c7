"""The state store: migrations, group commit isolation, the outbox bound, and kill -9 at any instant."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from edge.store import Store
from edge.store.migrations import CORE


def test_migrations_are_recorded_per_owner_and_idempotent(tmp_path):
    path = tmp_path / "s.db"
    calls = []

    def job_v1(db):  # noqa: ANN001, ANN202
        calls.append(1)
        db["things"].create({"id": int}, pk="id")

    Store(path, schemas={"job": [job_v1]}).close()
    store = Store(path, schemas={"job": [job_v1]})  # reopening applies nothing twice
    assert calls == [1]
    assert store.schema_versions == {"core": len(CORE), "job": 1}
    conn = sqlite3.connect(path)
    assert dict(conn.execute("SELECT owner, version FROM schema_versions")) == {"core": len(CORE), "job": 1}
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    store.close()


def test_a_failing_migration_leaves_the_previous_version(tmp_path):
    def broken(db):  # noqa: ANN001, ANN202
        db["half"].create({"id": int}, pk="id")
        raise ValueError("bad step")

    with pytest.raises(ValueError):
        Store(tmp_path / "s.db", schemas={"job": [broken]})
    conn = sqlite3.connect(tmp_path / "s.db")
    assert conn.execute("SELECT version FROM schema_versions WHERE owner = 'job'").fetchone() is None
    assert "half" not in {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}


def test_refuses_a_newer_schema(tmp_path):
    path = tmp_path / "s.db"
    Store(path).close()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE schema_versions SET version = 99 WHERE owner = 'core'")
    conn.commit()
    conn.close()
    with pytest.raises(RuntimeError, match="newer"):
        Store(path)


async def test_a_failing_write_does_not_spoil_its_batch(tmp_path):
    store = await asyncio.to_thread(Store, tmp_path / "s.db")

    def bad(tx):  # noqa: ANN001, ANN202
        tx.emit("x", {"doomed": True})
        raise ValueError("boom")

    results = await asyncio.gather(
        *[store.write(lambda tx, i=i: tx.emit("x", {"i": i})) for i in range(50)],
        store.write(bad),
        *[store.write(lambda tx, i=i: tx.emit("x", {"i": i})) for i in range(50, 100)],
        return_exceptions=True,
    )
    assert isinstance(results[50], ValueError)
    rows = await store.read(lambda db: db.execute("SELECT data FROM outbox ORDER BY seq").fetchall())
    assert len(rows) == 100 and all("doomed" not in r[0] for r in rows)
    await store.aclose()


async def test_seq_increases_by_one_and_never_repeats(tmp_path):
    store = await asyncio.to_thread(Store, tmp_path / "s.db")
    first = [await store.write(lambda tx: tx.emit("x", {})) for _ in range(5)]
    await store.write(lambda tx: tx.conn.execute("DELETE FROM outbox"))
    await store.aclose()
    store = await asyncio.to_thread(Store, tmp_path / "s.db")
    later = [await store.write(lambda tx: tx.emit("x", {})) for _ in range(3)]
    assert first + later == list(range(1, 9))
    await store.aclose()


async def test_full_outbox_drops_oldest_and_reports_the_gap(tmp_path):
    store = await asyncio.to_thread(Store, tmp_path / "s.db", max_outbox=100)
    for i in range(150):
        await store.write(lambda tx, i=i: tx.emit("reading", {"i": i}))
    rows = await store.read(lambda db: db.execute("SELECT kind, data FROM outbox ORDER BY seq").fetchall())
    assert len(rows) <= 100
    overflow = [r for r in rows if r[0] == "outbox.overflow"]
    assert 1 <= len(overflow) <= 10, "the loss is announced, in few notices"
    readings = [r for r in rows if r[0] == "reading"]
    assert readings[-1] == ("reading", '{"i":149}')  # the newest are kept
    await store.aclose()


WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from edge.store import Store
    store = Store(Path(sys.argv[1]))
    i = 0
    while True:
        seq = store.write_sync(lambda tx: tx.emit("k", {"i": i}))
        print(seq, flush=True)  # acknowledged: committed before this line
        i += 1
    """
)


@pytest.mark.parametrize("run_s", [0.3, 0.7, 1.1])
def test_kill_9_keeps_every_acknowledged_write(tmp_path: Path, run_s: float):
    path = tmp_path / "s.db"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parents[3])
    # Wait for the first acknowledgement, then kill at an arbitrary instant mid-stream.
    assert proc.stdout is not None
    first = proc.stdout.readline()
    assert first.strip() == "1"
    time.sleep(run_s)
    proc.send_signal(signal.SIGKILL)
    acknowledged = [1] + [int(line) for line in proc.stdout.read().split()]
    proc.wait()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    stored = {row[0] for row in conn.execute("SELECT seq FROM outbox")}
    assert set(acknowledged) <= stored
    assert sorted(stored) == list(range(1, max(stored) + 1))  # no holes


async def test_after_commit_runs_only_for_committed_writes(tmp_path):
    store = await asyncio.to_thread(Store, tmp_path / "s.db")
    ran: list[str] = []

    def ok(tx):  # noqa: ANN001, ANN202
        tx.after_commit(lambda: ran.append("ok"))

    def fails(tx):  # noqa: ANN001, ANN202
        tx.after_commit(lambda: ran.append("rolled back"))
        raise ValueError("no")

    await store.write(ok)
    with pytest.raises(ValueError):
        await store.write(fails)
    await asyncio.sleep(0.05)
    assert ran == ["ok"]
    await store.aclose()
