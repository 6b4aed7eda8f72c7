"""End-to-end: a simulated shopper in a scripted scene through detector, tracker and meter."""

from __future__ import annotations

import numpy as np
import pytest

from devices.camera.scene import Scene, shopper_walk
from edge.screen.detector import YuNetDetector
from edge.screen.errors import BlankFrame
from edge.screen.measures import AudienceConfig, AudienceMeter
from edge.screen.motion import MotionGate
from edge.screen.pipeline import ScreenPipeline
from edge.screen.tracker import Tracker


@pytest.mark.parametrize("gated", [False, True], ids=["every-frame", "motion-gated"])
def test_a_shopper_walks_up_stops_and_leaves(detector: YuNetDetector, gated: bool) -> None:
    scene = Scene([shopper_walk(t0=1.0)], width=640, height=480)
    gate = MotionGate() if gated else None
    pipeline = ScreenPipeline(detector, Tracker(max_gap_s=1.0), AudienceMeter(AudienceConfig(period_s=300)), gate)
    fps, t0 = 8, 3000.0
    events = []
    for i in range(int(16 * fps)):
        events += pipeline.process(scene.render(i / fps)[0], t0 + i / fps)
        if i == int(6 * fps):
            assert pipeline.people_in_view == 1
    events += pipeline.close(t0 + 16)
    engaged = [e for e in events if e["event"] == "engaged"]
    (summary,) = [e for e in events if e["event"] == "audience"]
    assert len(engaged) == 1 and 1.0 <= engaged[0]["distance_m"] <= 1.5
    assert summary["passing"] == 1 and summary["stopping"] == 1
    assert 5.0 <= summary["dwell_s"]["max"] <= 9.0  # ~6 s stop at 1.2 m plus the last steps inside the zone
    assert summary["facing_share"] >= 0.8
    if gated:  # the empty second before and the seconds after the shopper left are mostly skipped
        assert pipeline.detections < 16 * fps - 20


def test_an_empty_still_shop_costs_few_detections(detector: YuNetDetector) -> None:
    pipeline = ScreenPipeline(detector, Tracker(), AudienceMeter(), MotionGate(recheck_s=2.0))
    empty = Scene([]).render(0)[0]
    events = [pipeline.process(empty, i / 10) for i in range(100)]
    assert pipeline.detections == 5 and not any(events)


def test_a_blank_frame_is_reported_not_counted(detector: YuNetDetector) -> None:
    pipeline = ScreenPipeline(detector, Tracker(), AudienceMeter())
    with pytest.raises(BlankFrame):
        pipeline.process(np.zeros((480, 640, 3), np.uint8), 1.0)
    assert pipeline.people_in_view == 0
