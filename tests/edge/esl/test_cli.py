"""`describe()` output and the `store-edge esl decode` command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from devices.esl.codec import LedTimedControl, decode_command
from devices.esl.describe import describe
from devices.esl.led import LedParams, RED
from edge.cli import main

REPO = Path(__file__).resolve().parents[3]
LED_EXAMPLE = "B0 05 00 CC 02 00 00 00 00 64 64 79 00"


def test_describe_led_example_in_natural_units() -> None:
    """Opcode, name, esl_id and every LED parameter in ms, seconds and levels."""
    d = describe(decode_command(bytes.fromhex(LED_EXAMPLE)))
    assert d["opcode"] == 0xB0 and d["name"] == "led_control" and d["esl_id"] == 5
    assert d["led_index"] == 0 and d["on_ms"] == 200 and d["off_ms"] == 200 and d["repeat_seconds"] == 60
    assert d["color"] == {"red": 0, "green": 3, "blue": 0, "brightness_level": 3, "brightness_percent": 100}
    json.dumps(d)


def test_describe_timed_led_count_and_cancel() -> None:
    """Repeat counts and absolute time (0 = cancel) are spelled out."""
    d = describe(LedTimedControl(9, 1, LedParams.flash(RED, pattern=0b1010, on_ms=100, off_ms=50, count=4), 0))
    assert d["repeat_count"] == 4 and d["pattern_bits"] == "1010" and d["cancel"] is True
    assert d["absolute_time_ms"] == 0 and d["off_ms"] == 50


def test_cli_decodes_several_commands_with_colons(capsys: pytest.CaptureFixture[str]) -> None:
    """Sniffer-style hex with colons and spaces gives one JSON object per record."""
    assert main(["esl", "decode", "00:05:10:05:00", LED_EXAMPLE]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [o["name"] for o in out] == ["ping", "read_sensor_data", "led_control"]
    assert out[1]["sensor_index"] == 0


def test_cli_decodes_responses(capsys: pytest.CaptureFixture[str]) -> None:
    """--responses switches to the response table."""
    assert main(["esl", "decode", "--responses", "1E 00 08 00 0B"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out == [
        {"opcode": 0x1E, "name": "sensor_value", "sensor_index": 0, "data": "08"},
        {"opcode": 0x00, "name": "error", "error_code": 0x0B, "error": "queue_full"},
    ]


@pytest.mark.parametrize("text", ["B0 05 00 CC", "zz", "0"])
def test_cli_rejects_truncated_or_non_hex(text: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Truncated or non-hex input: message on stderr, non-zero exit, nothing on stdout."""
    assert main(["esl", "decode", text]) != 0
    captured = capsys.readouterr()
    assert captured.out == "" and "esl decode" in captured.err


def test_console_exit_code_on_truncated_input() -> None:
    """The real process exits non-zero for a truncated packet."""
    proc = subprocess.run([sys.executable, "-m", "edge.cli", "esl", "decode", "20 05 00"],
                          cwd=REPO, capture_output=True, text=True, timeout=30)
    assert proc.returncode != 0 and "needs 4 octets" in proc.stderr
