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


@pytest.mark.parametrize(("sensor", "prop", "data", "value"), [
    ("0x004F", 0x004F, "7F", None), ("0x004f", 0x004F, "FF", -0.5), ("present_ambient_temperature", 0x004F, "08", 4.0),
    ("0x0054", 0x0054, "0080", None), ("0054", 0x0054, "9A01", 4.10), ("present-input-voltage", 0x0059, "C000", 3.0),
    ("89", 0x0059, "FFFF", None),
])
def test_cli_reads_sensor_values_for_a_property(sensor: str, prop: int, data: str, value: float | None,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """--sensor interprets each Sensor Value's data for a mesh property (hex id, decimal id or name): null = unknown."""
    size = len(bytes.fromhex(data))
    assert main(["esl", "decode", "--responses", f"{size << 4 | 0x0E:02X} 00 {data} 00 0A", "--sensor", sensor]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out[0]["name"] == "sensor_value" and out[0]["property"] == f"0x{prop:04X}"
    assert out[0]["value"] == (None if value is None else pytest.approx(value))
    assert out[1] == {"opcode": 0x00, "name": "error", "error_code": 0x0A, "error": "retry"}


def test_cli_sensor_prints_null_for_an_unknown_temperature() -> None:
    """The installer's view: a tag's raw answer `1E 00 7F` is printed with "value": null, not 63.5."""
    proc = subprocess.run([sys.executable, "-m", "edge.cli", "esl", "decode", "--responses", "1E 00 7F", "--sensor", "0x004F"],
                          cwd=REPO, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == [{"opcode": 0x1E, "name": "sensor_value", "sensor_index": 0, "data": "7f",
                                        "property": "0x004F", "quantity": "ambient_temperature", "value": None,
                                        "unit": "degC"}]


@pytest.mark.parametrize(("args", "message"), [
    (["--responses", "2E 00 08 00", "--sensor", "0x004F"], "needs 1 octets"),
    (["--responses", "1E 00 08", "--sensor", "0x1234"], "no decoder for mesh property 0x1234"),
    (["--responses", "1E 00 08", "--sensor", "fridge"], "unknown sensor property 'fridge'"),
    (["1E 00 08", "--sensor", "0x004F"], "--sensor needs --responses"),
])
def test_cli_sensor_errors(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Data of the wrong size, a property without a decoder, a misspelt name: a one-line error, exit 1."""
    assert main(["esl", "decode", *args]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and message in captured.err
