"""How the demo tells a person what happens: times on the store's clock, figures as words, events as one readable line."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

LINE_CHARS = 150
_HASH = re.compile(r"^[0-9a-f]{16,}$")  # digests and other hashes: for machines, not for a person reading along
_ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:?\d\d)$")
_UNITS = (("_ms", "ms"), ("_s", "s"), ("_m", "m"), ("_c", "°C"), ("_v", "V"), ("_g", "g"))


def clock(value: str | float, zone: ZoneInfo) -> str:
    """A time (RFC 3339 or epoch seconds) on the store's clock with its offset, e.g. `06:46:56 UTC+8`."""
    when = datetime.fromtimestamp(value, zone) if isinstance(value, int | float) else datetime.fromisoformat(value).astimezone(zone)
    offset = when.strftime("%z")  # "+0800"
    hours, minutes = int(offset[1:3]), offset[3:5]
    zone_name = "UTC" if offset in ("+0000", "") else f"UTC{offset[0]}{hours}{'' if minutes == '00' else ':' + minutes}"
    return f"{when:%H:%M:%S} {zone_name}"


def seq_range(seqs: list[int]) -> str:
    """Sequence numbers as a person reads them: `#30…#58`, or `#7` for one."""
    return f"#{seqs[0]}" if len(seqs) == 1 else f"#{seqs[0]}…#{seqs[-1]}"


def _value(key: str, value: Any, zone: ZoneInfo) -> str | None:
    """One value in words, or None when it says nothing to a person (empty, a hash)."""
    if value is None or value == "" or value == [] or value == {}:
        return None
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        if _HASH.match(value):
            return None
        if _ISO.match(value):
            return clock(value, zone)
        return value if len(value) <= 40 else value[:39] + "…"
    unit = next((u for suffix, u in _UNITS if key.endswith(suffix)), None)
    if isinstance(value, int | float):
        return f"{value:g} {unit}" if unit else f"{value:g}"
    if isinstance(value, dict):
        inner = [f"{_name(k)} {v}" for k, raw in value.items() if (v := _value(k, raw, zone)) is not None]
        return " ".join(inner) or None
    if isinstance(value, list):
        if len(value) <= 4 and all(not isinstance(v, dict | list) for v in value):
            return ", ".join(_value(key, v, zone) or "—" for v in value)
        return f"×{len(value)}"
    return str(value)


def _name(key: str) -> str:
    """A field's name in words: `items_done` → `items done`, `elapsed_ms` → `elapsed`."""
    for suffix, _ in _UNITS:
        if key.endswith(suffix) and len(key) > len(suffix):
            key = key[: -len(suffix)]
            break
    return key.replace("_", " ")


def figures(data: dict[str, Any], zone: ZoneInfo) -> str:
    """An event's data as `name value, name value`, empty values left out."""
    parts = [f"{_name(k)} {v}" for k, raw in data.items() if (v := _value(k, raw, zone)) is not None]
    return ", ".join(parts)


def event_line(event: dict[str, Any], zone: ZoneInfo) -> str:
    """One event headquarters received: `#24 label.updated: label E5:…, sku DEMO00001, price 4.68`, cut to a line."""
    line = f"#{event['seq']} {event['kind']}: {figures(event.get('data') or {}, zone)}"
    return line if len(line) <= LINE_CHARS else line[: LINE_CHARS - 1] + "…"
