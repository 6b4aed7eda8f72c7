"""Fleet health: the figures of `telemetry/health` and `/metrics`, from `status`, the host and each job's `fleet` hook.

The host figures come from `/proc` and `os`/`shutil` (psutil is not a dependency); on a system
without `/proc` they are null. A job's hook is bounded (counts, at most `MAX_DEVICES` devices per
job) and isolated: one that raises or hangs reports an `error` and the others still report.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import structlog

log = structlog.get_logger("fleet")

MAX_DEVICES = 256  # per job: a bigger fleet is counted, not listed (`devices_listed` says how many were)
MAX_NAME = 64  # device ids, states and model names are cut to this
HOOK_TIMEOUT_S = 5.0
COUNTS = ("low_batteries", "open_alerts")

Hook = Callable[[], Awaitable[dict[str, Any]]]


class CpuMeter:
    """CPU shares since the previous sample (the first one: since the daemon started / the host booted)."""

    def __init__(self) -> None:
        """Start from the process's and the host's totals so far."""
        self._wall = time.monotonic() - _process_age_s()
        self._proc = 0.0
        self._busy, self._total = 0.0, 0.0

    def sample(self) -> dict[str, float | None]:
        """`process_pct` (100 = one core busy, as top shows it) and `system_pct` (share of all cores)."""
        now, times = time.monotonic(), os.times()
        proc = times.user + times.system
        elapsed = max(now - self._wall, 1e-6)
        process_pct = round(100 * (proc - self._proc) / elapsed, 1)
        self._wall, self._proc = now, proc
        system_pct = None
        found = _proc_stat()
        if found is not None:
            busy, total = found
            if total > self._total:
                system_pct = round(100 * (busy - self._busy) / (total - self._total), 1)
            self._busy, self._total = busy, total
        return {"process_pct": process_pct, "system_pct": system_pct}


def _process_age_s() -> float:
    """Seconds since this process started (from /proc/self/stat), 0 when unknown."""
    try:
        start_ticks = int(Path("/proc/self/stat").read_text().rpartition(")")[2].split()[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return max(uptime - start_ticks / os.sysconf("SC_CLK_TCK"), 0.0)
    except (OSError, ValueError, IndexError):
        return 0.0


def _proc_stat() -> tuple[float, float] | None:
    """Busy and total jiffies of all cores (idle and iowait are not busy), or None without /proc."""
    try:
        fields = [float(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError, IndexError):
        return None
    total = sum(fields[:8])  # guest time is already in user
    return total - fields[3] - (fields[4] if len(fields) > 4 else 0.0), total


def _meminfo_available() -> int | None:
    """MemAvailable in bytes, or None."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return None


def _rss() -> int | None:
    """The process's resident set in bytes, or None."""
    try:
        return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def host(cpu: CpuMeter, data_dir: Path) -> dict[str, Any]:
    """CPU, memory and data-directory disk figures (blocking: a few small /proc reads and a statvfs; run off the loop)."""
    try:
        free: int | None = shutil.disk_usage(data_dir).free
    except OSError:
        free = None
    return {
        "cpu": cpu.sample(),
        "memory": {"rss_bytes": _rss(), "system_available_bytes": _meminfo_available()},
        "disk": {"data_free_bytes": free},
    }


def oldest_age_s(oldest_ts: str | None, now: datetime) -> float | None:
    """Age of the oldest unsent event from its `ts`, or None when the outbox is empty or the stamp unreadable."""
    if oldest_ts is None:
        return None
    try:
        return round(max((now - datetime.fromisoformat(oldest_ts)).total_seconds(), 0.0), 1)
    except (TypeError, ValueError):
        return None


def _name(value: Any) -> str:
    """A device id, state or model name as a short string."""
    return str(value)[:MAX_NAME]


def _count(value: Any) -> int:
    """A non-negative int count (anything else is 0)."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def bounded(figures: Any) -> dict[str, Any]:
    """A hook's dict kept to the documented keys, counts and sizes; anything else is dropped."""
    if not isinstance(figures, dict):
        raise TypeError(f"fleet hook returned {type(figures).__name__}, not a dict")
    out: dict[str, Any] = {}
    devices = figures.get("devices")
    if isinstance(devices, dict):
        listed = list(devices.items())[:MAX_DEVICES]
        out["devices"] = {_name(k): _name(v) for k, v in listed}
        if len(devices) > MAX_DEVICES:
            out["devices_total"] = len(devices)
    for key in ("labels", "models"):
        value = figures.get(key)
        if isinstance(value, dict):
            items = list(value.items())[:MAX_DEVICES]
            out[key] = {_name(k): (_count(v) if key == "labels" else _name(v)) for k, v in items}
    for key in COUNTS:
        if key in figures:
            out[key] = _count(figures[key])
    return out


async def job_figures(hooks: Sequence[tuple[str, Hook]]) -> dict[str, dict[str, Any]]:
    """Each job's bounded figures; a hook that raises or takes longer than `HOOK_TIMEOUT_S` gives `{"error": ...}`."""

    async def one(name: str, hook: Hook) -> dict[str, Any]:
        """One job's figures, or its error."""
        try:
            return bounded(await asyncio.wait_for(hook(), HOOK_TIMEOUT_S))
        except asyncio.CancelledError:
            raise
        except Exception as err:  # noqa: BLE001 - a job's fault must not stop the others reporting
            reason = "timed out" if isinstance(err, TimeoutError) else f"{type(err).__name__}: {str(err)[:120]}"
            log.warning("fleet.hook.failed", job=name, error=reason)
            return {"error": reason[:200]}

    found = await asyncio.gather(*(one(name, hook) for name, hook in hooks))
    return {name: figures for (name, _), figures in zip(hooks, found, strict=True)}


def message(status: dict[str, Any], host_figures: dict[str, Any], oldest_s: float | None,
            jobs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The `telemetry/health` body (without `ts`, which the link adds): the retained status's figures reused, plus the rest."""
    link = status["link"]
    components = status["components"]
    return {
        "store_id": status["store_id"],
        "version": status["version"],
        "config": status["config"],  # version, sha256, source: which stores run HQ's last config.set
        "uptime_s": status["uptime_s"],
        **host_figures,
        "outbox": {"depth": link["outbox_depth"], "oldest_age_s": oldest_s, "disk_full": link["disk_full"]},
        "link": {"state": link["state"], "events_sent": link["events_sent"], "commands_handled": link["commands_handled"]},
        "jobs": {
            name: {"healthy": c["healthy"], "restarts": c["restarts"], **jobs.get(name, {})}
            for name, c in components.items() if name != "sync"
        },
    }
