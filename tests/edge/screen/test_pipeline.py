"""End-to-end: a simulated shopper in a scripted scene through detector, tracker and meter."""

from __future__ import annotations

import numpy as np
import pytest

from devices.camera.scene import Keyframe, Scene, shopper_walk, store_visitors
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


def _audience(pipeline: ScreenPipeline, scene: Scene, seconds: float, fps: float = 10.0) -> dict:
    """Feed `seconds` of the scene and return the one audience period."""
    events = []
    for i in range(int(seconds * fps)):
        events += pipeline.process(scene.render(i / fps)[0], 3000.0 + i / fps)
    (summary,) = [e for e in events + pipeline.close(3000.0 + seconds) if e["event"] == "audience"]
    return summary


def test_the_cheap_pipeline_finds_the_people_detecting_every_frame_finds(detector: YuNetDetector) -> None:
    scene = Scene(store_visitors()[:2], width=640, height=480)
    every = ScreenPipeline(detector, Tracker(), AudienceMeter(), full_every_s=0)
    cheap = ScreenPipeline(detector, Tracker(), AudienceMeter(), MotionGate())  # the defaults the job uses
    full, fast = _audience(every, scene, 14.0), _audience(cheap, scene, 14.0)
    assert fast["passing"] == full["passing"] == 2 and fast["stopping"] == full["stopping"] == 2
    assert fast["engaged"] == full["engaged"] == 2
    assert abs(fast["dwell_s"]["mean"] - full["dwell_s"]["mean"]) <= 0.3
    assert abs(fast["dwell_s"]["max"] - full["dwell_s"]["max"]) <= 0.3
    assert cheap.detections < every.detections / 2  # the saving: most tracked frames are crops or held


def test_a_face_appearing_away_from_the_tracks_is_found_in_its_first_frame(detector: YuNetDetector) -> None:
    still = [Keyframe(0, 160, 190, 60), Keyframe(10, 160, 190, 60)]
    newcomer = [Keyframe(3.05, 480, 200, 60), Keyframe(10, 480, 200, 60)]  # pops up between two frames
    scene = Scene([still, newcomer], width=640, height=480)
    pipeline = ScreenPipeline(detector, Tracker(), AudienceMeter(), MotionGate())
    for i in range(31):
        pipeline.process(scene.render(i / 10)[0], i / 10)
    assert pipeline.people_in_view == 1 and pipeline.searches > 20  # one still face: held or cropped
    pipeline.process(scene.render(3.1)[0], 3.1)
    assert pipeline.people_in_view == 2


def test_without_the_gate_a_new_face_is_found_within_full_every_s(detector: YuNetDetector) -> None:
    still = [Keyframe(0, 160, 190, 60), Keyframe(10, 160, 190, 60)]
    newcomer = [Keyframe(3.05, 480, 200, 60), Keyframe(10, 480, 200, 60)]
    scene = Scene([still, newcomer], width=640, height=480)
    pipeline = ScreenPipeline(detector, Tracker(), AudienceMeter(), full_every_s=1.0)
    seen_at = None
    for i in range(60):
        pipeline.process(scene.render(i / 10)[0], i / 10)
        if i / 10 > 3.05 and pipeline.people_in_view == 2 and seen_at is None:
            seen_at = i / 10
    assert seen_at is not None and seen_at - 3.05 <= 1.0 + 0.1
    assert pipeline.detections <= 8  # one a second plus the first frames


def test_a_still_shopper_is_held_not_searched_again(detector: YuNetDetector) -> None:
    scene = Scene([[Keyframe(0, 320, 200, 60), Keyframe(10, 320, 200, 60)]], width=640, height=480)
    pipeline = ScreenPipeline(detector, Tracker(), AudienceMeter(AudienceConfig(period_s=300)), MotionGate())
    summary = _audience(pipeline, scene, 6.0)
    assert summary["passing"] == 1 and 5.5 <= summary["dwell_s"]["max"] <= 6.1
    assert pipeline.detections <= 7  # one full detection a second; the frames between hold the face


def test_with_nobody_tracked_only_the_region_that_moved_is_searched(detector: YuNetDetector) -> None:
    scene = Scene([[Keyframe(1.05, 450, 200, 60), Keyframe(10, 450, 200, 60)]], width=640, height=480)
    pipeline = ScreenPipeline(detector, Tracker(), AudienceMeter(), MotionGate())
    for i in range(11):
        pipeline.process(scene.render(i / 10)[0], i / 10)
    assert pipeline.detections == 1 and pipeline.people_in_view == 0  # the first frame; the shop is still
    pipeline.process(scene.render(1.1)[0], 1.1)
    assert pipeline.people_in_view == 1  # found in the frame it appeared in
    assert pipeline.detections == 1 and pipeline.searches == 1  # by a search of the changed region only
