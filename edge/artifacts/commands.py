"""The `artifact.*` commands: install in chunks, activate with the job's self-check, list, roll back; and the start-up side.

The slow, blocking parts (reading keys, writing and fsyncing chunks, hashing, the self-check) run in each command's
prepare phase on a worker thread. Unlike most prepares these touch staging files, but only idempotently: the same
chunk written again is the same bytes, so a repeated request id (whose prepare runs again before the inbox answers)
changes nothing. The handler then emits the `artifact.*` event in the command's transaction and, for a switch, asks
for the same controlled restart `config.set` uses.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

import structlog
from pydantic import Field

from edge.artifacts import installed as inst
from edge.artifacts import staging
from edge.artifacts.errors import (
    ArtifactError,
    BadSignature,
    ChunkConflict,
    ChunkRefused,
    NoRoom,
    NotStaging,
    VersionConflict,
)
from edge.artifacts.kinds import ArtifactKind, CheckResult
from edge.artifacts.manifest import (
    CHUNK_SIZE,
    FILE_NAME,
    KIND,
    VERSION,
    InstallArgs,
    Manifest,
    load_public_key,
    verify,
)
from edge.config import Config
from edge.store import Tx
from edge.sync.commands import Args, CommandError, CommandRegistry

log = structlog.get_logger("artifacts")

#: Base64 of one full chunk, the longest `data` accepted.
MAX_CHUNK_TEXT = 4 * -(-CHUNK_SIZE // 3)


class ChunkArgs(Args):
    """`artifact.chunk`: bytes `index * CHUNK_SIZE` onwards of one file of an install, base64."""

    kind: Annotated[str, Field(pattern=KIND)]
    version: Annotated[str, Field(pattern=VERSION)]
    file: Annotated[str, Field(pattern=FILE_NAME)]
    index: Annotated[int, Field(ge=0, le=1_000_000)]
    data: Annotated[str, Field(min_length=1, max_length=MAX_CHUNK_TEXT)]


class KindVersionArgs(Args):
    """`artifact.activate`: which installed version to switch to."""

    kind: Annotated[str, Field(pattern=KIND)]
    version: Annotated[str, Field(pattern=VERSION)]


class KindArgs(Args):
    """`artifact.rollback`: the kind to put back to its previous version."""

    kind: Annotated[str, Field(pattern=KIND)]


class ListArgs(Args):
    """`artifact.list`: one kind, or every kind."""

    kind: Annotated[str, Field(pattern=KIND)] | None = None


@dataclass(frozen=True)
class Opened:
    """An accepted manifest: new (just opened), staging (resumed) or installed already, with what is still to send."""

    manifest: Manifest
    state: str
    new: bool
    missing: dict[str, list[int]]
    finished: staging.Finished | None = None  # the install's last step, when this resume did it


@dataclass(frozen=True)
class Stored:
    """One chunk handled: stored or a replay, and what that left (still missing, installed, or files failing their hash)."""

    stored: bool
    state: str
    missing: int
    finished: staging.Finished | None = None  # the install's last step, when this chunk led to it


@dataclass(frozen=True)
class Checked:
    """An activation's self-check and the pointer it would replace."""

    check: CheckResult | None  # None: the version is active already
    current: inst.Pointer


@dataclass(frozen=True)
class RolledBack:
    """A kind put back at start-up: the version that could not start, the one that runs instead, and why."""

    kind: str
    from_version: str | None
    to_version: str | None
    problems: list[str]

    def as_json(self) -> dict[str, Any]:
        """The `artifact.rolled_back` event's data."""
        return {"kind": self.kind, "from_version": self.from_version, "to_version": self.to_version,
                "reason": "start_failed", "problems": self.problems[:20]}


