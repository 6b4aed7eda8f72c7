"""Threaded capture that keeps only the newest frame and reconnects with capped, jittered back-off.

OpenCV and its FFmpeg backend print their own unstructured lines to stderr (`[ WARN:0@0.01] global
cap_v4l.cpp:914 open VIDEOIO(V4L2:/dev/video9): can't open camera by index`, `[tcp @ 0x…] Connection
refused`), which would reach journald raw. The Python bindings offer no log callback to route them
through structlog (opencv-python-headless 5.0: `cv2.utils.logging` has only get/setLogLevel), so both
are silenced when this module loads, unless the operator set `OPENCV_LOG_LEVEL` or
`OPENCV_FFMPEG_LOGLEVEL`; the first camera opened says so in one structured line, and every failure
is reported as `camera.stream.failed` with its reason.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import structlog

from devices.backoff import Backoff
from devices.camera.errors import SourceUnavailable
from devices.camera.frame import CameraHealth, CameraState, Frame, FrameSource
from devices.reconnect import Reconnect, ReconnectEvents, ReconnectState

log = structlog.get_logger(__name__)

FFMPEG_QUIET = "-8"  # AV_LOG_QUIET; OpenCV reads OPENCV_FFMPEG_LOGLEVEL when its FFmpeg backend first opens something


def _quiet_opencv() -> None:
    """Silence OpenCV's and FFmpeg's own stderr lines (before any capture opens), unless the environment asks for them."""
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", FFMPEG_QUIET)
    if "OPENCV_LOG_LEVEL" not in os.environ:
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)


_announced = threading.Lock()  # held for good by the first caller: a once-flag safe across threads


def _announce_quiet() -> None:
    """Say once per process, in the structured log, that OpenCV's own messages are off and how to see them.

    A lock, not functools.cache: camera threads open their sources at the same moment, and a
    cached function runs once per caller that arrives before the first returns.
    """
    if not _announced.acquire(blocking=False):
        return
    log.info("camera.opencv.logging", opencv=cv2.__version__, ffmpeg_loglevel=os.environ.get("OPENCV_FFMPEG_LOGLEVEL"),
             opencv_log_level=os.environ.get("OPENCV_LOG_LEVEL", "SILENT"),
             hint="set OPENCV_LOG_LEVEL=WARNING and OPENCV_FFMPEG_LOGLEVEL=24 to see OpenCV's own (unstructured) lines")


def _why_not(target: int | str) -> str:
    """A reason OpenCV would have printed for a local device or file that is not there."""
    path = Path(f"/dev/video{target}") if isinstance(target, int) else Path(target)
    if (isinstance(target, int) or "://" not in target) and not path.exists():
        return f": no {path}"
    return ""


_quiet_opencv()


class OpenCVSource:
    """A USB camera (integer index) or an RTSP/HTTP URL or video file read through OpenCV."""

    def __init__(
        self,
        target: int | str,
        *,
        width: int | None = None,
        height: int | None = None,
        open_timeout_s: float = 5.0,
    ) -> None:
        """Configure; nothing is opened until `open()`."""
        self.target = target
        self.width = width
        self.height = height
        self.open_timeout_s = open_timeout_s
        self._cap: cv2.VideoCapture | None = None

    def open(self) -> None:
        """Open the device or stream; bounded open/read timeouts keep a dead RTSP server from hanging us."""
        _announce_quiet()
        timeout_ms = int(self.open_timeout_s * 1000)
        params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, timeout_ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, timeout_ms]
        try:
            cap = cv2.VideoCapture(self.target, cv2.CAP_ANY, params)
        except cv2.error as err:
            raise SourceUnavailable(f"cannot open {self.target!r}: {err}") from err
        if not cap.isOpened():
            cap.release()
            raise SourceUnavailable(f"cannot open {self.target!r}{_why_not(self.target)}")
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        if self.width:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.width)
        if self.height:
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.height)
        self._cap = cap

    def read(self) -> np.ndarray:
        """Return the next frame as BGR; a failed grab or the end of a file counts as a broken stream."""
        if self._cap is None:
            raise SourceUnavailable("source is not open")
        try:
            ok, image = self._cap.read()
        except cv2.error as err:
            raise SourceUnavailable(f"read failed: {err}") from err
        if not ok or image is None:
            raise SourceUnavailable("stream ended")
        if image.ndim == 2:
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        return image

    def close(self) -> None:
        """Release the capture handle."""
        if self._cap is not None:
            self._cap.release()
            self._cap = None


_EVENTS = ReconnectEvents(failed="camera.stream.failed", lost="camera.stream.lost", restored="camera.stream.restored")
_STATES = {
    ReconnectState.STOPPED: CameraState.STOPPED,
    ReconnectState.CONNECTING: CameraState.CONNECTING,
    ReconnectState.CONNECTED: CameraState.STREAMING,
    ReconnectState.WAITING: CameraState.RECONNECTING,
}


class Camera:
    """One capture thread per camera: it owns the source, reconnects, and publishes only the newest frame."""

    def __init__(
        self,
        source: FrameSource,
        *,
        name: str = "camera",
        fps: float | None = None,
        backoff: Backoff | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Configure (frame timestamps come from `clock`); the thread starts on `start()` or entering `with`."""
        self.source = source
        self.name = name
        self.fps = fps
        self.backoff = backoff or Backoff()
        self.clock = clock
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._latest: Frame | None = None
        self._seq = 0
        self._reconnect = Reconnect(name, _EVENTS, policy=self.backoff)

    def __enter__(self) -> Camera:
        """Start capturing for the duration of a `with` block."""
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        """Stop capturing when the block ends."""
        self.stop()

    def start(self) -> None:
        """Start the capture thread; calling it on a running camera does nothing."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._reconnect.attempting()  # CONNECTING from now, not from when the thread gets scheduled
        self._thread = threading.Thread(target=self._run, name=f"camera-{self.name}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the thread to finish and wait for it (bounded: a source blocked in read gets `timeout`)."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)
        self._reconnect.stopped()

    def latest(self) -> Frame | None:
        """The newest frame captured so far (older ones were dropped), or None before the first."""
        with self._cond:
            return self._latest

    def wait_newer(self, seq: int, timeout: float) -> Frame | None:
        """Block up to `timeout` s for a frame newer than `seq`; None on timeout. Call it off the event loop."""
        with self._cond:
            self._cond.wait_for(lambda: self._latest is not None and self._latest.seq > seq, timeout)
            frame = self._latest
        return frame if frame is not None and frame.seq > seq else None

    @property
    def health(self) -> CameraHealth:
        """A snapshot of state, frame count and the last error (`failures` counts every failure so far)."""
        link = self._reconnect
        state = _STATES[link.state]
        if state is CameraState.CONNECTING and link.failures:
            state = CameraState.RECONNECTING  # an attempt after failures is a reconnect
        with self._cond:
            latest = self._latest
            return CameraHealth(
                state=state,
                frames=self._seq,
                last_frame_ts=latest.ts if latest else None,
                failures=link.total_failures,
                last_error=link.last_error,
            )

    def _publish(self, image: np.ndarray) -> None:
        """Replace the newest frame (the previous one is dropped if nobody took it) and wake waiters."""
        with self._cond:
            self._seq += 1
            self._latest = Frame(image=image, seq=self._seq, ts=self.clock())
            self._cond.notify_all()

    def _run(self) -> None:
        """Open, read until the stream breaks, back off, repeat until stopped (devices.reconnect does the policy)."""
        self._reconnect.run_blocking(
            self._connect, self._stream, retry_on=(Exception,), stop=self._stop, close=lambda _: self.source.close()
        )

    def _crashed(self, err: Exception) -> None:
        """A source failing in an unexpected way gets its traceback logged; the thread still retries it."""
        if not isinstance(err, SourceUnavailable):
            log.exception("camera.source.crashed", device=self.name)

    def _connect(self) -> np.ndarray:
        """Open the source and read its first frame: a source only counts as up once it delivers."""
        try:
            self.source.open()
            return self.source.read()
        except Exception as err:  # the capture thread supervises its source: log, never die silently
            self._crashed(err)
            self.source.close()
            raise

    def _stream(self, first: np.ndarray) -> None:
        """Publish frames, paced to `fps` when the source does not pace itself (files, simulators)."""
        period = 1.0 / self.fps if self.fps else 0.0
        next_due = time.monotonic()
        image = first
        try:
            while True:
                self._publish(image)
                if period:
                    next_due = max(next_due + period, time.monotonic())
                    self._stop.wait(max(0.0, next_due - time.monotonic()))
                if self._stop.is_set():
                    return
                image = self.source.read()
        except Exception as err:
            self._crashed(err)
            raise


def open_camera(target: int | str, *, name: str = "camera", fps: float | None = None, **source_kw: int) -> Camera:
    """Build a camera from config: a number means a USB index, anything else a URL or file path."""
    if isinstance(target, str) and target.strip().isdigit():
        target = int(target)
    return Camera(OpenCVSource(target, **source_kw), name=name, fps=fps)
