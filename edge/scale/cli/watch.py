"""`store-edge scale …`: talk to a serial scale with the production driver (setup and diagnosis)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

import serial
import structlog

from devices.scale.driver import PROTOCOLS, ScaleDriver, default_settings


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `scale watch`."""
    scale = subparsers.add_parser("scale", help="serial scale tools")
    commands = scale.add_subparsers(dest="scale_command", required=True, metavar="SUBCOMMAND")
    watch = commands.add_parser("watch", help="print one JSON line per weight reading")
    watch.add_argument("--port", required=True, help="serial device, e.g. /dev/ttyUSB0")
    watch.add_argument("--protocol", required=True, choices=PROTOCOLS)
    watch.add_argument("--baud", type=int, default=None, help="baud rate (default: the protocol's, 9600)")
    watch.add_argument("--count", type=int, default=None, help="stop after N readings")
    watch.add_argument("--mode", choices=("poll", "stream"), default="poll", help="MT-SICS only: SI polling or SIR stream")
    watch.set_defaults(handler=_watch)


def _watch(args: argparse.Namespace) -> int:
    """Open the port once to fail fast with a clear message, then print readings until Ctrl-C/--count."""
    if not structlog.is_configured():
        structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    settings = default_settings(args.protocol, args.port, baudrate=args.baud)
    try:
        serial.Serial(settings.port, settings.baudrate).close()
    except (serial.SerialException, OSError, ValueError) as err:
        print(f"store-edge scale watch: cannot open {settings.port}: {err}", file=sys.stderr)
        return 2
    if args.mode == "stream" and args.protocol != "mt-sics":
        print("store-edge scale watch: --mode stream needs --protocol mt-sics", file=sys.stderr)
        return 2
    try:
        return asyncio.run(_print_readings(ScaleDriver(settings, args.protocol, mode=args.mode), args.count))
    except KeyboardInterrupt:
        return 0


async def _print_readings(driver: ScaleDriver, count: int | None) -> int:
    """Print readings as JSON lines (grams, stable, state), flushing each one."""
    printed = 0
    async with driver:
        async for reading in driver.readings():
            line = {"grams": reading.grams, "stable": reading.stable, "state": reading.state}
            print(json.dumps(line), flush=True)
            printed += 1
            if count is not None and printed >= count:
                break
    return 0
