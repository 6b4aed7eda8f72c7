"""Fixtures for screen tests: one shared detector and the public face set when present."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.screen.detector import YuNetDetector
from tests.conftest import SHARED

FACES_DIR = SHARED / "datasets" / "faces"


@pytest.fixture(scope="session")
def detector() -> YuNetDetector:
    """The production detector with its default settings."""
    return YuNetDetector()


@pytest.fixture(scope="session")
def faces_dataset() -> Path:
    """The shared face test set; tests using it skip where it is not mounted."""
    if not (FACES_DIR / "ground_truth.csv").is_file():
        pytest.skip("face data set not available")
    return FACES_DIR
