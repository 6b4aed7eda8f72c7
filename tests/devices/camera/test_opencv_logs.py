"""OpenCV's and FFmpeg's own stderr lines never reach journald raw: a failing camera leaves only structured log lines."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

# A daemon's camera thread trying sources that fail in OpenCV's V4L2 and FFmpeg backends.
SCRIPT = textwrap.dedent("""
    import sys, time
    from edge.logs import configure
    configure("info", "logfmt")
    from devices.backoff import Backoff
    from devices.camera.capture import Camera, OpenCVSource

    targets = [97, "/dev/video97", "rtsp://127.0.0.1:1/stream", sys.argv[1]]
    cameras = [Camera(OpenCVSource(t, open_timeout_s=1.0), name=f"cam{i}", backoff=Backoff(0.05, 0.1)) for i, t in enumerate(targets)]
    for cam in cameras:
        cam.start()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not all(cam.health.failures >= 2 for cam in cameras):
        time.sleep(0.05)
    for cam in cameras:
        cam.stop()
    print("failures", [cam.health.failures for cam in cameras])
""")
RAW = re.compile(r"^\[ ?(WARN|ERROR|INFO|DEBUG)|^\[[\w ,.-]+ @ 0x[0-9a-f]+\]|global \w+\.(cpp|hpp)")


def test_a_failing_camera_leaves_no_raw_opencv_or_ffmpeg_line_on_stderr(tmp_path: Path) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 2000)  # FFmpeg: "moov atom not found"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENCV_") and k != "JOURNAL_STREAM"}
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(broken)], capture_output=True, text=True, timeout=60, env=env,
                          cwd=Path(__file__).resolve().parents[3])
    assert done.returncode == 0, done.stderr
    assert min(ast.literal_eval(done.stdout.removeprefix("failures "))) >= 2  # every source failed, and was retried
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert [line for line in lines if RAW.search(line)] == []
    assert all(line.startswith("timestamp=") for line in lines), lines  # every line is a structured one
    assert sum("event=camera.opencv.logging" in line for line in lines) == 1  # said once, not per camera
    failed = [line for line in lines if "event=camera.stream.failed" in line]
    assert any("no /dev/video97" in line for line in failed)  # the reason OpenCV would have printed, structured
    assert {f"device=cam{i}" for i in range(4)} <= {m for line in failed for m in re.findall(r"device=cam\d", line)}
