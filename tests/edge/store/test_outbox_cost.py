"""The work of one new write does not grow with the backlog in the outbox (issue 11, item 16).

Counted in SQLite virtual-machine steps (a progress handler on the writer's connection), not
timed: deterministic on a busy machine. The first release checked the outbox bound with
`SELECT min(seq), max(seq)`, which SQLite answers by scanning the whole table (its min/max
shortcut works for one aggregate only), so each write got slower as events queued up.
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from pathlib import Path

from edge.store import Store, Tx
from edge.store.db import new_event_id

STEP = 10  # the handler runs every STEP virtual-machine instructions


def _backlog(path: Path, rows: int) -> None:
    """Queue `rows` events straight into the file (faster than writing them one by one)."""
    conn = sqlite3.connect(path)
    conn.executemany(
        "INSERT INTO outbox (id, kind, ts, data) VALUES (?, 'reading', '2026-01-01T00:00:00.000Z', '{}')",
        ((str(uuid.uuid4()),) for _ in range(rows)),
    )
    conn.commit()
    conn.close()


def _steps_of_one_event(store: Store) -> int:
    """VM steps the writer spends on one write emitting one event, its batch's bookkeeping included."""
    counted = [0]

    def count() -> int:
        counted[0] += 1
        return 0

    def start(tx: Tx) -> None:
        tx.conn.set_progress_handler(count, STEP)
        tx.emit("reading", {"t": 4.5})

    def stop(tx: Tx) -> None:
        tx.conn.set_progress_handler(None, STEP)

    store.write_sync(start)
    steps = counted[0]
    store.write_sync(stop)
    return steps * STEP


def test_a_write_costs_the_same_with_an_empty_or_a_long_outbox(tmp_path):
    empty = Store(tmp_path / "empty.db")
    small = _steps_of_one_event(empty)
    empty.close()

    path = tmp_path / "full.db"
    Store(path).close()
    _backlog(path, 100_000)
    full = Store(path)
    large = _steps_of_one_event(full)
    full.close()
    # Before: about 100,000 rows' worth of steps more with the backlog (a full scan per write).
    assert large < small * 2 + 200, (small, large)


def _wal_bytes_of_500_events(store: Store) -> int:
    """Bytes one 500-event write appends to the write-ahead log (the pages its commit changed)."""
    conn = sqlite3.connect(store.path)
    assert conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0] == 0  # not busy: the log is empty now
    conn.close()
    store.write_sync(lambda tx: [tx.emit("reading", {"i": i}) for i in range(500)])
    return Path(f"{store.path}-wal").stat().st_size


def test_a_long_outbox_does_not_multiply_the_pages_a_write_changes(tmp_path):
    empty = Store(tmp_path / "empty.db")
    small = _wal_bytes_of_500_events(empty)
    empty.close()

    path = tmp_path / "full.db"
    Store(path).close()
    _backlog(path, 100_000)  # random UUID4 ids, as the first release queued them
    full = Store(path)
    large = _wal_bytes_of_500_events(full)
    full.close()
    # Before: random event ids put every insert on a random page of the id index (~10x the pages).
    assert large < small * 3, (small, large)


def test_event_ids_are_time_ordered_uuids():
    ids = []
    for _ in range(3):
        ids.append(new_event_id())
        time.sleep(0.002)
    assert [uuid.UUID(i).version for i in ids] == [7, 7, 7]
    assert ids == sorted(ids) and len(set(ids)) == 3
