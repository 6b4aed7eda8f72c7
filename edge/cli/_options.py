"""The sub-commands that work on one store's configuration file declare it here, one way: `--config FILE`, required."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

CONFIG_HELP = "TOML configuration file"


def config_command(
    subparsers: argparse._SubParsersAction,  # type: ignore[type-arg]
    name: str, handler: Callable[[argparse.Namespace], int], *, help: str, description: str, config_help: str = CONFIG_HELP,
) -> argparse.ArgumentParser:
    """Add sub-command `name` taking a required `--config FILE` (a Path) and run by `handler`; its parser, for more options."""
    parser = subparsers.add_parser(name, help=help, description=description)
    parser.add_argument("--config", type=Path, required=True, help=config_help)
    parser.set_defaults(handler=handler)
    return parser
