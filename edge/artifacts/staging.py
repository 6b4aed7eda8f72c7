"""Installs in progress: chunk files under `<data>/artifacts/.staging/<kind>/<version>/`, resumable after a link cut or a restart.

Each file arrives as `<name>.part`, written at `index * CHUNK_SIZE` and fsynced; only then is the chunk recorded in
`<name>.have` (one line `index:sha256-of-chunk`, appended and fsynced), so after kill -9 a recorded chunk is on disk
and an unrecorded one is simply missing again (a torn last line is not a whole record and is ignored). When every chunk
is in, each file's size and SHA-256 are checked, the parts renamed to their names, the records removed, and the folder
renamed in one step to `<data>/artifacts/<kind>/<version>/`: a version folder is whole or absent.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from edge.artifacts.errors import (
    ChunkConflict,
    ChunkRefused,
    NoRoom,
    NotStaging,
    VersionConflict,
)
from edge.artifacts.manifest import CHUNK_SIZE, FileEntry, Manifest
from edge.atomic_files import write_atomically
from edge.store.identity import sync_folder

STAGING = ".staging"
#: Installs in progress at once (all kinds); another is refused until one finishes or goes stale.
MAX_INSTALLS = 4
#: An install no chunk reached for this long is dropped when the daemon starts.
STALE_S = 7 * 24 * 3600
_RECORD = re.compile(rb"^(\d{1,9}):([0-9a-f]{64})$")


@dataclass(frozen=True)
class Finished:
    """What the last chunk led to: installed, or the files whose hash was wrong (their chunks discarded for a resend)."""

    installed: bool
    problems: list[str]


def staging_dir(root: Path, kind: str, version: str) -> Path:
    """Where an install of `kind` `version` is staged (`root`: `<data>/artifacts`)."""
    return root / STAGING / kind / version


def read_manifest(folder: Path) -> Manifest | None:
    """The manifest kept in a staging or version folder, or None when there is none or it is damaged."""
    try:
        return Manifest.model_validate_json((folder / "manifest.json").read_bytes())
    except (OSError, ValueError):
        return None


def have(folder: Path, entry: FileEntry) -> dict[int, str]:
    """The chunks of one file on disk: index -> SHA-256 of its bytes (every chunk when the file is whole already)."""
    if (folder / entry.name).exists():
        return {i: "" for i in range(entry.chunks())}
    try:
        lines = (folder / f"{entry.name}.have").read_bytes().split(b"\n")[:-1]  # the last item is the torn or empty tail
    except FileNotFoundError:
        return {}
    found = {}
    for line in lines:
        match = _RECORD.match(line)
        if match and int(match[1]) < entry.chunks():
            found[int(match[1])] = match[2].decode()
    return found


def missing(folder: Path, manifest: Manifest) -> dict[str, list[int]]:
    """Per file, the chunk indexes still to send (files complete already left out)."""
    out = {}
    for entry in manifest.files:
        got = have(folder, entry)
        if len(got) < entry.chunks():
            out[entry.name] = [i for i in range(entry.chunks()) if i not in got]
    return out


def open_install(root: Path, manifest: Manifest, free_needed: int) -> Path:
    """Open (or find again) the staging folder for a verified manifest; a different manifest for the same version is refused."""
    folder = staging_dir(root, manifest.kind, manifest.version)
    if folder.exists():
        kept = read_manifest(folder)
        if kept is not None and kept.digest() == manifest.digest():
            return folder
        if kept is not None:
            raise VersionConflict(f"{manifest.kind} {manifest.version}: another manifest is being installed under this version")
        shutil.rmtree(folder)  # a folder without its manifest was never accepted: nothing of it can be trusted
    busy = in_progress(root)
    if len(busy) >= MAX_INSTALLS:
        names = ", ".join(f"{m.kind} {m.version}" for m, _ in busy)
        raise NoRoom(f"{len(busy)} installs are in progress ({names}): finish one first; "
                            f"one no chunk reaches for {STALE_S // 86400} days is dropped at the next start")
    free = shutil.disk_usage(root if root.exists() else root.parent).free
    if free < free_needed:
        raise NoRoom(f"not enough disk space: {free} bytes free, {free_needed} needed (the artifact and the reserve)")
    folder.parent.mkdir(parents=True, exist_ok=True)
    temp = folder.with_name(f".{folder.name}.new")
    shutil.rmtree(temp, ignore_errors=True)
    temp.mkdir()
    write_atomically(temp / "manifest.json", manifest.canonical())
    os.rename(temp, folder)
    sync_folder(folder.parent)
    return folder


def put_chunk(folder: Path, manifest: Manifest, name: str, index: int, data: bytes) -> bool:
    """Write one chunk durably; False when the very same bytes were stored already (a replay). ChunkRefused when it cannot fit."""
    entry = manifest.file(name)
    if entry is None:
        raise ChunkRefused(f"file: {name!r} is not in the manifest ({', '.join(f.name for f in manifest.files)})")
    if not 0 <= index < entry.chunks():
        raise ChunkRefused(f"index: {name} has chunks 0-{entry.chunks() - 1}, not {index}")
    expected = min(CHUNK_SIZE, entry.size - index * CHUNK_SIZE)
    if len(data) != expected:
        raise ChunkRefused(f"data: chunk {index} of {name} must be {expected} bytes, got {len(data)}")
    digest = hashlib.sha256(data).hexdigest()
    stored = have(folder, entry).get(index)
    if stored is not None:
        if stored in ("", digest):
            return False
        raise ChunkConflict(f"data: chunk {index} of {name} was stored with other bytes (replayed with a change)")
    fd = os.open(folder / f"{name}.part", os.O_WRONLY | os.O_CREAT, 0o640)
    try:
        os.pwrite(fd, data, index * CHUNK_SIZE)
        os.fsync(fd)
    finally:
        os.close(fd)
    with open(folder / f"{name}.have", "ab+") as record:
        lead = b"\n" if _torn(record) else b""  # a record torn by a crash stays a line of its own, never part of this one
        record.write(lead + f"{index}:{digest}\n".encode())
        record.flush()
        os.fsync(record.fileno())
    return True


def _torn(record: BinaryIO) -> bool:
    """Whether an open records file ends in the middle of a line."""
    if record.seek(0, os.SEEK_END) == 0:
        return False
    record.seek(-1, os.SEEK_END)
    return record.read(1) != b"\n"


def finish(root: Path, folder: Path, manifest: Manifest) -> Finished:
    """With every chunk in: check sizes and hashes, then move the folder to its version's place in one rename."""
    problems = []
    for entry in manifest.files:
        whole, part = folder / entry.name, folder / f"{entry.name}.part"
        path = whole if whole.exists() else part
        size, digest = _hash(path)
        if size != entry.size or digest != entry.sha256:
            problems.append(f"{entry.name}: SHA-256 {digest} ({size} bytes) is not the manifest's {entry.sha256} ({entry.size} bytes); "
                            "its chunks were discarded, send them again")
            part.unlink(missing_ok=True)
            whole.unlink(missing_ok=True)
            (folder / f"{entry.name}.have").unlink(missing_ok=True)
    if problems:
        sync_folder(folder)
        return Finished(False, problems)
    for entry in manifest.files:
        if not (folder / entry.name).exists():
            os.rename(folder / f"{entry.name}.part", folder / entry.name)
        (folder / f"{entry.name}.have").unlink(missing_ok=True)
    sync_folder(folder)
    target = root / manifest.kind / manifest.version
    target.parent.mkdir(parents=True, exist_ok=True)
    os.rename(folder, target)
    sync_folder(target.parent)
    sync_folder(folder.parent)
    return Finished(True, [])


