"""One SQLite file in WAL mode, written by a single thread that group-commits, read by another.

Why one writer thread: SQLite allows one writer at a time anyway; funnelling every write
through one thread removes lock contention, keeps the event loop free, and lets many
small writes (an event here, a command there) share one fsync (group commit). Every
write function runs inside a SAVEPOINT, so one failing write never spoils the others
in its batch.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

import sqlite_utils
import structlog

from edge.store.errors import DiskFull, is_disk_full
from edge.store.identity import BIRTH_BLOCK, SEQ_BLOCK, open_database, reserve, write_state
from edge.store.migrations import CORE, Step
from edge.store.sqlite import connect as _connect
from edge.store.sqlite import new_event_id, utc_now

T = TypeVar("T")
log = structlog.get_logger("store")

_BATCH_MAX = 500
#: Writes waiting for space are retried this often (and at once when space is back).
PARK_RETRY_S = 2.0
#: `disk_full` ends with a successful write when at least this much is free (no flapping at the edge).
SPACE_BACK_BYTES = 4 * 1024 * 1024
#: The `changed()` topic set when `disk_full` changes.
DISK_TOPIC = "store.disk"
#: Marks a wake-up of the writer to retry parked writes.
_RETRY: Any = object()


def _cancelled(item: _Write) -> bool:
    """Whether the caller of a waiting write has given up on it."""
    return isinstance(item.future, asyncio.Future) and item.future.cancelled()


def _free_bytes(path: Path) -> int | None:
    """Bytes free for us on the database's file system (None if it cannot say)."""
    try:
        st = os.statvfs(path.parent)
    except OSError:
        return None
    return st.f_bavail * st.f_frsize


