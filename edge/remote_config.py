"""Remote configuration (issue 17 item 1): which configuration runs, by version and hash, so headquarters can tell desired from reported."""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from edge.atomic_files import write_atomically
from edge.config import Config, ConfigError, parse_config, resolve_paths
from edge.config_files import check_files
from edge.sync.commands import Args, CommandError

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


#: Beside the configuration file: the file as it was before the last `config.set`, and its `.applied` record.
LAST_GOOD_SUFFIX = ".last-good"
#: `store-edge run` exits with this status to have systemd start it again with a new configuration (EX_TEMPFAIL).
RESTART_EXIT_STATUS = 75
#: A key whose value would be a secret itself (only `*_file` paths to secrets may be sent).
_SECRET_KEY = re.compile(r"pass(word|wd|phrase)?|secret|token|api_?key|private_?key|credential", re.IGNORECASE)
_PEM_KEY = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")


class ConfigSetArgs(Args):
    """`config.set`: a whole desired configuration or an RFC 7386 merge patch over the running file, with headquarters' version."""

    version: Annotated[int, Field(ge=1, le=2**53)]
    config: dict[str, Any] | None = None
    patch: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _one_of(self) -> ConfigSetArgs:
        """Exactly one of `config` and `patch`."""
        if (self.config is None) == (self.patch is None):
            raise ValueError("give exactly one of config (a whole configuration) and patch (a merge patch)")
        return self


#: Core keys the running daemon applies without a restart (`App.apply_hot`): read where they are used, nothing built from them.
CORE_HOT_KEYS: dict[str, frozenset[str]] = {
    "log": frozenset({"level", "format"}),
    "telemetry": frozenset({"health_interval_s"}),
    "prices": frozenset({"lookback_days", "fake_promotion", "min_history_hours", "history_days"}),
}


@dataclass(frozen=True)
class Desired:
    """A validated desired configuration, ready to be written: its TOML text, the parsed configuration, its identity,
    the sections that differ and how it is applied (`hot`: every differing key is one the running daemon reloads)."""

    text: str
    config: Config
    identity: Identity
    changed: list[str]
    apply: Literal["hot", "restart"]


@dataclass
class Running:
    """The configuration the daemon runs now and its identity; replaced in place when `config.set` applies one hot."""

    config: Config
    identity: Identity


def hot_keys(config: Config) -> dict[str, frozenset[str]]:
    """Per section, the keys a change of which the running daemon applies without a restart (core ones and each job's)."""
    return {**CORE_HOT_KEYS, **{spec.name: spec.hot_keys for spec in config.jobs if spec.reload is not None}}


def how_applied(running: Config, desired: Config) -> Literal["hot", "restart"]:
    """`hot` when every key that differs (defaults filled) is hot and no job is added, removed, enabled or disabled."""
    old, new, hot = running.model_dump(mode="json"), desired.model_dump(mode="json"), hot_keys(desired)
    for section in set(old) | set(new):
        before, after = old.get(section), new.get(section)
        if before == after:
            continue
        if not isinstance(before, dict) or not isinstance(after, dict) or before.get("enabled") != after.get("enabled"):
            return "restart"
        differing = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
        if not differing <= hot.get(section, frozenset()):
            return "restart"
    return "hot"


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON Merge Patch: objects merge key by key, `null` removes a key, anything else replaces."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def secret_paths(value: Any, path: str = "") -> list[str]:
    """Key paths in a document that would carry a secret itself: a password/token-like key not ending `_file`, or a PEM private key."""
    found: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if _SECRET_KEY.search(str(key)) and not str(key).endswith("_file"):
                found.append(where)
            else:
                found += secret_paths(item, where)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found += secret_paths(item, f"{path}[{i}]")
    elif isinstance(value, str) and _PEM_KEY.search(value):
        found.append(path)
    return found


def desired_config(path: Path, running: Running, args: ConfigSetArgs) -> Desired:
    """Check a `config.set` as `store-edge check` checks a file (blocking: reads the file and the files it names)."""
    secrets = secret_paths(args.config if args.config is not None else args.patch)
    if secrets:
        raise CommandError("invalid_argument", "; ".join(
            f"{p}: secrets are never sent in a command; put the secret in a file on the store and name it with a *_file key"
            for p in secrets))
    import tomli_w  # type: ignore[import-not-found]  # only config.set writes TOML (see the report: a runtime dependency)

    current = tomllib.loads(path.read_text(encoding="utf-8"))
    raw = args.config if args.config is not None else merge_patch(current, args.patch)
    try:
        text = tomli_w.dumps(raw)
    except (TypeError, ValueError) as err:
        raise CommandError("invalid_argument", f"config: not a TOML document ({err})") from None
    try:
        config: Config = resolve_paths(parse_config(tomllib.loads(text), "config"), path.absolute().parent)
    except ConfigError as err:
        raise CommandError("invalid_argument", "; ".join(err.problems)) from None
    found = check_files(config, path)
    if found.problems:
        raise CommandError("invalid_argument", "; ".join(found.problems))
    digest, version = config_hash(config), running.identity.version
    if args.version < version or (args.version == version and digest != running.identity.sha256):
        raise CommandError("invalid_argument", f"version: {args.version} is not newer than the running version {version}")
    changed = sorted(k for k in set(raw) | set(current) if raw.get(k) != current.get(k))
    return Desired(text, config, Identity(args.version, digest, "hq"), changed, how_applied(running.config, config))


def write_desired(path: Path, running: Identity, desired: Desired) -> None:
    """Keep the running file as last-good, then replace the file atomically (temp file, fsync, rename) and record the version."""
    last_good = Path(f"{path}{LAST_GOOD_SUFFIX}")
    write_atomically(last_good, path.read_bytes())
    write_atomically(Path(f"{last_good}{APPLIED_SUFFIX}"), json.dumps(running.as_json()).encode())
    write_atomically(path, desired.text.encode())
    write_atomically(Path(f"{path}{APPLIED_SUFFIX}"), json.dumps(desired.identity.as_json()).encode())


@dataclass(frozen=True)
class RolledBack:
    """A start that fell back to the last good configuration: from which version to which, and why."""

    from_version: int
    to_version: int
    problems: list[str]


def roll_back(path: Path, problems: list[str]) -> RolledBack | None:
    """Put the last good file back when the one `config.set` wrote cannot start; None when there is nothing to go back to."""
    applied, last_good = _read_applied(path), Path(f"{path}{LAST_GOOD_SUFFIX}")
    if applied is None or not last_good.exists():
        return None  # not written by config.set: a local mistake stays the administrator's to fix
    previous = _read_applied(last_good) or {}
    write_atomically(path, last_good.read_bytes())
    write_atomically(Path(f"{path}{APPLIED_SUFFIX}"), json.dumps(previous).encode())
    last_good.unlink()
    return RolledBack(int(applied.get("version", 0)), int(previous.get("version", LOCAL_VERSION)), problems)