class Rollout:
    """The store's side of artifact rollout for the kinds its enabled jobs declare."""

    def __init__(self, config: Config, kinds: Mapping[str, ArtifactKind], restart: Callable[[], None] | None = None) -> None:
        self.root = inst.root_of(config.data.dir)
        self.settings = config.artifacts
        self.kinds = dict(kinds)
        self.restart = restart
        self._lock = threading.Lock()  # one staging step at a time: chunks of one install may arrive together

    # ----- registration -------------------------------------------------------------------
    def register(self, registry: CommandRegistry) -> None:
        """Add the `artifact.*` commands."""
        registry.register("artifact.install", InstallArgs, self._install, "Open (or resume) a signed artifact's install",
                          prepare=self._thread(self._open))
        registry.register("artifact.chunk", ChunkArgs, self._chunk, "Store one chunk of an install",
                          prepare=self._thread(self._put))
        registry.register("artifact.activate", KindVersionArgs, self._activate, "Switch to an installed version after its self-check",
                          prepare=self._thread(self._check))
        registry.register("artifact.rollback", KindArgs, self._rollback, "Switch back to the previous version",
                          prepare=self._thread(self._previous))
        registry.register("artifact.list", ListArgs, self._list, "Installed versions and installs in progress",
                          prepare=self._thread(self.listing))

    @staticmethod
    def _thread(work: Callable[[Any], Any]) -> Callable[[Any], Any]:
        """A prepare phase that runs `work` on a worker thread."""

        async def prepare(args: Any) -> Any:
            """Off the event loop."""
            return await asyncio.to_thread(work, args)

        return prepare

    def _kind(self, name: str) -> ArtifactKind:
        """The declared kind called `name`, or a clear refusal."""
        kind = self.kinds.get(name)
        if kind is None:
            known = ", ".join(sorted(self.kinds)) or "none (no enabled job declares one)"
            raise CommandError("invalid_argument", f"kind: {name!r} is not a kind this store runs; kinds: {known}")
        return kind

    # ----- artifact.install ---------------------------------------------------------------
    def _open(self, args: InstallArgs) -> Opened:
        """Verify the signature before anything else, then the kind's files and the size; open or find the install."""
        manifest = args.manifest()
        try:
            keys = [load_public_key(path) for path in self.settings.public_keys]
            verify(manifest, args.signature, keys)
        except BadSignature as err:
            raise CommandError("invalid_argument", str(err)) from None
        except ArtifactError as err:
            raise CommandError("internal", f"artifacts.public_keys: {err}") from None
        kind = self._kind(manifest.kind)
        names = {f.name for f in manifest.files}
        lacking = [n for n in kind.required if n not in names]
        unknown = sorted(names - set(kind.required) - set(kind.optional))
        if lacking or unknown:
            raise CommandError("invalid_argument", f"files: a {kind.name} needs {', '.join(kind.required)}"
                               + (f" (missing {', '.join(lacking)})" if lacking else "")
                               + (f"; {', '.join(unknown)} not among its files" if unknown else ""))
        if manifest.total() > self.settings.max_bytes:
            raise CommandError("invalid_argument", f"files: {manifest.total()} bytes in all, over [artifacts] max_bytes = {self.settings.max_bytes}")
        with self._lock:
            done = inst.installed(self.root, manifest.kind).get(manifest.version)
            if done is not None:
                if done.digest() != manifest.digest():
                    raise CommandError("conflict", f"{manifest.kind} {manifest.version} is installed with other files; use a new version")
                return Opened(manifest, "installed", False, {})
            existed = staging.staging_dir(self.root, manifest.kind, manifest.version).exists()
            try:
                folder = staging.open_install(self.root, manifest, manifest.total() + self.settings.reserve_bytes)
            except VersionConflict as err:
                raise CommandError("conflict", str(err)) from None
            except NoRoom as err:
                raise CommandError("busy", str(err)) from None
            missing = staging.missing(folder, manifest)
            if existed and not missing:  # every chunk was in when the daemon stopped, before the install's last step
                finished = staging.finish(self.root, folder, manifest)
                if finished.installed:
                    return Opened(manifest, "installed", False, {}, finished)
                return Opened(manifest, "staging", False, staging.missing(folder, manifest), finished)
            return Opened(manifest, "staging", not existed, missing)

    def _install(self, tx: Tx, args: InstallArgs, opened: Opened) -> dict[str, Any]:
        """Reply with the chunk size and the chunks to send; `artifact.installing` when the install is new."""
        m = opened.manifest
        if opened.new:
            tx.emit("artifact.installing", {"kind": m.kind, "version": m.version, "bytes": m.total(),
                                            "chunks": sum(f.chunks() for f in m.files)})
        if opened.finished is not None:
            _say_finished(tx, m.kind, m.version, opened.finished)
        return {"kind": m.kind, "version": m.version, "state": opened.state, "chunk_size": CHUNK_SIZE,
                "missing": opened.missing}

    # ----- artifact.chunk -----------------------------------------------------------------
    def _put(self, args: ChunkArgs) -> Stored:
        """Decode, write and fsync the chunk; with the last one in, verify and install."""
        try:
            data = base64.b64decode(args.data, validate=True)
        except (binascii.Error, ValueError):
            raise CommandError("invalid_argument", "data: not base64") from None
        if len(data) > CHUNK_SIZE:
            raise CommandError("invalid_argument", f"data: {len(data)} bytes, over the chunk size {CHUNK_SIZE}")
        with self._lock:
            if args.version in inst.installed(self.root, args.kind):
                return Stored(False, "installed", 0)
            try:
                folder, manifest = staging.require(self.root, args.kind, args.version)
                stored = staging.put_chunk(folder, manifest, args.file, args.index, data)
            except NotStaging as err:
                raise CommandError("not_found", str(err)) from None
            except ChunkConflict as err:
                raise CommandError("conflict", str(err)) from None
            except ChunkRefused as err:
                raise CommandError("invalid_argument", str(err)) from None
            except OSError as err:  # the disk filled up since the install opened: nothing recorded, send it again later
                raise CommandError("busy", f"chunk {args.index} of {args.file}: cannot be written ({err.strerror})") from None
            left = staging.missing(folder, manifest)
            if left:
                return Stored(stored, "staging", sum(map(len, left.values())))
            done = staging.finish(self.root, folder, manifest)
            if done.installed:
                return Stored(stored, "installed", 0, done)
            return Stored(stored, "staging", sum(map(len, staging.missing(folder, manifest).values())), done)

    def _chunk(self, tx: Tx, args: ChunkArgs, stored: Stored) -> dict[str, Any]:
        """Acknowledge the chunk; the last one emits `artifact.installed`, or `artifact.failed` for files whose hash was wrong."""
        head = {"kind": args.kind, "version": args.version}
        if stored.finished is not None:
            _say_finished(tx, args.kind, args.version, stored.finished)
        problems = stored.finished.problems if stored.finished is not None else []
        return {**head, "file": args.file, "index": args.index, "duplicate": not stored.stored, "state": stored.state,
                "missing": stored.missing, "problems": problems}

    # ----- artifact.activate / artifact.rollback --------------------------------------------
    def _check(self, args: KindVersionArgs) -> Checked:
        """The version must be installed whole; then the job's self-check against what runs now (on this thread)."""
        kind = self._kind(args.kind)
        current = inst.pointer(self.root, kind.name)
        if args.version not in inst.installed(self.root, kind.name):
            folder = staging.staging_dir(self.root, kind.name, args.version)
            manifest = staging.read_manifest(folder)
            left = sum(map(len, staging.missing(folder, manifest).values())) if manifest is not None else None
            detail = f"{left} chunks are still missing" if left is not None else "it was never installed"
            raise CommandError("not_found", f"{kind.name} {args.version} is not installed: {detail}")
        if current.version == args.version:
            return Checked(None, current)
        running = inst.version_dir(self.root, kind.name, current.version) if current.version else None
        check = kind.self_check(inst.version_dir(self.root, kind.name, args.version), running)
        return Checked(check, current)

    def _activate(self, tx: Tx, args: KindVersionArgs, checked: Checked) -> dict[str, Any]:
        """Passed: point at the new version and restart with it; failed: `artifact.check_failed`, the running version untouched."""
        head = {"kind": args.kind, "version": args.version, "previous": checked.current.version}
        if checked.check is None:
            return {**head, "previous": checked.current.previous, "activated": True, "apply": "none"}
        check = checked.check.as_json()
        if not checked.check.passed:
            tx.emit("artifact.check_failed", {**head, "check": check})
            return {**head, "activated": False, "apply": "none", "check": check}
        self._switch(args.kind, args.version, checked.current.version)
        tx.emit("artifact.activated", {**head, "check": check, "apply": "restart"})
        return {**head, "activated": True, "apply": "restart", "check": check}

    def _previous(self, args: KindArgs) -> inst.Pointer:
        """The pointer to go back from; refused when there is nothing before it."""
        kind = self._kind(args.kind)
        current = inst.pointer(self.root, kind.name)
        if current.version is None:
            raise CommandError("not_found", f"{kind.name}: no installed version is active; the job runs its configured files")
        if current.previous is not None and current.previous not in inst.installed(self.root, kind.name):
            raise CommandError("not_found", f"{kind.name}: the previous version {current.previous} is no longer installed")
        return current

    def _rollback(self, tx: Tx, args: KindArgs, current: inst.Pointer) -> dict[str, Any]:
        """Point back at the previous version (None: the configured files) and restart."""
        self._switch(args.kind, current.previous, current.version)
        data = {"kind": args.kind, "from_version": current.version, "to_version": current.previous, "reason": "requested",
                "problems": []}
        tx.emit("artifact.rolled_back", data)
        return {**data, "apply": "restart"}

    def _switch(self, kind: str, version: str | None, previous: str | None) -> None:
        """Write the pointer (unconfirmed until a start with it succeeds) and ask for the controlled restart."""
        try:
            inst.set_pointer(self.root, kind, inst.Pointer(version, previous, confirmed=False))
        except OSError as err:
            raise CommandError("busy", f"{kind}: cannot write the active pointer ({err.strerror}); nothing changed") from None
        if self.restart is not None:
            self.restart()

    # ----- artifact.list ------------------------------------------------------------------
    def listing(self, args: ListArgs) -> dict[str, Any]:
        """Per kind: installed versions with their files, the active and previous one, installs in progress (blocking)."""
        names = [args.kind] if args.kind else sorted(set(self.kinds) | set(inst.kinds_on_disk(self.root)))
        out: dict[str, Any] = {}
        for name in names:
            p = inst.pointer(self.root, name)
            versions = inst.installed(self.root, name)
            out[name] = {
                "active": p.version, "previous": p.previous, "confirmed": p.confirmed,
                "versions": [{"version": v, "bytes": m.total(), "files": [f.name for f in m.files]} for v, m in versions.items()],
                "installing": [{"version": m.version, "bytes": m.total(), "missing_chunks": sum(map(len, staging.missing(f, m).values()))}
                               for m, f in staging.in_progress(self.root) if m.kind == name],
            }
        return {"kinds": out, "chunk_size": CHUNK_SIZE}

    def _list(self, tx: Tx, args: ListArgs, listing: dict[str, Any]) -> dict[str, Any]:
        """The listing made off the loop."""
        return listing

    # ----- start-up -----------------------------------------------------------------------
    def roll_back_job(self, job: str, problem: str) -> list[RolledBack]:
        """A job failed to build: put each of its kinds running an installed version back to the previous one (blocking)."""
        back = []
        for kind in (k for k in self.kinds.values() if k.job == job):
            p = inst.pointer(self.root, kind.name)
            if p.version is None:
                continue
            previous = p.previous if p.previous in inst.installed(self.root, kind.name) else None
            inst.set_pointer(self.root, kind.name, inst.Pointer(previous, None, confirmed=True))
            back.append(RolledBack(kind.name, p.version, previous, [problem]))
            log.warning("artifact.rolled_back", kind=kind.name, from_version=p.version, to_version=previous, problem=problem)
        return back

    def confirm(self) -> list[str]:
        """The daemon started: unconfirmed pointers are confirmed, older versions pruned, stale installs dropped (blocking)."""
        for manifest in staging.drop_stale(self.root, time.time()):
            log.warning("artifact.staging.dropped", kind=manifest.kind, version=manifest.version,
                        reason=f"no chunk for {staging.STALE_S // 86400} days")
        done = []
        for name in self.kinds:
            p = inst.pointer(self.root, name)
            if not p.confirmed:  # an installed version, or the job's shipped files after a rollback to them
                inst.set_pointer(self.root, name, inst.Pointer(p.version, p.previous, confirmed=True))
                removed = inst.prune(self.root, name, self.settings.keep_versions)
                log.info("artifact.confirmed", kind=name, version=p.version, pruned=removed)
                done.append(name)
        return done


def _say_finished(tx: Tx, kind: str, version: str, done: staging.Finished) -> None:
    """`artifact.installed`, or `artifact.failed` naming the files whose hash was wrong."""
    if done.installed:
        tx.emit("artifact.installed", {"kind": kind, "version": version})
    else:
        tx.emit("artifact.failed", {"kind": kind, "version": version, "reason": "hash_mismatch", "problems": done.problems})
