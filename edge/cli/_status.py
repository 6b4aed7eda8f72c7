"""`store-edge status` as text: what the daemon's HTTP API says, in one screen; any failure to ask is one line and exit status 1.

It reads `/api/status` and, where the daemon serves them (the esl job), `/api/fridges` for open
alerts and `/api/labels?state=failed` for failed labels (docs/http-api.md); a route the daemon
does not serve is simply not shown.
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from edge.config import Config, read_secret

TIMEOUT_S = 5.0
FAILED_SHOWN = 5  # failed label ids listed (the count is always complete)


class Unanswered(Exception):
    """The daemon could not be asked, or did not answer as a store-edge daemon; the message is the one line shown."""


def show_status(args: argparse.Namespace, load: Callable[[Path], Config]) -> int:
    """Ask the daemon named by `--url` or `--config` and print its status (or the raw JSON with `--json`)."""
    try:
        base, token = _where(args, load)
        status = _get(base, "/api/status", token)
        if not isinstance(status, dict) or not isinstance(status.get("link"), dict) or not isinstance(status.get("components"), dict):
            raise Unanswered(f"{base}/api/status did not answer a store-edge status (is this the daemon's address?)")
        if args.json:
            print(json.dumps(status, indent=2, ensure_ascii=False))
            return 0
        fridges = _optional(base, "/api/fridges?hours=1&points=1", token)
        labels = _optional(base, f"/api/labels?state=failed&limit={FAILED_SHOWN}", token)
    except Unanswered as err:
        print(f"store-edge status: {err}", file=sys.stderr)
        return 1
    print("\n".join(render(status, fridges, labels)))
    return 0


def _where(args: argparse.Namespace, load: Callable[[Path], Config]) -> tuple[str, str | None]:
    """The API's base URL and the token to send."""
    token = _token(args.token_file) if args.token_file else None
    if args.url:
        parts = urlsplit(args.url)
        try:
            _ = parts.port  # a port that is not a number, or beyond 65535
        except ValueError:
            parts = parts._replace(netloc="")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise Unanswered(f"--url {args.url[:80]!r} is not an http:// address, e.g. http://127.0.0.1:8787")
        return args.url.rstrip("/"), token
    config = load(args.config or Path("/etc/store-edge/store-edge.toml"))
    host = "127.0.0.1" if config.http.host in ("0.0.0.0", "::", "") else config.http.host
    host = f"[{host}]" if ":" in host else host
    if token is None and config.http.token_file:
        token = _token(config.http.token_file)
    return f"http://{host}:{config.http.port}", token


def _token(path: Path) -> str:
    """The token from its file, or why it cannot be read."""
    try:
        return read_secret(path)
    except OSError as err:
        raise Unanswered(f"cannot read the token file {path}: {err.strerror or err}") from None


def _get(base: str, path: str, token: str | None) -> Any:
    """One GET of the JSON API, every failure as Unanswered."""
    request = urllib.request.Request(f"{base}{path}")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            body = response.read(8 * 1024 * 1024)
    except urllib.error.HTTPError as err:
        if err.code == 401:
            raise Unanswered(f"the daemon at {base} refused the token (401): pass --token-file, or --config to use its [http] token_file") from None
        raise Unanswered(f"the daemon at {base} answered {err.code} to {path}: {_reason(err)}") from None
    except urllib.error.URLError as err:
        raise Unanswered(f"no daemon answering at {base}: {getattr(err.reason, 'strerror', None) or err.reason}") from None
    except TimeoutError:
        raise Unanswered(f"no answer from {base} within {TIMEOUT_S:g} s") from None
    except (OSError, http.client.HTTPException, ValueError) as err:
        raise Unanswered(f"no daemon answering at {base}: {err.__class__.__name__} {err}".strip()) from None
    try:
        return json.loads(body)
    except ValueError:
        raise Unanswered(f"{base}{path} did not answer JSON (is this the daemon's address?)") from None


def _reason(err: urllib.error.HTTPError) -> str:
    """The `error` of a JSON error reply, else the start of the body."""
    text = err.read(2000).decode("utf-8", "replace")
    try:
        return str(json.loads(text).get("error", text))[:200]
    except (ValueError, AttributeError):
        return text[:200]


def _optional(base: str, path: str, token: str | None) -> dict[str, Any] | None:
    """A route of a job: its JSON, or None where the daemon does not serve it (404) or it fails."""
    try:
        found = _get(base, path, token)
    except Unanswered:
        return None
    return found if isinstance(found, dict) else None


