"""Threaded capture that keeps only the newest frame and reconnects with capped, jittered back-off."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable


import cv2
import numpy as np
import structlog

from devices.backoff import Backoff
from devices.camera.errors import SourceUnavailable
from devices.camera.frame import CameraHealth, CameraState, Frame, FrameSource

log = structlog.get_logger(__name__)


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
        self.target = target
        self.width = width
        self.height = height
        self.open_timeout_s = open_timeout_s
        self._cap: cv2.VideoCapture | None = None

    def open(self) -> None:
        """Open the device or stream; bounded open/read timeouts keep a dead RTSP server from hanging us."""
        timeout_ms = int(self.open_timeout_s * 1000)
        params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, timeout_ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, timeout_ms]
        try:
            cap = cv2.VideoCapture(self.target, cv2.CAP_ANY, params)
        except cv2.error as err:
            raise SourceUnavailable(f"cannot open {self.target!r}: {err}") from err
        if not cap.isOpened():
            cap.release()
            raise SourceUnavailable(f"cannot open {self.target!r}")
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
        self._state = CameraState.STOPPED
        self._failures = 0
        self._attempt = 0  # failures in the current outage, for the back-off
        self._rng = random.Random()
        self._last_error: str | None = None

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
        self._set_state(CameraState.CONNECTING)
        self._thread = threading.Thread(target=self._run, name=f"camera-{self.name}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the thread to finish and wait for it (bounded: a source blocked in read gets `timeout`)."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)
        self._set_state(CameraState.STOPPED)

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
        """A snapshot of state, frame count and the last error."""
        with self._cond:
            latest = self._latest
            return CameraHealth(
                state=self._state,
                frames=self._seq,
                last_frame_ts=latest.ts if latest else None,
                failures=self._failures,
                last_error=self._last_error,
            )

    def _set_state(self, state: CameraState) -> None:
        """Change the state under the lock readers use."""
        with self._cond:
            self._state = state

    def _publish(self, image: np.ndarray) -> None:
        """Replace the newest frame (the previous one is dropped if nobody took it) and wake waiters."""
        with self._cond:
            self._seq += 1
            self._latest = Frame(image=image, seq=self._seq, ts=self.clock())
            self._state = CameraState.STREAMING
            self._cond.notify_all()

    def _failed(self, err: Exception) -> None:
        """Record a failure; WARNING on the first of a streak, DEBUG after, so an outage does not spam logs."""
        with self._cond:
            self._failures += 1
            self._last_error = str(err)
            self._state = CameraState.RECONNECTING
        level = log.warning if self._attempt == 0 else log.debug
        level("camera.stream.failed", device=self.name, error=str(err), attempt=self._attempt + 1)

    def _run(self) -> None:
        """Open, read until the stream breaks, back off, repeat until stopped."""
        while not self._stop.is_set():
            try:
                self.source.open()
                self._stream()
            except SourceUnavailable as err:
                self._failed(err)
            except Exception as err:  # the capture thread supervises its source: log, never die silently
                log.exception("camera.source.crashed", device=self.name)
                self._failed(err)
            finally:
                self.source.close()
            if not self._stop.is_set():
                self._stop.wait(self.backoff.delay(self._attempt, self._rng))
                self._attempt += 1

    def _stream(self) -> None:
        """Read frames, paced to `fps` when the source does not pace itself (files, simulators)."""
        period = 1.0 / self.fps if self.fps else 0.0
        next_due = time.monotonic()
        while not self._stop.is_set():
            image = self.source.read()
            if self._attempt:
                log.info("camera.stream.restored", device=self.name)
                self._attempt = 0
            self._publish(image)
            if period:
                next_due = max(next_due + period, time.monotonic())
                self._stop.wait(max(0.0, next_due - time.monotonic()))


def open_camera(target: int | str, *, name: str = "camera", fps: float | None = None, **source_kw: int) -> Camera:
    """Build a camera from config: a number means a USB index, anything else a URL or file path."""
    if isinstance(target, str) and target.strip().isdigit():
        target = int(target)
    return Camera(OpenCVSource(target, **source_kw), name=name, fps=fps)
