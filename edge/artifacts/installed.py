"""Installed versions (`<data>/artifacts/<kind>/<version>/`, each whole) and the active pointer `<data>/artifacts/<kind>/active.json`.

The pointer is `{"version", "previous", "confirmed"}`, replaced atomically: after kill -9 the old pointer or the new one
holds, never half of one. `confirmed` turns true once a daemon started with that version; a version that cannot start
is rolled back to `previous` (None: the job's configured or committed files).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge.atomic_files import write_atomically
from edge.artifacts.manifest import Manifest
from edge.artifacts.staging import STAGING, read_manifest

POINTER = "active.json"


@dataclass(frozen=True)
class Pointer:
    """Which version of a kind is active, which ran before it, and whether a start with it succeeded."""

    version: str | None
    previous: str | None = None
    confirmed: bool = True

    def as_json(self) -> dict[str, Any]:
        """The form stored and reported."""
        return {"version": self.version, "previous": self.previous, "confirmed": self.confirmed}


def root_of(data_dir: Path) -> Path:
    """Where artifacts live under the data folder."""
    return data_dir / "artifacts"


def version_dir(root: Path, kind: str, version: str) -> Path:
    """An installed version's folder."""
    return root / kind / version


def installed(root: Path, kind: str) -> dict[str, Manifest]:
    """Every whole version of a kind, by name (a folder without a readable manifest is not a version)."""
    base = root / kind
    if kind.startswith(".") or not base.is_dir():
        return {}
    found = {}
    for folder in sorted(base.iterdir()):
        manifest = read_manifest(folder) if folder.is_dir() and not folder.name.startswith(".") else None
        if manifest is not None and manifest.kind == kind and manifest.version == folder.name:
            found[folder.name] = manifest
    return found


def kinds_on_disk(root: Path) -> list[str]:
    """Kinds with anything installed."""
    return sorted(p.name for p in root.iterdir() if p.is_dir() and p.name != STAGING) if root.is_dir() else []


def pointer(root: Path, kind: str) -> Pointer:
    """The kind's pointer; no version when none was activated (or the file is damaged)."""
    try:
        raw = json.loads((root / kind / POINTER).read_text(encoding="utf-8")[:4096])
        return Pointer(raw["version"], raw.get("previous"), bool(raw.get("confirmed", True)))
    except (OSError, ValueError, KeyError, TypeError):
        return Pointer(None)


def set_pointer(root: Path, kind: str, new: Pointer) -> None:
    """Replace the pointer atomically."""
    (root / kind).mkdir(parents=True, exist_ok=True)
    write_atomically(root / kind / POINTER, json.dumps(new.as_json()).encode())


def active_dir(data_dir: Path, kind: str) -> Path | None:
    """The folder a job runs `kind` from, or None when no installed version is active (blocking: reads a small file)."""
    root = root_of(data_dir)
    version = pointer(root, kind).version
    return version_dir(root, kind, version) if version is not None else None


def prune(root: Path, kind: str, keep: int) -> list[str]:
    """Remove the oldest versions beyond `keep` (never the active or the previous one); the names removed."""
    current = pointer(root, kind)
    versions = installed(root, kind)
    by_age = sorted(versions, key=lambda v: (root / kind / v).stat().st_mtime, reverse=True)
    kept = {current.version, current.previous}
    spare = max(0, keep - len(kept - {None}))
    removed = [v for v in by_age if v not in kept][spare:]
    for version in removed:
        trash = root / kind / f".{version}.removing"
        (root / kind / version).rename(trash)  # the version vanishes in one step; its files go after
        shutil.rmtree(trash, ignore_errors=True)
    return removed
