"""`store-edge run | check | status`: the daemon itself and the commands store IT uses around it."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from edge.cli._options import config_command
from edge.cli._status import show_status
from edge.config import Config, ConfigError, load_config
from edge.config_files import check_files
from edge.remote_config import RolledBack, roll_back

DEFAULT_CONFIG = Path("/etc/store-edge/store-edge.toml")


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add run, check and status."""
    config_command(
        subparsers, "run", _run, help="run the daemon",
        description="Run the store-edge daemon (systemd runs this). It checks the configuration and its files first, as `check` does, "
                    "and exits with status 2 and one line saying what is wrong if they are not usable.",
    )
    config_command(
        subparsers, "check", _check, help="validate a configuration file and the files it names",
        description="Validate a configuration and every file it names (there, readable, secrets not readable by others); "
                    "exit non-zero with one readable line per mistake. Relative paths are read from the configuration's folder.",
    )

    status = subparsers.add_parser(
        "status",
        help="show what the running daemon is doing",
        description="Ask the running daemon (its local HTTP API) for its jobs and devices, open fridge alerts, failed labels, "
                    "outbox depth and last sync.",
    )
    where = status.add_mutually_exclusive_group()
    where.add_argument("--config", type=Path, help=f"configuration of the daemon to ask (uses its [http] section; default {DEFAULT_CONFIG})")
    where.add_argument("--url", help="base URL of the daemon's API, e.g. http://127.0.0.1:8787")
    status.add_argument("--token-file", type=Path, help="file holding the API token, if the daemon requires one")
    status.add_argument("--json", action="store_true", help="print the raw JSON of /api/status")
    status.set_defaults(handler=_status)


def load_or_exit(path: Path, one_line: bool = False) -> Config:
    """The configuration, or its mistakes on stderr and exit status 2 (on one line for `run`, so journald shows it whole)."""
    try:
        return load_config(path)
    except ConfigError as err:
        print(_one_line(err.source, err.problems) if one_line else err, file=sys.stderr)
        raise SystemExit(2) from None


def _one_line(source: str, problems: list[str]) -> str:
    """`store-edge: cannot start: <file>: first problem; second problem`."""
    return f"store-edge: cannot start: {source}: " + "; ".join(problems)


def _run(args: argparse.Namespace) -> int:
    """Check as `check` does, then run until SIGTERM; a configuration that cannot work is exit status 2, not a crash loop.

    A file `config.set` wrote that fails the checks or the start (a port taken, a store refused) is rolled back
    to its last good copy once, and the daemon starts with that (`config.rolled_back` says so).
    """
    from edge.app import StartupError, run_daemon
    from edge.logs import configure

    rolled_back: RolledBack | None = None
    while True:
        problems = _problems(args.config)
        if problems and rolled_back is None and (rolled_back := _roll_back(args.config, problems)) is not None:
            continue
        if problems:
            print(_one_line(str(args.config), problems), file=sys.stderr)
            return 2
        config = load_or_exit(args.config, one_line=True)
        configure(config.log.level, config.log.format)
        try:
            return asyncio.run(run_daemon(config, args.config, rolled_back))
        except StartupError as err:
            if rolled_back is None and (rolled_back := _roll_back(args.config, [str(err)])) is not None:
                continue
            print(f"store-edge: cannot start: {err}", file=sys.stderr)
            return err.exit_status


def _roll_back(path: Path, problems: list[str]) -> RolledBack | None:
    """Put the last good configuration back, saying so on stderr (journald), when config.set wrote the one that fails."""
    back = roll_back(path, problems)
    if back is not None:
        print(f"store-edge: {path}: version {back.from_version} cannot start ({'; '.join(problems)}); "
              f"rolled back to the last good configuration (version {back.to_version})", file=sys.stderr)
    return back


def _problems(path: Path) -> list[str]:
    """What stops a configuration file from starting: its validation and its files, as `check` finds them."""
    try:
        config = load_config(path)
    except ConfigError as err:
        return err.problems
    return check_files(config, path).problems


def _check(args: argparse.Namespace) -> int:
    """The configuration and its files; warnings do not fail the check."""
    config = load_or_exit(args.config)
    found = check_files(config, args.config)
    for line in found.warnings:
        print(f"warning: {line}", file=sys.stderr)
    if found.problems:
        print(ConfigError(str(args.config), found.problems), file=sys.stderr)
        return 2
    print(f"{args.config}: OK (store {config.store.id}, broker {','.join(a.url for a in config.broker.addresses)}, data {config.data.dir})")
    return 0


def _status(args: argparse.Namespace) -> int:
    """`store-edge status`: one screen of what the daemon is doing, or one line saying why it cannot be asked."""
    return show_status(args, load_or_exit)
