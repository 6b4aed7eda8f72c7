"""Screen job faults that retrying the camera cannot cure: the face model or the simulation extra is missing."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest

from edge.demo.hq import Hq
from edge.screen.sources import SourceError, make_camera
from tests.conftest import wait_online


def test_a_missing_face_model_is_reported_and_the_daemon_serves_on(
    broker: Any, daemon_factory: Any, hq_factory: Any, tmp_path: Path
) -> None:
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "yuface.py").write_text('raise ImportError("libfacedetection.so: cannot open shared object file")\n')
    path = os.pathsep.join(p for p in (str(shim), os.environ.get("PYTHONPATH", "")) if p)
    screen = {"id": "entrance", "source": str(tmp_path / "unused.mp4")}
    daemon = daemon_factory(broker.url, env={"PYTHONPATH": path}, screen={"screens": [screen]}).start()
    hq: Hq = hq_factory(broker.port)
    wait_online(hq, timeout=20)
    (event,) = hq.wait(lambda _: hq.events("device.health"), timeout=15)
    assert event["data"]["device"] == "screen:entrance" and event["data"]["healthy"] is False
    assert "face model unavailable" in event["data"]["detail"] and "libfacedetection" in event["data"]["detail"]
    assert hq.request("ping", {})["ok"] is True
    daemon.terminate()
    assert "screen.start.failed" in daemon.log()


def test_the_simulated_shopper_says_clearly_when_scikit_image_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "skimage", None)  # what an install without the demo/test extra looks like
    with pytest.raises(SourceError, match=r"needs scikit-image.*store-edge\[demo\]"):
        make_camera("simulated:shopper", name="screen:x", fps=10)
