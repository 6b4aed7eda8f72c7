"""Cameras from the `source` setting of a screen: USB index, stream URL, video file, image folder or simulation."""

from __future__ import annotations

from pathlib import Path

from devices.backoff import Backoff
from devices.camera import Camera, OpenCVSource
from devices.camera.simulated import FolderSource, SceneSource, VideoFileSource
from edge.screen.errors import ScreenError

SHOPPER_START_S = 1.0  # the simulated shopper appears after one second of empty shop


class SourceError(ScreenError):
    """The configured source cannot be built at all (not a passing outage: a missing extra, a bad spec)."""


def _backoff() -> Backoff:
    """Reconnect back-off of screen cameras: capped at 10 s so a replugged camera is back quickly."""
    return Backoff(initial=0.5, maximum=10.0)


def simulated_shopper(name: str, fps: float) -> Camera:
    """A shop camera where one simulated shopper walks up, stops 6 s in the zone, looks, turns and leaves, once."""
    try:
        import skimage  # noqa: F401 - the shopper's face comes from scikit-image's sample data
    except ImportError as err:
        raise SourceError(
            "source 'simulated:shopper' needs scikit-image, which is only in the demo/test extras: "
            "pip install 'store-edge[demo]'"
        ) from err
    from devices.camera.scene import Scene, shopper_walk

    scene = Scene([shopper_walk(t0=SHOPPER_START_S)], width=640, height=480)
    return Camera(SceneSource(scene, fps=fps, loop=False), name=name, fps=fps, backoff=_backoff())


def make_camera(source: str | int, *, name: str, fps: float) -> Camera:
    """The camera for a `source` setting (not started); a number means a USB index, `://` a stream URL."""
    if isinstance(source, int) or source.strip().isdigit():
        return Camera(OpenCVSource(int(source)), name=name, fps=fps, backoff=_backoff())
    if source == "simulated:shopper":
        return simulated_shopper(name, fps)
    if source.startswith("simulated:"):
        raise SourceError(f"unknown simulated source {source!r}")
    if source.startswith("folder:"):
        return Camera(FolderSource(Path(source.removeprefix("folder:"))), name=name, fps=fps, backoff=_backoff())
    if "://" in source:
        return Camera(OpenCVSource(source), name=name, fps=fps, backoff=_backoff())
    return Camera(VideoFileSource(Path(source)), name=name, fps=fps, backoff=_backoff())
