"""A starved pipeline (a loaded CPU analyses a frame only every second or two) must not split one shopper in two."""

from __future__ import annotations

import pytest

from devices.camera.scene import Scene, shopper_walk
from edge.screen.detector import YuNetDetector
from edge.screen.measures import AudienceConfig, AudienceMeter
from edge.screen.motion import MotionGate
from edge.screen.pipeline import ScreenPipeline
from edge.screen.tracker import Tracker
from tests.edge.screen.builders import frontal_face


def starved_times(fps: float = 10.0, starved_every_s: float = 1.5) -> list[float]:
    """Scene times of the analysed frames: 10 fps, then one frame every 1.5 s from 4 s to 9 s, then 10 fps."""
    normal = [i / fps for i in range(int(4 * fps))]
    starved = [4.0 + k * starved_every_s for k in range(int(5 / starved_every_s) + 1)]
    late = [9.0 + i / fps for i in range(int(7 * fps))]
    return normal + starved + late


def test_one_shopper_is_one_passing_when_frames_are_starved(detector: YuNetDetector) -> None:
    scene = Scene([shopper_walk(t0=1.0)], width=640, height=480)  # one shopper, in view from 1 s to 14 s
    pipeline = ScreenPipeline(detector, Tracker(max_gap_s=1.0), AudienceMeter(AudienceConfig(period_s=300)), MotionGate())
    t0, events = 6000.0, []
    for t in starved_times():
        events += pipeline.process(scene.render(t)[0], t0 + t)
    events += pipeline.close(t0 + 16.0)
    (summary,) = [e for e in events if e["event"] == "audience"]
    assert summary["passing"] == 1
    assert summary["engaged"] == 1
    # dwell as when every frame is analysed (7.4 s on this scene; 5.9 s if the 1.5 s gaps were cut to max_gap_s)
    assert summary["dwell_s"]["max"] == pytest.approx(well_fed_dwell(detector), abs=0.5)


def well_fed_dwell(detector: YuNetDetector) -> float:
    """The same scene with every frame analysed at 10 fps: the reference dwell."""
    scene = Scene([shopper_walk(t0=1.0)], width=640, height=480)
    pipeline = ScreenPipeline(detector, Tracker(max_gap_s=1.0), AudienceMeter(AudienceConfig(period_s=300)), MotionGate())
    for i in range(160):
        pipeline.process(scene.render(i / 10)[0], 6000.0 + i / 10)
    (summary,) = [e for e in pipeline.close(6016.0) if e["event"] == "audience"]
    return float(summary["dwell_s"]["max"])


def test_a_still_face_survives_gaps_longer_than_max_gap_between_analysed_frames() -> None:
    tracker = Tracker(max_gap_s=1.0, min_missed_frames=3)
    face = [frontal_face(300, 200, 60)]
    updates = [tracker.update(face, ts) for ts in (0.0, 1.6, 3.2, 4.8)]
    assert len({t.id for u in updates for t in u.seen}) == 1
    assert not any(u.ended for u in updates)


def test_a_track_ends_after_the_gap_and_enough_missed_frames() -> None:
    tracker = Tracker(max_gap_s=1.0, min_missed_frames=3)
    tracker.update([frontal_face(300, 200, 60)], 0.0)
    assert not tracker.update([], 1.5).ended  # one missed frame, past the time gap: not yet
    assert not tracker.update([], 2.0).ended
    assert len(tracker.update([], 2.5).ended) == 1  # third missed frame


def test_idle_ticks_are_not_missed_frames_but_a_stale_track_ends() -> None:
    tracker = Tracker(max_gap_s=1.0, min_missed_frames=3, max_stale_s=10.0)
    tracker.update([frontal_face(300, 200, 60)], 0.0)
    assert not any(tracker.update([], t / 10, looked=False).ended for t in range(1, 100))
    assert len(tracker.update([], 10.1, looked=False).ended) == 1
