"""The only data that leaves the screen job: whitelisted, anonymous fields of `engaged` and `audience` events."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

ENGAGED_FIELDS = ("screen", "at", "distance_m", "viewers")
AUDIENCE_FIELDS = (
    "screen", "period_start", "period_end", "partial", "passing", "stopping", "engaged", "dwell_s",
    "max_concurrent", "facing_share", "by_content",
)
CONTENT_FIELDS = ("content", "playing_s", "ots", "watchers", "attention_s", "stopping", "dwell_s", "engaged")


def rfc3339(ts: float) -> str:
    """A Unix time as the contract's RFC 3339 UTC string with milliseconds."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def engaged_data(event: dict[str, Any], screen: str) -> dict[str, Any]:
    """`engaged` payload: which screen, when, how far (0.1 m) and how many people are in the zone now."""
    return {
        "screen": screen,
        "at": rfc3339(float(event["ts"])),
        "distance_m": float(event["distance_m"]),
        "viewers": int(event["viewers"]),
    }


def audience_data(event: dict[str, Any], screen: str, *, partial: bool = False) -> dict[str, Any]:
    """`audience` payload: counts, dwell statistics and facing share of one period (partial when cut short)."""
    dwell = event["dwell_s"]
    return {
        "screen": screen,
        "period_start": rfc3339(float(event["period_start"])),
        "period_end": rfc3339(float(event["period_end"])),
        "partial": partial,
        "passing": int(event["passing"]),
        "stopping": int(event["stopping"]),
        "engaged": int(event["engaged"]),
        "dwell_s": {k: dwell[k] for k in ("mean", "median", "max")},
        "max_concurrent": int(event["max_concurrent"]),
        "facing_share": event["facing_share"],
        "by_content": [content_data(row) for row in event["by_content"]],
    }


def content_data(row: dict[str, Any]) -> dict[str, Any]:
    """One `by_content` entry: the content id the screen was told, and counts and durations while it played."""
    attention, dwell = row["attention_s"], row["dwell_s"]
    return {
        "content": None if row["content"] is None else str(row["content"]),
        "playing_s": float(row["playing_s"]),
        "ots": int(row["ots"]),
        "watchers": int(row["watchers"]),
        "attention_s": {k: attention[k] for k in ("total", "mean")},
        "stopping": int(row["stopping"]),
        "dwell_s": {k: dwell[k] for k in ("mean", "median", "max")},
        "engaged": int(row["engaged"]),
    }
