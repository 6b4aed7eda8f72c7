"""Which store a database file is, and the floors its counters never fall below: a small state file beside it.

The database alone cannot tell "a new store" from "a store whose file was emptied, lost or
damaged": both look like no file, or a file with no rows. The state file (`<database>.state`,
JSON, written atomically) remembers the store's identity (a random uuid and the store id, made
when the database was first created) and a floor for `seq` and `birth` (above everything handed
out, raised a block at a time so it is written rarely: once per SEQ_BLOCK events). At start:

- no database and no state file: a new store (the database is made under another name and
  renamed into place, so a crash never leaves a half-made file that passes for a store);
- a database without a state file (a store from before this file existed): the state file is
  made from the database;
- a state file but no database, an empty (0-byte) one, one that is not SQLite, one that fails
  `PRAGMA quick_check`, another store's, or a copy far older than the floors: refused
  (StoreRefused, one line naming the file and the recovery commands), never started afresh.

`store-edge restore` and `store-edge reinitialise` (edge/store/recovery.py) put a database in
place deliberately; both continue `seq` and `birth` above the floors.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import structlog

from edge.store.errors import StoreError, StoreRefused, is_disk_full
from edge.store.migrations import Step, migrate
from edge.store.sqlite import connect, new_event_id, utc_now

log = structlog.get_logger("store")

#: `seq` and `birth` floors are raised this far ahead of what was handed out.
SEQ_BLOCK = 10_000
BIRTH_BLOCK = 100
#: A database whose seq is this far below the floor is an older copy put in place by hand. (A
#: healthy one is at most two blocks below; the margin covers a large batch that raised the
#: floor and then failed to commit.)
STALE_SEQS = 10 * SEQ_BLOCK
#: The first 16 bytes of every SQLite database file.
HEADER = b"SQLite format 3\x00"
#: What the operator can do, in every refusal.
RECOVERY = ("restore a backup with `store-edge restore --config <configuration> --from <backup>`, or start over empty "
            "(catalogue, labels and history lost; seq and birth continue) with "
            "`store-edge reinitialise --config <configuration> --yes-lose-local-state`")
_SQLITE_CORRUPT, _SQLITE_NOTADB = 11, 26


@dataclass(frozen=True)
class StoreState:
    """What the state file holds."""

    store_uuid: str
    store_id: str | None
    created_at: str
    seq_floor: int = 0
    birth_floor: int = 0


def state_path(db: Path) -> Path:
    """The state file of database `db`."""
    return db.with_name(db.name + ".state")


def reserve(value: int, block: int) -> int:
    """A floor for `value`: at least a whole block above it, on a block boundary."""
    return (value // block + 2) * block


def read_state(db: Path) -> StoreState | None:
    """The state file's contents, None if there is none; a file that cannot be read as one is refused."""
    path = state_path(db)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return StoreState(
            store_uuid=str(raw["store_uuid"]), store_id=raw.get("store_id"), created_at=str(raw.get("created_at", "")),
            seq_floor=int(raw["seq_floor"]), birth_floor=int(raw["birth_floor"]),
        )
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise StoreRefused(f"{path} cannot be read ({type(err).__name__}: {err}); {RECOVERY}") from None


def write_state(db: Path, state: StoreState) -> StoreState:
    """Replace the state file atomically (temporary file, fsync, rename, fsync of the folder); floors never go down.

    Raises OSError (ENOSPC on a full disk: the caller treats it as one).
    """
    path = state_path(db)
    with contextlib.suppress(StoreRefused):
        current = read_state(db)
        if current is not None and current.store_uuid == state.store_uuid:
            state = replace(state, seq_floor=max(state.seq_floor, current.seq_floor),
                            birth_floor=max(state.birth_floor, current.birth_floor))
    temporary = path.with_name(path.name + ".tmp")
    data = (json.dumps(asdict(state), indent=1) + "\n").encode()
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temporary, path)
    sync_folder(path.parent)
    return state