def render(status: dict[str, Any], fridges: dict[str, Any] | None, labels: dict[str, Any] | None) -> list[str]:
    """The status as lines: daemon, link, each component with its devices, fridge alerts, failed labels."""
    zone = _zone(status.get("timezone"))
    link = status["link"]
    lines = [f"store {status.get('store_id')}  version {status.get('version')}  up {_duration(status.get('uptime_s'))}"]
    synced = _when(link.get("last_sync"), zone) or "never"
    lines.append(f"link: {link.get('state')}  outbox depth {link.get('outbox_depth')}  last sync {synced}")
    if link.get("state") != "connected" and link.get("last_error"):
        lines.append(f"  last error: {link['last_error']}")  # only while it is current: a connected link has none
    for name, comp in status["components"].items():
        comp = comp if isinstance(comp, dict) else {}
        healthy = comp.get("healthy") is True
        line = f"  {name:<10} {'ok' if healthy else 'UNHEALTHY':<10} restarts {comp.get('restarts', 0)}"
        if not healthy and comp.get("last_crash"):
            line += f"  last crash: {comp['last_crash']}"
        lines.append(line)
        lines += [f"      {d}" for d in _devices(comp.get("detail"))]
    if fridges is not None:
        lines += _alerts(fridges, zone)
    if labels is not None:
        lines += _failed(labels)
    return lines


def _devices(detail: Any) -> list[str]:
    """A job's devices, found by shape as the status page finds them: a table of objects with `healthy`, `state` or `phase`."""
    found: list[str] = []
    if not isinstance(detail, dict):
        return found
    for value in detail.values():
        items = list(value.values()) if isinstance(value, dict) else []
        if not items or not all(isinstance(d, dict) and ({"healthy", "state", "phase"} & set(d)) for d in items):
            continue
        for device_id, d in value.items():
            ok = d.get("healthy") is not False and d.get("state") != "down"
            shown = d.get("phase") or d.get("state") or ("ok" if ok else "fault")
            problem = "" if ok else next((f"  {d[k]}" for k in ("problem", "last_error", "detail") if d.get(k)), "")
            found.append(f"{device_id:<14} {shown}{'' if ok else '  FAULT'}{problem}")
    return found


def _alerts(fridges: dict[str, Any], zone: ZoneInfo | None) -> list[str]:
    """Open fridge alerts, one line each, or that there are none."""
    sections = [s for s in fridges.get("sections") or [] if isinstance(s, dict)]
    open_ = [s for s in sections if isinstance(s.get("alert"), dict)]
    if not open_:
        return [f"fridge alerts: none ({len(sections)} sections)"]
    lines = [f"fridge alerts: {len(open_)} open"]
    for s in open_:
        alert = s["alert"]
        now = f", now {s['last_c']} °C" if s.get("last_c") is not None else ""
        lines.append(f"  {s.get('id')} {s.get('name') or ''}: {alert.get('reason')}, peak {alert.get('peak_c')} °C{now}, "
                     f"since {_when(alert.get('raised_at'), zone)}")
    return lines


def _failed(labels: dict[str, Any]) -> list[str]:
    """Label counts by state and the first failed ids."""
    counts = labels.get("counts") or {}
    if not counts:
        return ["labels: none"]
    shown = ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
    failed = int(counts.get("failed") or 0)
    ids = [str(label.get("id")) for label in labels.get("labels") or [] if isinstance(label, dict)][:FAILED_SHOWN]
    if failed:
        shown += ": " + ", ".join(ids) + (f" and {failed - len(ids)} more" if failed > len(ids) else "")
    return [f"labels: {shown}"]


def _zone(name: Any) -> ZoneInfo | None:
    """The store's time zone (times are shown in it, with its abbreviation)."""
    try:
        return ZoneInfo(name) if isinstance(name, str) and name else None
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _when(value: Any, zone: ZoneInfo | None) -> str | None:
    """An ISO time or epoch seconds in the store's zone, e.g. `2026-01-01 16:00:05 CST`."""
    if value is None:
        return None
    try:
        moment = datetime.fromtimestamp(value, UTC) if isinstance(value, (int, float)) else datetime.fromisoformat(str(value))
    except (ValueError, OverflowError, OSError):
        return str(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z")


def _duration(seconds: Any) -> str:
    """Uptime as `3 d 4 h`, `5 h 12 min`, `7 min` or `12 s`."""
    if not isinstance(seconds, (int, float)):
        return "?"
    s = int(seconds)
    if s >= 86400:
        return f"{s // 86400} d {s % 86400 // 3600} h"
    if s >= 3600:
        return f"{s // 3600} h {s % 3600 // 60} min"
    return f"{s // 60} min" if s >= 60 else f"{s} s"
