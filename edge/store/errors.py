"""The store's errors: what callers can act on, each a `StoreError`."""

from __future__ import annotations

import errno
import sqlite3

#: SQLite's primary result code for "database or disk is full".
SQLITE_FULL = 13
#: OS errors that mean the same for the files beside the database.
_NO_SPACE = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


class StoreError(Exception):
    """The store could not do what was asked."""


class DiskFull(StoreError):
    """Nothing can be written: the database's file system (or its quota) is full; reads still work."""


class StoreRefused(StoreError):
    """The database file must not be used as it is (missing, empty, damaged, another store's); a person has to act.

    `store-edge run` prints the message on one line and exits with `exit_status`, which the
    systemd unit lists in RestartPreventExitStatus= (no restart loop).
    """

    exit_status = 2


def is_disk_full(err: BaseException) -> bool:
    """Whether `err` is SQLite's SQLITE_FULL or an OS error saying there is no space."""
    if isinstance(err, DiskFull):
        return True
    if isinstance(err, sqlite3.Error):
        return (getattr(err, "sqlite_errorcode", 0) or 0) & 0xFF == SQLITE_FULL
    return isinstance(err, OSError) and err.errno in _NO_SPACE
