"""A small file system that a test can fill and free: a real tmpfs, so SQLite meets a real ENOSPC (SQLITE_FULL).

Mounting needs root (as CI runs); elsewhere the tests that use it are skipped with that reason.
Before filling, the database's write-ahead log is checkpointed and truncated: SQLite reuses the
space a log already has, so on a full disk with a long log small writes still fit, which would
make the test depend on what ran before it.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


@contextmanager
def small_disk(where: Path, size: str = "8m") -> Iterator[Path]:
    """A tmpfs of `size` mounted at `where` for the duration (lazily unmounted after)."""
    where.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(where)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs for the full-disk test (needs root): {done.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def truncate_log(db: Path, timeout: float = 10.0) -> None:
    """Checkpoint the database and truncate its write-ahead log to 0 bytes (retrying while a reader is in the way)."""
    deadline = time.monotonic() + timeout
    conn = sqlite3.connect(db, timeout=timeout)
    try:
        while True:
            busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            if not busy or time.monotonic() > deadline:
                break
            time.sleep(0.05)
    finally:
        conn.close()
    assert not busy, "could not truncate the write-ahead log"


def fill(disk: Path) -> Path:
    """Fill the file system to the last block; returns the filler file."""
    filler = disk / "filler"
    with open(filler, "ab", buffering=0) as f:
        for size in (1 << 20, 4096, 512, 1):
            try:
                while True:
                    f.write(b"\0" * size)
            except OSError:
                pass
    assert os.statvfs(disk).f_bavail == 0
    return filler
