"""Putting a database in place on purpose: from a backup (`restore`) or empty (`reinitialise`), seq and birth continuing.

Both refuse while the daemon has the database open, keep whatever was there under a dated
name, and make the new file with the store's identity, with `seq` and `birth` above every value
handed out before (the state file's floors, and the old file's own counters if it can still be
read), and an event telling headquarters what happened: `store.restored` or
`store.reinitialised` (its seq is the first after the floor; the seqs between are not used).
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from edge.store.errors import StoreError, StoreRefused
from edge.store.identity import (
    BIRTH_BLOCK, SEQ_BLOCK, StoreState, check_file, counters, create, damaged, quick_check, read_state, reserve, sync_folder,
    write_state,
)
from edge.store.migrations import CORE
from edge.store.sqlite import connect, new_event_id, utc_now


@dataclass(frozen=True)
class Recovered:
    """What a recovery did, for the one line the command prints."""

    database: Path
    first_seq: int  # the seq of the announcing event; new events follow it
    birth: int  # the last birth used; the next connection is birth + 1
    kept: list[Path]  # the files that were in place, under their new names


def reinitialise(db: Path, store_id: str) -> Recovered:
    """An empty database for store `store_id` (catalogue, labels, history, inbox lost), seq and birth continuing."""
    with _exclusive(db):
        state, seq, birth = _floors(db, store_id)
        kept = _set_aside(db, "reinitialise")
        create(db, {"core": CORE}, StoreState(state.store_uuid, store_id, state.created_at, seq, birth),
               announce=("store.reinitialised", {"seq_floor": seq, "birth_floor": birth,
                                                 "reason": "store-edge reinitialise: the local database was started over empty"}))
    return Recovered(db, seq + 1, birth, kept)


def restore(db: Path, backup: Path, store_id: str) -> Recovered:
    """The backup `backup` of store `store_id` as the database, its seq and birth lifted above the floors."""
    check_file(backup)
    with closing(_open(backup)) as source:
        quick_check(source, backup)
        owner = source.execute("SELECT value FROM meta WHERE key = 'store_id'").fetchone()
        if owner is not None and owner[0] != store_id:
            raise StoreRefused(f"{backup} is store {owner[0]}'s database, not store {store_id}'s")
        backup_seq, backup_birth = counters(source)
        with _exclusive(db):
            state, seq, birth = _floors(db, store_id)
            seq, birth = max(seq, backup_seq), max(birth, backup_birth)
            building = db.with_name(db.name + ".restoring")
            building.unlink(missing_ok=True)
            with closing(sqlite3.connect(building)) as target:
                source.backup(target)
            _lift(building, state, store_id, seq, birth, backup)
            kept = _set_aside(db, "restore")
            os.replace(building, db)
            sync_folder(db.parent)
            write_state(db, StoreState(state.store_uuid, store_id, state.created_at,
                                       reserve(seq + 1, SEQ_BLOCK), reserve(birth, BIRTH_BLOCK)))
    return Recovered(db, seq + 1, birth, kept)


def _open(path: Path) -> sqlite3.Connection:
    """A connection to a file to be checked; SQLite's refusal becomes ours."""
    try:
        return sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as err:
        raise damaged(path, err) from None


def _lift(path: Path, state: StoreState, store_id: str, seq: int, birth: int, backup: Path) -> None:
    """In the copy: this store's identity, the counters at the floors, and the `store.restored` event."""
    conn = connect(path)
    try:
        conn.execute("BEGIN IMMEDIATE")
        for key, value in (("store_uuid", state.store_uuid), ("store_id", store_id), ("birth", str(birth))):
            conn.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value", (key, value))
        conn.execute("DELETE FROM sqlite_sequence WHERE name = 'outbox'")
        conn.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('outbox', ?)", (seq,))
        data = {"backup": backup.name, "seq_floor": seq, "birth_floor": birth, "reason": "store-edge restore: the database was put back from a backup"}
        conn.execute("INSERT INTO outbox (id, kind, ts, data) VALUES (?, 'store.restored', ?, ?)",
                     (new_event_id(), utc_now(), json.dumps(data, ensure_ascii=False, separators=(",", ":"))))
        conn.execute("COMMIT")
    finally:
        conn.close()


def _floors(db: Path, store_id: str) -> tuple[StoreState, int, int]:
    """The identity to keep and the seq and birth to continue above: the state file's floors and the old file's counters."""
    try:
        state = read_state(db)
    except StoreRefused:
        state = None  # an unreadable state file: the old database's counters are all there is
    seq = birth = 0
    if state is not None:
        seq, birth = state.seq_floor, state.birth_floor
    if db.exists() and db.stat().st_size:
        try:
            with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as old:
                old_seq, old_birth = counters(old)
            seq, birth = max(seq, old_seq), max(birth, old_birth)
        except sqlite3.Error:
            pass  # too damaged to say: the floors stand
    return state or StoreState(str(uuid.uuid4()), store_id, utc_now()), seq, birth


def _set_aside(db: Path, action: str) -> list[Path]:
    """Rename the database and its log files out of the way, dated; returns their new names."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    kept = []
    for suffix in ("", "-wal", "-shm"):
        path = Path(f"{db}{suffix}")
        if path.exists():
            target = db.with_name(f"{db.name}.before-{action}-{stamp}{suffix}")
            os.replace(path, target)
            kept.append(target)
    sync_folder(db.parent)
    return kept


@contextmanager
def _exclusive(db: Path) -> Iterator[None]:
    """Hold the database file exclusively: refused while a daemon (which holds it shared) has it open."""
    if not db.exists():
        yield
        return
    fd = os.open(db, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StoreError(f"{db} is in use by a running store-edge: stop it first (systemctl stop store-edge)") from None
        yield
    finally:
        os.close(fd)
