"""benchmarks/bench_esl_refresh.py keeps running against the current bleak access point (a few labels, short runs)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]

pytestmark = pytest.mark.timeout(120)


def test_the_refresh_benchmark_runs_and_every_label_shows_its_image() -> None:
    """40 labels over 1 and 3 connections: one row each, no failure (the script asserts every label shows slot 0)."""
    run = subprocess.run(
        [sys.executable, "benchmarks/bench_esl_refresh.py", "--labels", "40", "--connections", "1", "3",
         "--run-seconds", "0.3"],
        cwd=REPO, capture_output=True, text=True, timeout=100, check=False,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    rows = [line.split() for line in run.stdout.splitlines() if line.split() and line.split()[0].isdigit()]
    assert [row[0] for row in rows] == ["1", "3"]
    assert all(row[-1] == "0" and float(row[5]) > 0 for row in rows)  # failed, limit s
