"""The demo's transcript is words: events as one readable line, times on the store's clock, no dict reprs or JSON."""

from __future__ import annotations

import json
from zoneinfo import ZoneInfo

import pytest

from edge.demo.runner import _printer
from edge.demo.words import clock, event_line, figures, seq_range

SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_clock_is_the_stores_local_time_with_its_offset():
    assert clock("2026-12-01T22:46:56.393Z", SHANGHAI) == "06:46:56 UTC+8"
    assert clock(1767225600.0, ZoneInfo("UTC")) == "00:00:00 UTC"
    assert clock("2026-06-01T10:00:00Z", ZoneInfo("Asia/Kolkata")) == "15:30:00 UTC+5:30"
    assert clock("2026-01-15T10:00:00Z", ZoneInfo("America/New_York")) == "05:00:00 UTC-5"


def test_an_event_reads_as_words():
    event = {"seq": 246, "kind": "label.moved", "data": {
        "label": "E5:00:00:00:00:0A", "sku": "DEMO00011", "from": {"run": "A12R", "bay": 8, "level": 5},
        "to": {"endcap": "E01", "level": 2}, "confidence": 1.0, "digest": "9b0f5b39851e4c6aa1b2c3d4", "promo_price": None,
        "at": "2026-12-01T22:46:56.393Z", "elapsed_ms": 1135, "healthy": True, "readings": [{"label": "x", "temp_c": 4.1}] * 2}}
    words = ("label E5:00:00:00:00:0A, sku DEMO00011, from run A12R bay 8 level 5, to endcap E01 level 2,"
             " confidence 1, at 06:46:56 UTC+8, elapsed 1135 ms, healthy yes, readings ×2")
    assert figures(event["data"], SHANGHAI) == words  # the digest and the empty promotion price are left out
    assert event_line(event, SHANGHAI) == f"#246 label.moved: {words}"[:149] + "…"
    long = event_line({"seq": 1, "kind": "x", "data": {f"k{i}": "v" * 30 for i in range(10)}}, SHANGHAI)
    assert len(long) <= 150 and long.endswith("…")


def test_seq_range():
    assert seq_range([4, 6, 32]) == "#4…#32" and seq_range([7]) == "#7"


def test_the_printer_explains_its_marks_once_and_prints_no_json(capsys: pytest.CaptureFixture[str]):
    show = _printer("store-edge/v1/s1", SHANGHAI)
    for seq in range(1, 6):
        data = {"section": "dairy-1", "ts": "2026-12-01T22:46:55Z", "readings": [{"label": "F0", "temp_c": 3.5}], "state": "normal"}
        show("store-edge/v1/s1/event/temperature", json.dumps({"seq": seq, "kind": "temperature", "data": data}).encode())
    show("store-edge/v1/s1/reply/ping", b'{"id": "x", "ok": true}')  # replies are the scenes' to tell
    lines = capsys.readouterr().out.splitlines()
    assert sum("sequence number" in line for line in lines) == 1
    events = [line for line in lines if "⇡ #" in line]
    assert len(events) == 3 and "06:46:55 UTC+8" in events[0]
    assert "more temperature events follow" in lines[-1]
    assert not any(ch in line for line in events for ch in '{}[]"') and not any("': " in line for line in lines)  # no JSON, no Python repr