def _hash(path: Path) -> tuple[int, str]:
    """(size, SHA-256 hex) of a file, read in chunks."""
    h, size = hashlib.sha256(), 0
    with open(path, "rb") as f:
        while block := f.read(1024 * 1024):
            h.update(block)
            size += len(block)
    return size, h.hexdigest()


def in_progress(root: Path) -> list[tuple[Manifest, Path]]:
    """Every install being staged, with its folder."""
    base = root / STAGING
    found = []
    for folder in sorted(base.glob("*/*")) if base.exists() else []:
        manifest = read_manifest(folder)
        if manifest is not None and not folder.name.startswith("."):
            found.append((manifest, folder))
    return found


def require(root: Path, kind: str, version: str) -> tuple[Path, Manifest]:
    """The staging folder and manifest of an open install; NotStaging when none was opened."""
    folder = staging_dir(root, kind, version)
    manifest = read_manifest(folder)
    if manifest is None:
        raise NotStaging(f"{kind} {version}: no install in progress; send artifact.install first")
    return folder, manifest


def last_touched(folder: Path) -> float:
    """When a chunk last reached an install (its newest file's mtime)."""
    return max([p.stat().st_mtime for p in folder.iterdir()] or [folder.stat().st_mtime])


def drop_stale(root: Path, now: float, older_than_s: float = STALE_S) -> list[Manifest]:
    """Remove the installs no chunk reached for `older_than_s`; their manifests."""
    dropped = []
    for manifest, folder in in_progress(root):
        if now - last_touched(folder) > older_than_s:
            shutil.rmtree(folder, ignore_errors=True)
            dropped.append(manifest)
    return dropped
