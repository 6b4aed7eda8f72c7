"""Commands every store answers whatever its jobs: `ping`, `config.get`, `logs.fetch`, and the `link.test` diagnostic."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field

from edge import __version__, log_ring
from edge.config import Config
from edge.jobs import installed_jobs
from edge.remote_config import (
    ConfigSetArgs,
    Desired,
    Running,
    desired_config,
    running_identity,
    write_desired,
)
from edge.store import Tx
from edge.sync.commands import Args, CommandError, CommandRegistry, NoArgs
from edge.sync.fields import Printable, Timestamp

#: `logs.fetch` without `since` starts this long before `until`.
LOGS_DEFAULT_WINDOW = timedelta(hours=1)


class LinkTestArgs(Args):
    """`link.test`: emit `count` numbered events, to check the whole path to headquarters end to end."""

    count: Annotated[int, Field(ge=1, le=10_000)] = 1
    tag: Annotated[str, Field(max_length=64), Printable] = ""


class LogsFetchArgs(Args):
    """`logs.fetch`: the daemon's recent log lines from `since` to `until` at `level` or worse, of one `job` or all, from `cursor` on."""

    since: Timestamp | None = None
    until: Timestamp | None = None
    level: Literal["debug", "info", "warning", "error", "critical"] = "info"
    job: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")] | None = None
    cursor: Annotated[str, Field(pattern=r"^[0-9]{1,15}$")] | None = None


def _read_logs(args: LogsFetchArgs) -> log_ring.Chunk:
    """Check the job, then filter and compress the ring (blocking: runs on a worker thread)."""
    jobs = sorted(spec.name for spec in installed_jobs())
    if args.job is not None and args.job not in jobs:
        raise CommandError("invalid_argument", f"job: unknown job {args.job!r}; installed jobs: {', '.join(jobs)}")
    if args.since is not None and args.until is not None and args.until < args.since:
        raise CommandError("invalid_argument", "until: must not be before since")
    until = args.until.timestamp() if args.until is not None else time.time()
    since = args.since.timestamp() if args.since is not None else until - LOGS_DEFAULT_WINDOW.total_seconds()
    after = int(args.cursor) if args.cursor is not None else 0
    return log_ring.RING.chunk(since, until, log_ring.LEVELS[args.level], args.job, after)


async def _fetch_logs(args: LogsFetchArgs) -> log_ring.Chunk:
    """The prepare phase of `logs.fetch` (effect-free, off the event loop)."""
    return await asyncio.to_thread(_read_logs, args)


def register_core_commands(
    registry: CommandRegistry, config: Config, started: float, running: Running | None = None,
    config_path: Path | None = None, apply: Callable[[Desired], None] | None = None,
) -> None:
    """Add the always-present commands; `running` is the configuration the daemon runs and its identity (local when not given).

    `config.set` writes `config_path` and, once its reply is committed, calls `apply` on the event loop: the daemon
    reloads it hot or restarts (`Desired.apply`).
    """
    now = running or Running(config, running_identity(config, None))

    async def check_desired(args: ConfigSetArgs) -> Desired:
        """The prepare phase of `config.set`: validate as `store-edge check` does (effect-free, off the event loop)."""
        if config_path is None:
            raise CommandError("invalid_argument", "config: this daemon was not started from a configuration file")
        return await asyncio.to_thread(desired_config, config_path, now, args)

    def config_set(tx: Tx, args: ConfigSetArgs, desired: Desired) -> dict[str, Any]:
        """Write the desired configuration (keeping the last good one), then apply it hot or by a restart; the same again is a no-op."""
        done = {"version": desired.identity.version, "sha256": desired.identity.sha256}
        if desired.identity == now.identity:
            return {**done, "changed": [], "apply": "none"}
        assert config_path is not None and apply is not None
        try:
            write_desired(config_path, now.identity, desired)
        except OSError as err:
            raise CommandError("busy", f"config: cannot write {config_path} ({err.strerror}); nothing changed") from None
        tx.emit("config.applied", {**done, "previous_version": now.identity.version, "changed": desired.changed,
                                   "apply": desired.apply})
        tx.after_commit(lambda: apply(desired))
        return {**done, "changed": desired.changed, "apply": desired.apply}

    def ping(tx: Tx, args: NoArgs) -> dict[str, Any]:
        """Liveness and version."""
        return {"version": __version__, "uptime_s": round(time.monotonic() - started, 3)}

    def config_get(tx: Tx, args: NoArgs) -> dict[str, Any]:
        """The running configuration, secrets removed (only the paths of secret files appear), with its version and hash."""
        return {**now.config.redacted(), "config_version": now.identity.version, "config_sha256": now.identity.sha256,
                "config_source": now.identity.source}

    def link_test(tx: Tx, args: LinkTestArgs) -> dict[str, Any]:
        """Queue numbered `link.test` events through the durable outbox, like any job's events."""
        seqs = [tx.emit("link.test", {"n": i + 1, "of": args.count, "tag": args.tag}) for i in range(args.count)]
        return {"queued": args.count, "first_seq": seqs[0], "last_seq": seqs[-1]}

    registry.register("ping", NoArgs, ping)
    registry.register("config.get", NoArgs, config_get)
    registry.register("config.set", ConfigSetArgs, config_set, prepare=check_desired)
    def logs_fetch(tx: Tx, args: LogsFetchArgs, chunk: log_ring.Chunk) -> dict[str, Any]:
        """Recent log lines, gzip-compressed JSON lines in base64, one bounded chunk per reply (`next`: the cursor for the rest)."""
        return {
            "encoding": "gzip+base64", "format": "jsonl", "data": chunk.data, "lines": chunk.lines,
            "first_seq": chunk.first_seq, "last_seq": chunk.last_seq, "next": chunk.next_cursor, "oldest_seq": chunk.oldest_seq,
        }

    registry.register("link.test", LinkTestArgs, link_test)
    registry.register("logs.fetch", LogsFetchArgs, logs_fetch, prepare=_fetch_logs)
