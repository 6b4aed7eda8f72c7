"""`store-edge restore | reinitialise`: put the store's database back in order when `run` refuses it (edge/store/recovery.py)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from edge.cli._options import config_command
from edge.cli.daemon import load_or_exit
from edge.store.errors import StoreError
from edge.store.recovery import Recovered, reinitialise, restore

STORE_CONFIG_HELP = "TOML configuration file of the store"


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add restore and reinitialise."""
    back = config_command(
        subparsers, "restore", _restore, help="put a backup of the store's database in place (the daemon stopped)",
        description="Put a backup of this store's database in place: it is checked (SQLite quick_check, the same store), "
                    "whatever is in place now is kept under a dated name, and seq and birth continue above every value "
                    "handed out before, so headquarters never sees one twice. Stop the daemon first.",
        config_help=STORE_CONFIG_HELP,
    )
    back.add_argument("--from", dest="backup", type=Path, required=True, metavar="BACKUP", help="the backup database file")

    anew = config_command(
        subparsers, "reinitialise", _reinitialise, help="start the store's database over, empty (the daemon stopped)",
        description="Start this store's database over empty when there is no backup: catalogue, label bindings, history "
                    "and the remembered command ids are lost (headquarters re-sends products and bindings); seq and birth "
                    "continue above every value handed out before. Whatever is in place now is kept under a dated name. "
                    "Stop the daemon first.",
        config_help=STORE_CONFIG_HELP,
    )
    anew.add_argument("--yes-lose-local-state", action="store_true", help="required: you accept losing the local state")


def _restore(args: argparse.Namespace) -> int:
    """Restore, or one line saying why not (exit status 2)."""
    config = load_or_exit(args.config)
    return _done("restore", lambda: restore(config.database_path, args.backup, config.store.id))


def _reinitialise(args: argparse.Namespace) -> int:
    """Reinitialise, only when asked in so many words."""
    config = load_or_exit(args.config)
    if not args.yes_lose_local_state:
        print(f"store-edge: reinitialise starts {config.database_path} over empty: catalogue, label bindings, history and "
              "remembered command ids are lost; add --yes-lose-local-state to do it", file=sys.stderr)
        return 2
    return _done("reinitialise", lambda: reinitialise(config.database_path, config.store.id))


def _done(verb: str, action: Callable[[], Recovered]) -> int:
    """Run the recovery and print its one line (or why it cannot, exit status 2)."""
    try:
        result = action()
    except StoreError as err:
        print(f"store-edge: cannot {verb}: {err}", file=sys.stderr)
        return 2
    kept = ", ".join(str(p) for p in result.kept) or "nothing was there"
    print(f"{result.database} {verb}d: new events start at seq {result.first_seq}, the next connection is birth "
          f"{result.birth + 1}; kept: {kept}")
    return 0
