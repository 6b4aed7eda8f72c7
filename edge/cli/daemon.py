"""`store-edge run | check | status`: the daemon itself and the commands store IT uses around it."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import urllib.error
import urllib.request
from pathlib import Path

from edge.config import ConfigError, load_config


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add run, check and status."""
    run = subparsers.add_parser("run", help="run the daemon", description="Run the store-edge daemon (systemd runs this).")
    run.add_argument("--config", type=Path, required=True, help="TOML configuration file")
    run.set_defaults(handler=_run)

    check = subparsers.add_parser(
        "check", help="validate a configuration file", description="Validate a configuration and exit non-zero with readable errors."
    )
    check.add_argument("--config", type=Path, required=True, help="TOML configuration file")
    check.set_defaults(handler=_check)

    status = subparsers.add_parser(
        "status",
        help="show what the running daemon is doing",
        description="Ask the running daemon (its local HTTP API) for jobs, devices, outbox depth and last sync.",
    )
    where = status.add_mutually_exclusive_group()
    where.add_argument("--config", type=Path, help="configuration of the daemon to ask (uses its [http] section)")
    where.add_argument("--url", help="base URL of the daemon's API, e.g. http://127.0.0.1:8787")
    status.add_argument("--token-file", type=Path, help="file holding the API token, if the daemon requires one")
    status.add_argument("--json", action="store_true", help="print the raw JSON")
    status.set_defaults(handler=_status)


def _load(path: Path):  # noqa: ANN202 - returns Config or exits
    try:
        return load_config(path)
    except ConfigError as err:
        print(err, file=sys.stderr)
        raise SystemExit(2) from None


def _run(args: argparse.Namespace) -> int:
    from edge.app import run_daemon
    from edge.logs import configure

    config = _load(args.config)
    configure(config.log.level, config.log.format)
    asyncio.run(run_daemon(config))
    return 0


def _check(args: argparse.Namespace) -> int:
    config = _load(args.config)
    print(f"{args.config}: OK (store {config.store.id}, broker {config.broker.url}, data {config.data.dir})")
    return 0


def _status(args: argparse.Namespace) -> int:
    token = args.token_file.read_text().strip() if args.token_file else None
    if args.url:
        base = args.url.rstrip("/")
    else:
        config = _load(args.config or Path("/etc/store-edge/store-edge.toml"))
        host = "127.0.0.1" if config.http.host in ("0.0.0.0", "::") else config.http.host
        base = f"http://{host}:{config.http.port}"
        if token is None and config.http.token_file:
            token = config.http.token_file.read_text().strip()
    request = urllib.request.Request(f"{base}/api/status")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            status = json.load(response)
    except urllib.error.HTTPError as err:
        print(f"daemon at {base} answered {err.code}: {err.read().decode(errors='replace')}", file=sys.stderr)
        return 1
    except (urllib.error.URLError, OSError) as err:
        print(f"no daemon answering at {base}: {getattr(err, 'reason', err)}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(status, indent=2, ensure_ascii=False))
        return 0
    link = status["link"]
    print(f"store {status['store_id']}  version {status['version']}  up {status['uptime_s']} s")
    print(f"link: {link['state']}  outbox depth {link['outbox_depth']}  last sync {link['last_sync'] or 'never'}")
    if link.get("last_error"):
        print(f"  last error: {link['last_error']}")
    for name, comp in status["components"].items():
        flag = "ok" if comp["healthy"] else "UNHEALTHY"
        print(f"  {name:<10} {flag:<10} restarts {comp['restarts']}")
    return 0
