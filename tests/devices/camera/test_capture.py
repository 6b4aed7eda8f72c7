"""Tests of the threaded camera: newest frame only, health, reconnects with back-off, OpenCV files."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from devices.backoff import Backoff
from devices.camera.capture import Camera, OpenCVSource, open_camera
from devices.camera.errors import SourceUnavailable
from devices.camera.frame import CameraState


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Poll `predicate` until true or timeout (bounded waiting for the capture thread)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def test_latest_keeps_only_the_newest_frame(fake_source) -> None:
    source = fake_source()
    with Camera(source, name="fast") as cam:
        first = cam.wait_newer(0, timeout=5.0)
        assert first is not None
        assert wait_until(lambda: source.produced > first.seq + 20)
        newest = cam.latest()
        assert newest is not None and newest.seq >= first.seq + 20  # intermediate frames were dropped
        assert newest.ts >= first.ts
        assert newest.image[0, 0, 0] == (newest.seq * 20) % 256  # the slot holds the frame of that seq


def test_wait_newer_times_out_when_no_new_frame(fake_source) -> None:
    source = fake_source()
    with Camera(source, name="held") as cam:
        frame = cam.wait_newer(0, timeout=5.0)
        assert frame is not None
        source.gate.clear()  # the source now blocks: no new frames
        time.sleep(0.05)
        current = cam.latest()
        assert current is not None
        assert cam.wait_newer(current.seq, timeout=0.1) is None
        source.gate.set()
        assert cam.wait_newer(current.seq, timeout=5.0) is not None


def test_fps_paces_sources_that_do_not_pace_themselves(fake_source) -> None:
    source = fake_source()
    with Camera(source, name="paced", fps=20) as cam:
        time.sleep(0.5)
        produced = cam.health.frames
    assert 2 <= produced <= 20  # about 10 expected; loose bounds on a busy machine


def test_reconnects_after_failed_opens_and_logs_warning_once(fake_source) -> None:
    source = fake_source(fail_opens=3)
    cam = Camera(source, name="flaky", backoff=Backoff(initial=0.01, maximum=0.02))
    with capture_logs() as logs:
        cam.start()
        try:
            assert cam.wait_newer(0, timeout=5.0) is not None
        finally:
            cam.stop()
    health = cam.health
    assert health.failures == 3 and health.last_error == "refused #3"
    failures = [entry for entry in logs if entry["event"] == "camera.stream.failed"]
    assert [e["log_level"] for e in failures] == ["warning", "debug", "debug"]
    assert any(entry["event"] == "camera.stream.restored" for entry in logs)
    assert source.closes >= source.opens  # every open was released


def test_broken_stream_reconnects_and_frame_counter_keeps_growing(fake_source) -> None:
    source = fake_source(frames_before_break=5)
    with Camera(source, name="breaks", backoff=Backoff(initial=0.01, maximum=0.02)) as cam:
        assert wait_until(lambda: cam.health.frames > 12)
        assert source.opens >= 3
        assert cam.health.failures >= 2
        assert cam.latest().seq == cam.health.frames


def test_health_states_through_the_lifecycle(fake_source) -> None:
    source = fake_source(fail_opens=10**6)
    cam = Camera(source, name="dead", backoff=Backoff(initial=0.01, maximum=0.02))
    assert cam.health.state is CameraState.STOPPED
    cam.start()
    try:
        assert wait_until(lambda: cam.health.state is CameraState.RECONNECTING)
        assert not cam.health.ok and cam.latest() is None
    finally:
        cam.stop()
    assert cam.health.state is CameraState.STOPPED


def test_opencv_source_reads_a_video_file(write_video) -> None:
    path = write_video(frames=4)
    source = OpenCVSource(str(path))
    source.open()
    try:
        frames = [source.read() for _ in range(4)]
        assert all(f.shape == (48, 64, 3) for f in frames)
        with pytest.raises(SourceUnavailable):
            source.read()  # the end of a file is a broken stream for a live camera
    finally:
        source.close()


def test_opencv_source_missing_file_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(SourceUnavailable):
        OpenCVSource(str(tmp_path / "nope.avi")).open()


def test_file_that_disappears_then_returns_is_picked_up_again(write_video, tmp_path: Path) -> None:
    path = write_video(frames=3)
    spare = tmp_path / "spare.avi"
    shutil.copy(path, spare)
    cam = Camera(OpenCVSource(str(path)), name="file", fps=100, backoff=Backoff(initial=0.02, maximum=0.05))
    with cam:
        assert cam.wait_newer(0, timeout=5.0) is not None
        path.unlink()
        assert wait_until(lambda: cam.health.state is CameraState.RECONNECTING and cam.health.failures >= 2)
        stalled = cam.health.frames
        shutil.copy(spare, path)
        frame = cam.wait_newer(stalled, timeout=5.0)
        assert frame is not None and frame.image.shape == (48, 64, 3)
        assert wait_until(lambda: cam.health.state is CameraState.STREAMING)


def test_open_camera_reads_indices_and_urls() -> None:
    assert open_camera("0").source.target == 0
    assert open_camera(2).source.target == 2
    assert open_camera("rtsp://10.0.0.5/stream").source.target == "rtsp://10.0.0.5/stream"


async def test_consumers_on_the_event_loop_wait_in_an_executor(fake_source) -> None:
    """The pattern for jobs: blocking waits go to a thread; the loop is never blocked."""
    import asyncio

    loop = asyncio.get_running_loop()
    loop.set_debug(True)
    loop.slow_callback_duration = 0.1
    with Camera(fake_source(), name="async", fps=30) as cam:
        seqs = []
        seq = 0
        for _ in range(3):
            frame = await asyncio.wait_for(loop.run_in_executor(None, cam.wait_newer, seq, 2.0), timeout=5.0)
            assert frame is not None
            seq = frame.seq
            seqs.append(seq)
        assert seqs == sorted(set(seqs))