def _space_to_spare(path: Path) -> bool:
    """Whether the file system has SPACE_BACK_BYTES free (a tenth of it, if it is smaller than 40 MiB)."""
    try:
        st = os.statvfs(path.parent)
    except OSError:
        return True
    return st.f_bavail * st.f_frsize >= min(SPACE_BACK_BYTES, st.f_blocks * st.f_frsize // 10)


@dataclass
class Tx:
    """The handle a write function gets: the database, plus event emission and change notices."""

    db: sqlite_utils.Database
    _touched: set[str] = field(default_factory=set)
    _after: list[Callable[[], None]] = field(default_factory=list)
    _seq: int = 0  # the highest seq this transaction handed out
    _birth: int = 0  # the birth it recorded (save_birth)

    @property
    def conn(self) -> sqlite3.Connection:
        """The raw connection, for SQL that sqlite-utils does not express well."""
        return self.db.conn

    def emit(self, kind: str, data: dict[str, Any]) -> int:
        """Queue an event in the outbox, atomically with the state change of this transaction; returns its seq."""
        cur = self.conn.execute(
            "INSERT INTO outbox (id, kind, ts, data) VALUES (?, ?, ?, ?)",
            (new_event_id(), kind, utc_now(), json.dumps(data, ensure_ascii=False, separators=(",", ":"))),
        )
        self._touched.add("outbox")
        self._seq = int(cur.lastrowid or 0)
        return self._seq

    def notify(self, topic: str) -> None:
        """Wake whoever waits on `topic` once this transaction has committed."""
        self._touched.add(topic)

    def after_commit(self, fn: Callable[[], None]) -> None:
        """Run `fn` on the event loop once this write has committed (never if it rolls back).

        For effects outside the database, e.g. scheduling a job: doing that inside the
        transaction could wait on the very lock this transaction holds.
        """
        self._after.append(fn)


@dataclass(eq=False)
class _Write:
    """One queued write and the future its caller waits on (a loop's own future, or a thread's)."""

    fn: Callable[[Tx], Any]
    future: Future[Any] | asyncio.Future[Any]
    park: bool = False  # on a full disk, wait for space instead of failing
    dry: bool = False  # run and roll back: a read that may try to write (see Store.dry_run)
    started: bool = False

    def start(self) -> bool:
        """False if the caller gave up (cancelled) before the write began; then it is skipped."""
        if isinstance(self.future, Future):
            if not self.started:
                self.started = True
                return self.future.set_running_or_notify_cancel()
            return True
        return not self.future.cancelled()


class Store:
    """The daemon's only durable state; use `write` for changes and `read` for queries."""

    def __init__(self, path: Path, max_outbox: int = 1_000_000, schemas: dict[str, list[Step]] | None = None,
                 store_id: str | None = None) -> None:
        """Open (or create) the database, refusing one that is missing, empty, damaged or another store's (StoreRefused).

        `store_id`, when given, must be the store the database was made for (edge/store/identity.py).
        """
        self.path = path
        self.max_outbox = max_outbox
        path.parent.mkdir(parents=True, exist_ok=True)
        self.identity, self.schema_versions = open_database(path, {"core": CORE, **(schemas or {})}, store_id)
        self._lock = _share(path)
        self._queue: queue.SimpleQueue[_Write | None] = queue.SimpleQueue()
        self._writer = threading.Thread(target=self._write_loop, name="store-writer", daemon=True)
        self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store-reader")
        self._read_db: sqlite_utils.Database | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiters: dict[str, asyncio.Event] = {}
        self._closed = False
        self._disk_full = False
        self._writer.start()

    # -- async API ---------------------------------------------------------------------------

    def write(self, fn: Callable[[Tx], T], *, wait_for_space: bool = True) -> asyncio.Future[T]:
        """Run `fn` in one transaction on the writer thread; the future resolves once it is durably committed.

        A future of the caller's loop, not a coroutine: awaiting it (or gathering many) costs no
        task, and the writer resolves a whole batch of them in one loop callback. With the disk
        full the write waits, retried every few seconds, until it fits (a job's writer pauses
        instead of crashing); `wait_for_space=False` fails it with `DiskFull` at once instead.
        """
        return self._queued(fn, park=wait_for_space)

    def dry_run(self, fn: Callable[[Tx], T]) -> asyncio.Future[tuple[T, bool]]:
        """Run `fn` on the writer thread in a transaction that is always rolled back: (its value, whether it changed rows).

        For answering what needs no write while nothing can be written (a full disk): a
        command handler runs as usual, and only if it changed nothing is its answer used.
        """
        return self._queued(fn, dry=True)

    def _queued(self, fn: Callable[[Tx], Any], park: bool = False, dry: bool = False) -> asyncio.Future[Any]:
        """Queue `fn` with a future of the running loop."""
        if self._closed:
            raise RuntimeError("store is closed")
        loop = asyncio.get_running_loop()
        self._loop = self._loop or loop
        fut: asyncio.Future[Any] = loop.create_future()
        self._queue.put(_Write(fn, fut, park=park, dry=dry))
        return fut

    @property
    def disk_full(self) -> bool:
        """True from a write that found no space until one that changed rows succeeded with space to spare."""
        return self._disk_full

    async def read(self, fn: Callable[[sqlite_utils.Database], T]) -> T:
        """Run a query off the event loop on a read connection (WAL: readers never block the writer)."""
        self._loop = self._loop or asyncio.get_running_loop()
        return await self._loop.run_in_executor(self._reader, self._run_read, fn)

    def changed(self, topic: str) -> asyncio.Event:
        """An event set after any commit that touched `topic`; the waiter clears it before re-reading."""
        self._loop = self._loop or asyncio.get_running_loop()
        return self._waiters.setdefault(topic, asyncio.Event())

    # -- sync API (writer thread, tests, CLI) ------------------------------------------------

    def submit(self, fn: Callable[[Tx], T]) -> Future[T]:
        """Queue a write from any thread; the future resolves after commit."""
        if self._closed:
            raise RuntimeError("store is closed")
        try:
            self._loop = self._loop or asyncio.get_running_loop()
        except RuntimeError:
            pass
        fut: Future[T] = Future()
        self._queue.put(_Write(fn, fut))
        return fut

    def write_sync(self, fn: Callable[[Tx], T]) -> T:
        """Blocking write, for code that has no event loop (CLI, tests, scheduled callbacks in threads)."""
        return self.submit(fn).result()

    def read_sync(self, fn: Callable[[sqlite_utils.Database], T]) -> T:
        """Blocking read on the read connection."""
        return self._reader.submit(self._run_read, fn).result()

    async def aclose(self) -> None:
        """`close` from the event loop: the writer thread is joined on a worker thread, never on the loop."""
        await asyncio.to_thread(self.close)

    def close(self) -> None:
        """Finish queued writes, then stop the threads (blocking: on a loop, use `aclose`)."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(None)
        self._writer.join(timeout=30)
        self._reader.submit(self._close_read).result()
        self._reader.shutdown(wait=True)
        os.close(self._lock)

    # -- threads -----------------------------------------------------------------------------

    def _close_read(self) -> None:
        """Close the read connection on its own thread (the last connection to close removes the log files)."""
        if self._read_db is not None:
            self._read_db.conn.close()
            self._read_db = None

    def _run_read(self, fn: Callable[[sqlite_utils.Database], T]) -> T:
        if self._read_db is None:
            self._read_db = sqlite_utils.Database(_connect(self.path))
        return fn(self._read_db)

    def _write_loop(self) -> None:
        """Take queued writes in batches; writes parked for space are retried every PARK_RETRY_S (or as soon as space is back)."""
        db = sqlite_utils.Database(_connect(self.path))
        parked: list[_Write] = []
        retry_at = 0.0
        stop = False
        while not stop:
            batch: list[_Write] = []
            try:
                first = self._queue.get(timeout=max(0.0, retry_at - time.monotonic()) if parked else None)
            except queue.Empty:
                first = None if not parked else _RETRY
            if first is None:
                break
            if first is not _RETRY:
                batch.append(first)
            if parked and time.monotonic() >= retry_at:
                batch, parked = [*parked, *batch], []
            while len(batch) < _BATCH_MAX:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                batch.append(item)
            waiting = [item for item in self._run_batch(db, batch) if not _cancelled(item)]
            if waiting:
                parked += waiting
                retry_at = time.monotonic() + PARK_RETRY_S
            elif parked and not self._disk_full:
                retry_at = 0.0  # space is back: retry the parked writes now
        self._settle([(item, False, self._no_space()) for item in parked], [], set())
        db.conn.close()

    def _run_batch(self, db: sqlite_utils.Database, batch: list[_Write]) -> list[_Write]:
        """Commit runs of writes, each dry run on its own; returns the writes parked for want of space."""
        waiting: list[_Write] = []
        run: list[_Write] = []
        for item in [*batch, None]:
            if item is not None and not item.dry:
                run.append(item)
                continue
            if run:
                waiting += self._commit_batch(db, run)
                run = []
            if item is not None:
                self._dry_run(db, item)
        return waiting

    def _no_space(self, err: BaseException | None = None) -> DiskFull:
        """The error a write gets when the disk is full."""
        error = DiskFull(f"no space left to write {self.path} (database or disk is full)")
        error.__cause__ = err
        return error

    def _dry_run(self, db: sqlite_utils.Database, item: _Write) -> None:
        """Run `item.fn` in a transaction and roll it back; its value and whether it changed rows go to the caller."""
        if not item.start():
            return
        conn = db.conn
        tx = Tx(db)
        before = conn.total_changes
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                value = item.fn(tx)
                outcome: tuple[bool, Any] = (True, (value, conn.total_changes != before or bool(tx._touched)))
            finally:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
        except BaseException as err:  # the caller gets the error
            outcome = (False, self._no_space(err) if is_disk_full(err) else err)
        self._settle([(item, *outcome)], [], set())

    def _commit_batch(self, db: sqlite_utils.Database, batch: list[_Write]) -> list[_Write]:
        """Group commit: one transaction and one fsync for the whole batch, a savepoint per write.

        Returns the writes that wait for space (the disk is full and they asked to wait);
        the others get their result or error.
        """
        conn = db.conn
        results: list[tuple[_Write, bool, Any]] = []
        waiting: list[_Write] = []
        touched: set[str] = set()
        after: list[Callable[[], None]] = []
        before = conn.total_changes
        seq = birth = 0
        try:
            conn.execute("BEGIN IMMEDIATE")
            for item in batch:
                if not item.start():
                    continue
                tx = Tx(db)
                conn.execute("SAVEPOINT w")
                try:
                    value = item.fn(tx)
                except BaseException as err:  # the caller gets the error; the batch goes on
                    conn.execute("ROLLBACK TO w")
                    conn.execute("RELEASE w")
                    if is_disk_full(err):
                        self._note_disk_full()
                        (waiting.append(item) if item.park else results.append((item, False, self._no_space(err))))
                    else:
                        results.append((item, False, err))
                    continue
                conn.execute("RELEASE w")
                touched |= tx._touched
                after += tx._after
                seq, birth = max(seq, tx._seq), max(birth, tx._birth)
                results.append((item, True, value))
            if "outbox" in touched:
                bound = Tx(db)
                self._enforce_outbox_bound(bound)
                seq = max(seq, bound._seq)
            self._raise_floors(seq, birth)
            conn.execute("COMMIT")
        except BaseException as err:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            unsettled = [item for item in batch if item not in waiting]
            if not is_disk_full(err):
                log.error("store.commit.failed", error=str(err), batch=len(batch))
                self._settle([(item, False, err) for item in unsettled], [], set())
                return waiting
            self._note_disk_full()
            failed = self._no_space(err)
            waiting += [item for item in unsettled if item.park]
            self._settle([(item, False, failed) for item in unsettled if not item.park], [], set())
            return waiting
        if conn.total_changes != before:
            self._note_space()
        self._settle(results, after, touched)
        return waiting

    def _raise_floors(self, seq: int, birth: int) -> None:
        """Before a commit hands out a seq or birth above the state file's floors, raise them (a block ahead: rarely written)."""
        state = self.identity
        if seq <= state.seq_floor and birth <= state.birth_floor:
            return
        self.identity = write_state(self.path, replace(
            state,
            seq_floor=reserve(seq, SEQ_BLOCK) if seq > state.seq_floor else state.seq_floor,
            birth_floor=reserve(birth, BIRTH_BLOCK) if birth > state.birth_floor else state.birth_floor,
        ))

    def _note_disk_full(self) -> None:
        """A write found no space: say so once (WARNING), and let `disk_full` watchers know."""
        if self._disk_full:
            return
        self._disk_full = True
        log.warning("store.disk_full", path=str(self.path), free_bytes=_free_bytes(self.path),
                    hint="writes wait or answer busy until space is freed; reads go on")
        self._settle([], [], {DISK_TOPIC})

    def _note_space(self) -> None:
        """A write that changed rows committed: if the disk was full and has room to spare again, say it is over."""
        if not self._disk_full:
            return
        if not _space_to_spare(self.path):
            return
        self._disk_full = False
        log.info("store.disk_space_back", path=str(self.path), free_bytes=_free_bytes(self.path))
        self._settle([], [], {DISK_TOPIC})

    def _settle(self, results: list[tuple[_Write, bool, Any]], after: list[Callable[[], None]], touched: set[str]) -> None:
        """Resolve the batch's futures: thread futures here, each loop's futures in one callback on that loop.

        On the loop, the after-commit callbacks run first and the change notices last, so a
        writer sees its own effects done and a waiter re-reads after the writers resumed.
        """
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], bool, Any]]] = {}
        for item, ok, value in results:
            fut = item.future
            if isinstance(fut, Future):
                if not fut.done():
                    fut.set_result(value) if ok else fut.set_exception(value)
            else:
                by_loop.setdefault(fut.get_loop(), []).append((fut, ok, value))
        loop = self._loop
        if loop is not None and not loop.is_closed() and (after or touched):
            by_loop.setdefault(loop, [])
        elif after:
            self._run_callbacks(after)  # no loop to run them on (CLI, a closed loop): run them here
            after = []
        for target, settled in by_loop.items():
            mine = target is loop
            try:
                target.call_soon_threadsafe(self._resolve, settled, after if mine else [], touched if mine else set())
            except RuntimeError:  # that loop closed while we committed: nobody waits any more
                pass

    def _resolve(self, settled: list[tuple[asyncio.Future[Any], bool, Any]], after: list[Callable[[], None]], touched: set[str]) -> None:
        """On the loop: after-commit callbacks, then the writers' futures, then the change notices."""
        self._run_callbacks(after)
        for fut, ok, value in settled:
            if not fut.done():
                fut.set_result(value) if ok else fut.set_exception(value)
        for topic in touched:
            event = self._waiters.get(topic)
            if event is not None:
                event.set()

    @staticmethod
    def _run_callbacks(callbacks: list[Callable[[], None]]) -> None:
        """After-commit callbacks; one that fails is logged and the others still run."""
        for fn in callbacks:
            try:
                fn()
            except Exception:
                log.exception("store.after_commit.failed")

    def _enforce_outbox_bound(self, tx: Tx) -> None:
        """When the outbox is full, drop the oldest 1 % in one go and announce the gap in an `outbox.overflow` event.

        Dropping a chunk (not one row per insert) keeps the notices rare, so a long outage
        does not fill the outbox with notices about itself.
        """
        low, high = outbox_span(tx.conn)
        if low is None or high - low + 1 <= self.max_outbox:
            return
        cut = high - self.max_outbox + max(10, self.max_outbox // 100)
        dropped = tx.conn.execute("DELETE FROM outbox WHERE seq <= ?", (cut,)).rowcount
        log.warning("outbox.overflow", dropped=dropped, first_seq=low, last_seq=cut)
        tx.emit("outbox.overflow", {"dropped": dropped, "first_seq": low, "last_seq": cut})

def outbox_span(conn: sqlite3.Connection) -> tuple[int | None, int | None]:
    """The oldest and newest seq in the outbox, two index look-ups whatever its length.

    Not `SELECT min(seq), max(seq)`: SQLite's min/max shortcut works for a lone aggregate only,
    and that query scans the whole table (100,000 queued events made every write ~50 ms slower).
    """
    low, high = conn.execute("SELECT (SELECT min(seq) FROM outbox), (SELECT max(seq) FROM outbox)").fetchone()
    return low, high


def outbox_depth(conn: sqlite3.Connection) -> int:
    """Events queued in the outbox: its seq span (seqs are dense and leave from the oldest up), without counting rows."""
    low, high = outbox_span(conn)
    return 0 if low is None or high is None else high - low + 1


def save_birth(tx: Tx, birth: int) -> None:
    """Record the sync link's connection counter (kept above the state file's birth floor)."""
    set_meta(tx, "birth", str(birth))
    tx._birth = birth


def _share(path: Path) -> int:
    """Hold a shared lock on the database file while open, so the recovery commands can tell it is in use."""
    fd = os.open(path, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_SH)
    return fd


def set_meta(tx: Tx, key: str, value: str) -> None:
    """Store a small named value in the same transaction as the caller's other work."""
    tx.conn.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        (key, value),
    )


def get_meta(db: sqlite_utils.Database, key: str) -> str | None:
    """Read a small named value with any connection."""
    row = db.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
    return row[0] if row else None
