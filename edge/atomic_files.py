"""Durable file steps (config.set, artifacts): what is on disk after a power cut or kill -9 is a whole old file or a whole new one."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from edge.store.identity import sync_folder


def write_atomically(path: Path, data: bytes) -> None:
    """Write beside, fsync, rename over (keeping the old file's mode), fsync the folder: a reader sees the old file or the new one."""
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if path.exists():
            os.chmod(temp, stat.S_IMODE(path.stat().st_mode))
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    sync_folder(path.parent)
