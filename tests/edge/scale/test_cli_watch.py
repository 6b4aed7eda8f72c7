"""`store-edge scale watch` as a subprocess against the pty simulators."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from devices.scale.simulator import MtSicsSimulator, ScaleModel, Toledo8217Simulator
from edge.cli import build_parser

ROOT = Path(__file__).resolve().parents[3]


def _watch(*args: str) -> subprocess.CompletedProcess[str]:
    """Run `store-edge scale watch` in a subprocess, bounded in time."""
    return subprocess.run(
        [sys.executable, "-m", "edge.cli", "scale", "watch", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.mark.parametrize(("protocol", "simulator"), [("mt-sics", MtSicsSimulator), ("toledo-8217", Toledo8217Simulator)])
def test_watch_prints_json_lines(tmp_path: Path, protocol: str, simulator: type) -> None:
    with simulator(ScaleModel(time_scale=4), path=tmp_path / "tty") as sim:
        sim.model.place(735)
        result = _watch("--port", sim.path, "--protocol", protocol, "--count", "4")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 4
    assert all(set(line) == {"grams", "stable", "state"} for line in lines)
    assert lines[-1] == {"grams": 735, "stable": True, "state": "ok"}


def test_missing_port_is_a_clear_error(tmp_path: Path) -> None:
    result = _watch("--port", str(tmp_path / "nope"), "--protocol", "mt-sics", "--count", "1")
    assert result.returncode != 0
    assert "cannot open" in result.stderr and str(tmp_path / "nope") in result.stderr
    assert result.stdout == ""


def test_parser_accepts_baud_and_rejects_unknown_protocol() -> None:
    args = build_parser().parse_args(["scale", "watch", "--port", "/dev/x", "--protocol", "toledo-8217", "--baud", "4800"])
    assert args.baud == 4800 and callable(args.handler)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["scale", "watch", "--port", "/dev/x", "--protocol", "dibal"])
