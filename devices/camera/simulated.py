"""Simulated cameras with the real camera's interface: a folder of images, a looping video, a scripted scene."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from devices.backoff import Backoff
from devices.camera.capture import Camera
from devices.camera.errors import SourceUnavailable
from devices.camera.scene import Scene

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp"})


class FolderSource:
    """Frames from the images of a folder, cycled in name order, or held on one image chosen by `show()`."""

    def __init__(self, folder: str | Path, *, size: tuple[int, int] | None = None) -> None:
        self.folder = Path(folder)
        self.size = size
        self._paths: list[Path] = []
        self._index = 0
        self._held: int | None = None
        self._lock = threading.Lock()

    def open(self) -> None:
        """List the images; an empty or missing folder is an unavailable source."""
        try:
            paths = sorted(p for p in self.folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        except OSError as err:
            raise SourceUnavailable(f"cannot list {self.folder}: {err}") from err
        if not paths:
            raise SourceUnavailable(f"no images in {self.folder}")
        self._paths = paths

    @property
    def names(self) -> list[str]:
        """File names in the order they are shown."""
        return [p.name for p in self._paths]

    def show(self, index_or_name: int | str | None) -> None:
        """Hold one image (by index or file name), or resume cycling with None."""
        with self._lock:
            if isinstance(index_or_name, str):
                index_or_name = self.names.index(index_or_name)
            self._held = index_or_name

    def read(self) -> np.ndarray:
        """Decode the current image (a file that vanished or does not decode breaks the stream)."""
        with self._lock:
            if not self._paths:
                raise SourceUnavailable("source is not open")
            if self._held is not None:
                path = self._paths[self._held % len(self._paths)]
            else:
                path = self._paths[self._index % len(self._paths)]
                self._index += 1
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise SourceUnavailable(f"cannot decode {path.name}")
        return cv2.resize(image, self.size, interpolation=cv2.INTER_AREA) if self.size else image

    def close(self) -> None:
        """Nothing to release: files are read one at a time."""


class VideoFileSource:
    """A video file played in a loop, as a stand-in for a live stream."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._cap: cv2.VideoCapture | None = None

    def open(self) -> None:
        """Open the file; a missing or unreadable file is an unavailable source."""
        if not self.path.is_file():
            raise SourceUnavailable(f"no such file {self.path}")
        cap = cv2.VideoCapture(str(self.path))
        if not cap.isOpened():
            cap.release()
            raise SourceUnavailable(f"cannot open {self.path}")
        self._cap = cap

    def read(self) -> np.ndarray:
        """Next frame, rewinding at the end; a file that yields nothing even after a rewind is broken."""
        if self._cap is None:
            raise SourceUnavailable("source is not open")
        ok, image = self._cap.read()
        if not ok:
            self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, image = self._cap.read()
        if not ok or image is None:
            raise SourceUnavailable(f"no frames in {self.path}")
        return image

    def close(self) -> None:
        """Release the decoder."""
        if self._cap is not None:
            self._cap.release()
            self._cap = None


class SceneSource:
    """Frames of a scripted `Scene`; scene time advances by 1/fps per frame, so runs are reproducible."""

    def __init__(self, scene: Scene, *, fps: float = 15.0, loop: bool = True) -> None:
        self.scene = scene
        self.fps = fps
        self.loop = loop
        self.frame_index = 0
        self.truth: list[tuple[int, int, int, int]] = []

    @property
    def scene_time(self) -> float:
        """Scene time of the next frame."""
        t = self.frame_index / self.fps
        return t % (self.scene.duration + 1.0 / self.fps) if self.loop and self.scene.duration else t

    def open(self) -> None:
        """Nothing to connect to."""

    def read(self) -> np.ndarray:
        """Render the next frame and remember its true face boxes in `truth`."""
        image, self.truth = self.scene.render(self.scene_time)
        self.frame_index += 1
        return image

    def close(self) -> None:
        """Nothing to release."""


def folder_camera(folder: str | Path, *, fps: float = 10.0, size: tuple[int, int] | None = None) -> Camera:
    """A camera showing the images of a folder at `fps`."""
    return Camera(FolderSource(folder, size=size), name=f"folder:{Path(folder).name}", fps=fps)


def video_camera(path: str | Path, *, fps: float = 15.0, backoff: Backoff | None = None) -> Camera:
    """A camera looping a video file at `fps`."""
    return Camera(VideoFileSource(path), name=f"video:{Path(path).name}", fps=fps, backoff=backoff)


def scene_camera(scene: Scene, *, fps: float = 15.0, clock: Callable[[], float] = time.time) -> Camera:
    """A camera filming a scripted scene at `fps` (frame timestamps from `clock`, default wall time)."""
    source = SceneSource(scene, fps=fps)
    return Camera(source, name="scene", fps=fps, clock=clock)
