"""Fixtures for camera tests: small image folders, short video files and a scriptable fake source."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from devices.camera.errors import SourceUnavailable


def numbered_image(n: int, size: tuple[int, int] = (64, 48)) -> np.ndarray:
    """A BGR image whose top-left pixel encodes `n`, so a test can tell frames apart."""
    img = np.full((size[1], size[0], 3), 40, np.uint8)
    img[:8, :8] = (n * 20) % 256
    return img


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    """Three PNG images named a, b, c with distinct marker values."""
    folder = tmp_path / "images"
    folder.mkdir()
    for i, name in enumerate("abc"):
        cv2.imwrite(str(folder / f"{name}.png"), numbered_image(i + 1))
    (folder / "notes.txt").write_text("not an image")
    return folder


@pytest.fixture
def write_video(tmp_path: Path) -> Callable[..., Path]:
    """Write a small MJPG video of `frames` frames whose frames carry their index."""

    def write(name: str = "clip.avi", frames: int = 6, size: tuple[int, int] = (64, 48)) -> Path:
        path = tmp_path / name
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, size)
        assert writer.isOpened()
        for i in range(frames):
            writer.write(numbered_image(i + 1, size))
        writer.release()
        return path

    return write


class FakeSource:
    """A source that fails to open a set number of times, then yields numbered frames as fast as asked."""

    def __init__(self, fail_opens: int = 0, frames_before_break: int | None = None) -> None:
        self.fail_opens = fail_opens
        self.frames_before_break = frames_before_break
        self.opens = 0
        self.closes = 0
        self.produced = 0
        self._since_open = 0
        self.gate = threading.Event()
        self.gate.set()

    def open(self) -> None:
        self.opens += 1
        if self.opens <= self.fail_opens:
            raise SourceUnavailable(f"refused #{self.opens}")
        self._since_open = 0

    def read(self) -> np.ndarray:
        if self.frames_before_break is not None and self._since_open >= self.frames_before_break:
            raise SourceUnavailable("cable pulled")
        self.gate.wait(5.0)
        self._since_open += 1
        self.produced += 1
        return numbered_image(self.produced)

    def close(self) -> None:
        self.closes += 1


@pytest.fixture
def fake_source() -> type[FakeSource]:
    """The FakeSource class, for tests to build with their own failure script."""
    return FakeSource
