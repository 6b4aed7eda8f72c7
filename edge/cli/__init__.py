"""The `store-edge` command line: the core's sub-commands (edge/cli/*) and each installed job's tools (its JobSpec.cli)."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from edge import __version__
from edge.jobs import installed_jobs


def _command_modules() -> list[str]:
    """Every module of this package registers its own sub-commands, so areas stay independent."""
    return sorted(f"{__name__}.{m.name}" for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def build_parser() -> argparse.ArgumentParser:
    """The whole command line: core commands, then the jobs' tools."""
    parser = argparse.ArgumentParser(
        prog="store-edge",
        description="Supermarket gateway daemon: shelf labels, AI scales, audience screens, MQTT sync.",
    )
    parser.add_argument("--version", action="version", version=f"store-edge {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in _command_modules():
        importlib.import_module(name).register(subparsers)
    for spec in installed_jobs():
        if spec.cli is not None:
            spec.cli(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse and run one sub-command; its handler's return value is the exit status."""
    args = build_parser().parse_args(argv)
    return int(args.handler(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
