"""Commands every store answers whatever its jobs: `ping`, `config.get`, and the `link.test` diagnostic."""

from __future__ import annotations

import time
from typing import Annotated, Any

from pydantic import Field

from edge import __version__
from edge.config import Config
from edge.store import Tx
from edge.sync.commands import Args, CommandRegistry, NoArgs
from edge.sync.fields import Printable


class LinkTestArgs(Args):
    """`link.test`: emit `count` numbered events, to check the whole path to headquarters end to end."""

    count: Annotated[int, Field(ge=1, le=10_000)] = 1
    tag: Annotated[str, Field(max_length=64), Printable] = ""


def register_core_commands(registry: CommandRegistry, config: Config, started: float) -> None:
    """Add the always-present commands."""

    def ping(tx: Tx, args: NoArgs) -> dict[str, Any]:
        """Liveness and version."""
        return {"version": __version__, "uptime_s": round(time.monotonic() - started, 3)}

    def config_get(tx: Tx, args: NoArgs) -> dict[str, Any]:
        """The running configuration, secrets removed (only the paths of secret files appear)."""
        return config.redacted()

    def link_test(tx: Tx, args: LinkTestArgs) -> dict[str, Any]:
        """Queue numbered `link.test` events through the durable outbox, like any job's events."""
        seqs = [tx.emit("link.test", {"n": i + 1, "of": args.count, "tag": args.tag}) for i in range(args.count)]
        return {"queued": args.count, "first_seq": seqs[0], "last_seq": seqs[-1]}

    registry.register("ping", NoArgs, ping)
    registry.register("config.get", NoArgs, config_get)
    registry.register("link.test", LinkTestArgs, link_test)
