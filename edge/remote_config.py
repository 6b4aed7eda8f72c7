"""Remote configuration (issue 17 item 1): which configuration runs, by version and hash, so headquarters can tell desired from reported."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge.config import Config

#: Beside the configuration file: `{"version", "sha256"}` of the configuration headquarters last set (`config.set`).
APPLIED_SUFFIX = ".applied"
#: The version of a configuration headquarters did not set (written locally, or edited since).
LOCAL_VERSION = 0


@dataclass(frozen=True)
class Identity:
    """The running configuration's version (headquarters' number, or 0 when local), its SHA-256 and who set it."""

    version: int
    sha256: str
    source: str  # "hq" | "local"

    def as_json(self) -> dict[str, Any]:
        """The form `status` and `config.get` carry."""
        return {"version": self.version, "sha256": self.sha256, "source": self.source}


def canonical_json(config: Config) -> bytes:
    """The configuration as the daemon runs it (defaults filled, paths resolved, environment applied), in one byte-exact form."""
    return json.dumps(config.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def config_hash(config: Config) -> str:
    """SHA-256 of the canonical JSON, in hex: equal for equal configurations whatever the file's layout."""
    return hashlib.sha256(canonical_json(config)).hexdigest()


def running_identity(config: Config, path: Path | None) -> Identity:
    """Headquarters' version while the running hash is the one it set; otherwise local (blocking: reads a small file)."""
    digest = config_hash(config)
    applied = _read_applied(path)
    if applied is not None and applied.get("sha256") == digest and isinstance(applied.get("version"), int):
        return Identity(applied["version"], digest, "hq")
    return Identity(LOCAL_VERSION, digest, "local")


def _read_applied(path: Path | None) -> dict[str, Any] | None:
    """The record `config.set` left beside the file, or None when there is none or it is unreadable."""
    if path is None:
        return None
    try:
        found = json.loads(Path(f"{path}{APPLIED_SUFFIX}").read_text(encoding="utf-8")[:4096])
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None
