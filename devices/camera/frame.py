"""The small shared vocabulary of cameras: a captured frame, the health snapshot and the source protocol."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True, slots=True, eq=False)
class Frame:
    """One captured image; `seq` grows by one per captured frame so consumers can spot new and dropped frames."""

    image: np.ndarray  # H x W x 3, uint8, BGR
    seq: int
    ts: float


class CameraState(enum.Enum):
    """Where the capture thread is in its life, as the coordinator pattern of the house style wants."""

    STOPPED = "stopped"
    CONNECTING = "connecting"
    STREAMING = "streaming"
    RECONNECTING = "reconnecting"


@dataclass(frozen=True, slots=True)
class CameraHealth:
    """A typed snapshot of the camera's health, cheap to read from any thread."""

    state: CameraState
    frames: int
    last_frame_ts: float | None
    failures: int
    last_error: str | None

    @property
    def ok(self) -> bool:
        """True while frames are flowing."""
        return self.state is CameraState.STREAMING


class FrameSource(Protocol):
    """A blocking source of images; the `Camera` thread drives it and owns reconnects."""

    def open(self) -> None:
        """Connect to the source; raise `SourceUnavailable` when it cannot be opened."""

    def read(self) -> np.ndarray:
        """Block until the next BGR image; raise `SourceUnavailable` when the stream broke or ended."""

    def close(self) -> None:
        """Release the source; safe to call twice."""
