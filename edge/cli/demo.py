"""`store-edge demo`: the whole daemon on simulated devices, a local broker and a scripted headquarters."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEFAULT_CONFIG = REPO / "config" / "demo.toml"


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add `demo`."""
    demo = subparsers.add_parser(
        "demo",
        help="run the daemon on simulated devices with a scripted headquarters",
        description=(
            "Start a private Mosquitto (or use STORE_EDGE_BROKER), run the daemon with the demo configuration, "
            "play a scripted headquarters session over MQTT and print what happens; stops by itself."
        ),
    )
    demo.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="configuration (default: config/demo.toml)")
    demo.add_argument(
        "--output", type=Path, default=Path("demo-output"),
        help="folder for the demo's files: a new or empty one, or one an earlier demo made (emptied); any other is refused",
    )
    demo.add_argument("--keep-running", action="store_true", help="keep the daemon running after the story")
    demo.set_defaults(handler=_demo)


def _demo(args: argparse.Namespace) -> int:
    """Play the demo into its output folder (relative paths in the configuration are read from its folder, so any working directory will do)."""
    from edge.demo.runner import OutputRefused, prepare_output, run_demo

    try:
        output = prepare_output(args.output)
    except OutputRefused as err:
        print(f"demo: {err}", file=sys.stderr)
        return 2
    return asyncio.run(run_demo(args.config.resolve(), output, args.keep_running))