def sync_folder(folder: Path) -> None:
    """fsync a folder, so a rename in it survives power loss."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def counters(conn: sqlite3.Connection) -> tuple[int, int]:
    """The highest seq the database ever handed out and its birth."""
    row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").fetchone()
    birth = conn.execute("SELECT value FROM meta WHERE key = 'birth'").fetchone()
    return (int(row[0]) if row else 0), (int(birth[0]) if birth else 0)


def check_file(db: Path) -> None:
    """Refuse a database file that is empty or not SQLite at all, before SQLite is asked to open it."""
    try:
        with open(db, "rb") as f:
            head = f.read(len(HEADER))
    except OSError as err:
        raise StoreError(f"cannot read {db}: {err.strerror}") from None
    if not head:
        raise StoreRefused(f"{db} is empty (0 bytes){_known(db)}; {RECOVERY}")
    if head != HEADER:
        raise StoreRefused(f"{db} is damaged: its header is not SQLite's{_known(db)}; {RECOVERY}")


def _known(db: Path) -> str:
    """`, but <state file> says it is store s1's database (seq up to N handed out)` when there is a state file."""
    try:
        state = read_state(db)
    except StoreRefused:
        return ""
    if state is None:
        return ""
    whose = f"store {state.store_id}'s" if state.store_id else "this store's"
    return f", but {state_path(db).name} says it is {whose} database (seq below {state.seq_floor} handed out)"


def damaged(db: Path, err: sqlite3.Error) -> StoreError:
    """A SQLite error met while opening or checking `db`: damage is refused; anything else (a full disk, permissions) is not."""
    code = (getattr(err, "sqlite_errorcode", 0) or 0) & 0xFF
    if code in (_SQLITE_CORRUPT, _SQLITE_NOTADB):
        return StoreRefused(f"{db} is damaged ({err}){_known(db)}; {RECOVERY}")
    if is_disk_full(err):
        return StoreError(f"cannot open {db}: its disk is full ({err}); free some space")
    return StoreError(f"cannot open {db}: {err}")


def quick_check(conn: sqlite3.Connection, db: Path) -> None:
    """`PRAGMA quick_check`: the b-trees and pages are sound (not every index entry: that is integrity_check)."""
    problems = [row[0] for row in conn.execute("PRAGMA quick_check(5)")]
    if problems != ["ok"]:
        found = " ".join("; ".join(problems).split())  # one line: SQLite's own lines can hold line breaks
        raise StoreRefused(f"{db} is damaged (quick_check: {found[:300]}){_known(db)}; {RECOVERY}")


def create(db: Path, owners: Mapping[str, Sequence[Step]], state: StoreState, announce: tuple[str, dict[str, object]] | None = None) -> None:
    """Make a database at `db` (which must not exist) with every owner's tables, `state`'s identity and counters from its floors.

    Built as `<db>.new` and renamed into place, then the state file is written: a crash at
    any point leaves either no database (made again next time) or a whole one.
    `announce` is an event queued first (seq floor + 1), e.g. `store.reinitialised`.
    """
    building = db.with_name(db.name + ".new")
    for leftover in (building, Path(f"{building}-wal"), Path(f"{building}-shm")):
        leftover.unlink(missing_ok=True)
    conn = connect(building)
    try:
        migrate(conn, owners)
        conn.execute("BEGIN IMMEDIATE")
        for key, value in (("store_uuid", state.store_uuid), ("store_id", state.store_id), ("birth", str(state.birth_floor))):
            if value is not None:
                conn.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value", (key, value))
        if state.seq_floor:
            conn.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('outbox', ?)", (state.seq_floor,))
        if announce is not None:
            kind, data = announce
            conn.execute("INSERT INTO outbox (id, kind, ts, data) VALUES (?, ?, ?, ?)",
                         (new_event_id(), kind, utc_now(), json.dumps(data, ensure_ascii=False, separators=(",", ":"))))
        conn.execute("COMMIT")
        seq, birth = counters(conn)
    finally:
        conn.close()
    os.replace(building, db)
    sync_folder(db.parent)
    write_state(db, replace(state, seq_floor=reserve(seq, SEQ_BLOCK), birth_floor=reserve(birth, BIRTH_BLOCK)))


def open_database(db: Path, owners: Mapping[str, Sequence[Step]], store_id: str | None) -> tuple[StoreState, dict[str, int]]:
    """Check (or create) the database at `db` as described above, migrate it; returns its state and the schema versions."""
    state = read_state(db)
    if not db.exists():
        if state is not None:
            raise StoreRefused(f"{db} is missing{_known(db)}; {RECOVERY}")
        create(db, {"core": owners["core"]}, StoreState(str(uuid.uuid4()), store_id, utc_now()))  # the others migrate below
        state = read_state(db)
        assert state is not None
    check_file(db)
    try:
        conn = connect(db)
    except sqlite3.Error as err:
        raise damaged(db, err) from None
    try:
        try:
            quick_check(conn, db)
            versions = migrate(conn, owners)
            meta = dict(conn.execute("SELECT key, value FROM meta WHERE key IN ('store_uuid', 'store_id')").fetchall())
            seq, birth = counters(conn)
        except sqlite3.DatabaseError as err:
            raise damaged(db, err) from None
        state = _reconcile(db, conn, state, meta, store_id, seq, birth)
    finally:
        conn.close()
    return state, versions


def _reconcile(db: Path, conn: sqlite3.Connection, state: StoreState | None, meta: dict[str, str], store_id: str | None,
               seq: int, birth: int) -> StoreState:
    """Match the database's identity with the state file's (or make one), and keep the floors above its counters."""
    if state is None:
        state = StoreState(meta.get("store_uuid") or str(uuid.uuid4()), meta.get("store_id") or store_id, utc_now())
        log.warning("store.state.created", path=str(state_path(db)), store_id=state.store_id,
                    reason="a database without a state file (first start of this version, or the file was deleted)")
    elif meta.get("store_uuid") is None:
        raise StoreRefused(f"{db} is not the database {state_path(db).name} describes (it has no store identity: a copy "
                           f"from before it existed?); to use it, `store-edge restore --config <configuration> --from` it")
    elif meta["store_uuid"] != state.store_uuid:
        raise StoreRefused(f"{db} is another store installation's database (uuid {meta['store_uuid']}, "
                           f"{state_path(db).name} says {state.store_uuid}); {RECOVERY}")
    elif seq < state.seq_floor - STALE_SEQS:
        raise StoreRefused(f"{db} is an older copy (its seq is {seq}, but seqs up to {state.seq_floor - 2 * SEQ_BLOCK} at "
                           f"least were handed out); starting it would repeat seqs headquarters has seen: to take it as a "
                           f"backup, `store-edge restore --config <configuration> --from` a copy of it")
    known = meta.get("store_id") or state.store_id
    if store_id is not None and known is not None and known != store_id:
        raise StoreRefused(f"{db} is store {known}'s database, but the configuration says store {store_id}; "
                           f"point [data] dir elsewhere, or {RECOVERY}")
    missing = [(key, value) for key, value in (("store_uuid", state.store_uuid), ("store_id", known or store_id))
               if value is not None and meta.get(key) != value]
    if missing:
        try:
            with conn:
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value", missing)
        except sqlite3.Error as err:
            if not is_disk_full(err):
                raise damaged(db, err) from None
            log.warning("store.identity.unsaved", path=str(db), reason="disk full")  # written at the next start
    wanted = replace(state, store_id=known or store_id,
                     seq_floor=max(state.seq_floor, reserve(seq, SEQ_BLOCK) if seq >= state.seq_floor else 0),
                     birth_floor=max(state.birth_floor, reserve(birth, BIRTH_BLOCK) if birth >= state.birth_floor else 0))
    if wanted != state or not state_path(db).exists():
        try:
            state = write_state(db, wanted)
        except OSError as err:
            if not is_disk_full(err):
                raise
            log.warning("store.state.unsaved", path=str(state_path(db)), reason="disk full")  # kept in memory; written with the next floor
            state = wanted
    return state
