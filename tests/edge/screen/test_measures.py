"""Tests of the audience measures and the period aggregator, with injected time."""

from __future__ import annotations

import json
import math

import pytest

from devices.camera.scene import face_width_px
from edge.screen.measures import AudienceConfig, AudienceMeter, distance_m, is_facing
from edge.screen.tracker import Tracker
from tests.edge.screen.builders import frontal_face, profile_face

WIDTH = 640


def face_at(distance: float, x: float = 300, facing: bool = True):
    """A face whose size puts it at `distance` metres for a 640 px, 70° camera."""
    w = face_width_px(distance, WIDTH, 70.0)
    return (frontal_face if facing else profile_face)(x, 200, w)


class Feed:
    """Drives tracker + meter with scripted faces and collects the events."""

    def __init__(self, config: AudienceConfig | None = None) -> None:
        self.tracker = Tracker(max_gap_s=1.0)
        self.meter = AudienceMeter(config or AudienceConfig(period_s=300), screen="s-7")
        self.events: list[dict] = []

    def frame(self, ts: float, faces: list) -> list[dict]:
        new = self.meter.observe(self.tracker.update(faces, ts), ts, WIDTH)
        self.events += new
        return new

    def span(self, start: float, end: float, faces_at, fps: float = 10) -> None:
        for i in range(round((end - start) * fps)):
            ts = start + i / fps
            self.frame(ts, faces_at(ts))

    def of(self, kind: str) -> list[dict]:
        return [e for e in self.events if e["event"] == kind]


@pytest.mark.parametrize("distance", [0.5, 1.0, 1.5, 3.0, 6.0])
def test_distance_inverts_the_pinhole_model(distance: float) -> None:
    px = face_width_px(distance, WIDTH, 70.0)
    assert distance_m(px, WIDTH, 70.0) == pytest.approx(distance)
    assert distance_m(px, WIDTH, 70.0, calibration=1.1) == pytest.approx(distance * 1.1)
    assert distance_m(px * 2, WIDTH * 2, 70.0) == pytest.approx(distance)  # resolution-independent


def test_distance_of_a_degenerate_box_is_infinite() -> None:
    assert math.isinf(distance_m(0, WIDTH, 70.0))


def test_facing_from_landmarks() -> None:
    assert is_facing(frontal_face(100, 100, 60))
    assert not is_facing(profile_face(100, 100, 60))


def test_engaged_fires_once_when_a_track_enters_the_zone() -> None:
    feed = Feed()
    # walks in from 3 m to 1.2 m over 3 s, stays 5 s, walks off
    feed.span(0, 3, lambda t: [face_at(3.0 - 0.6 * t)])
    feed.span(3, 8, lambda t: [face_at(1.2)])
    feed.span(8, 10, lambda t: [])
    (engaged,) = feed.of("engaged")
    assert engaged["ts"] == pytest.approx(2.5)  # the first frame at 1.5 m or closer
    assert engaged["distance_m"] == 1.5
    assert engaged["screen"] == "s-7" and engaged["viewers"] == 1


def test_engaged_triggers_at_the_first_frame_inside_the_zone() -> None:
    feed = Feed()
    feed.frame(0.0, [face_at(2.0)])
    feed.frame(0.1, [face_at(1.8)])
    assert feed.of("engaged") == []
    events = feed.frame(0.2, [face_at(1.4)])
    assert [e["event"] for e in events] == ["engaged"] and events[0]["ts"] == 0.2
    assert events[0]["distance_m"] == 1.4
    assert feed.frame(0.3, [face_at(1.3)]) == []


def test_period_summary_counts_passing_stopping_and_dwell() -> None:
    feed = Feed(AudienceConfig(period_s=60, min_stop_s=2.0))
    feed.span(0, 4, lambda t: [face_at(1.2, x=100)])  # stops 4 s in the zone
    feed.span(4, 10, lambda t: [face_at(1.3, x=100)] if t < 7 else [])  # same person 3 s more (7 s in all)
    feed.span(10, 12, lambda t: [face_at(3.0, x=400)])  # passes by far away
    feed.span(12, 13, lambda t: [face_at(1.2, x=200)])  # only 1 s in the zone: not stopping
    feed.span(13, 20, lambda t: [])
    feed.frame(60.0, [])  # first frame of the next period closes this one
    (summary,) = feed.of("audience")
    assert summary["period_start"] == 0 and summary["period_end"] == 60
    assert summary["passing"] == 3 and summary["stopping"] == 1 and summary["engaged"] == 2
    assert summary["dwell_s"]["max"] == pytest.approx(7.0, abs=0.2)
    assert summary["dwell_s"]["mean"] == summary["dwell_s"]["median"] == summary["dwell_s"]["max"]
    assert summary["max_concurrent"] == 1 and summary["facing_share"] == 1.0


def test_dwell_statistics_over_several_people() -> None:
    feed = Feed(AudienceConfig(period_s=100, min_stop_s=1.0))
    start = 0.0
    for stay in (2.0, 4.0, 9.0):
        feed.span(start, start + stay, lambda t: [face_at(1.2)])
        feed.span(start + stay, start + stay + 2, lambda t: [])
        start += stay + 2
    (summary,) = feed.meter.flush(start)
    assert summary["stopping"] == 3
    assert summary["dwell_s"]["median"] == pytest.approx(4.0, abs=0.2)
    assert summary["dwell_s"]["mean"] == pytest.approx(5.0, abs=0.2)
    assert summary["dwell_s"]["max"] == pytest.approx(9.0, abs=0.2)


def test_concurrent_viewers_and_facing_share() -> None:
    feed = Feed(AudienceConfig(period_s=100))
    feed.span(0, 5, lambda t: [face_at(1.2, x=80), face_at(1.3, x=400, facing=t < 2.5)])
    summary = feed.meter.flush(6.0, feed.tracker.close_all())[-1]
    assert summary["max_concurrent"] == 2
    assert summary["engaged"] == 2 and summary["stopping"] == 2
    assert summary["facing_share"] == pytest.approx(0.75, abs=0.03)  # 5 s + 2.5 s facing of 10 s in the zone


def test_short_noise_tracks_are_not_people() -> None:
    feed = Feed(AudienceConfig(period_s=100, min_track_hits=3))
    feed.frame(0.0, [face_at(2.0)])
    feed.frame(0.1, [face_at(2.0)])
    feed.span(0.2, 3, lambda t: [])
    (summary,) = feed.meter.flush(3.0)
    assert summary["passing"] == 0


def test_periods_align_to_the_clock_and_skip_empty_stretches() -> None:
    feed = Feed(AudienceConfig(period_s=300))
    feed.frame(1000.0, [])
    feed.frame(1150.0, [])
    assert feed.of("audience") == []
    feed.frame(2000.0, [])  # camera was off from 1250 to 2000: one summary, for 900–1200
    (summary,) = feed.of("audience")
    assert (summary["period_start"], summary["period_end"]) == (900.0, 1200.0)
    (closing,) = feed.meter.flush(2050.0)
    assert (closing["period_start"], closing["period_end"]) == (1800.0, 2050.0)


def test_output_holds_nothing_identifying() -> None:
    feed = Feed(AudienceConfig(period_s=10))
    feed.span(0, 12, lambda t: [face_at(1.2, x=100 + 5 * t), face_at(1.45, x=400)])
    events = feed.events + feed.meter.flush(12.0, feed.tracker.close_all())
    assert {e["event"] for e in events} == {"engaged", "audience"}
    allowed = {
        "engaged": {"event", "screen", "ts", "distance_m", "viewers"},
        "audience": {"event", "screen", "period_start", "period_end", "passing", "stopping", "engaged", "dwell_s",
                     "max_concurrent", "facing_share", "by_content"},
    }
    for event in events:
        assert set(event) == allowed[event["event"]]
        json.dumps(event)  # plain JSON values only: no arrays, images or boxes (by_content: a list of objects)
        assert not any(isinstance(v, (list, tuple, bytes)) for k, v in event.items() if k != "by_content")
        for row in event.get("by_content", []):
            assert not any(isinstance(v, (list, tuple, bytes)) for v in row.values())
        if "distance_m" in event:
            assert event["distance_m"] == round(event["distance_m"], 1)


def test_gaps_in_sightings_count_as_presence_only_up_to_max_gap() -> None:
    feed = Feed(AudienceConfig(period_s=100, min_stop_s=0.1, max_gap_s=0.5))
    for ts in (0.0, 0.1, 0.2, 1.0, 1.1):  # a 0.8 s gap (the tracker keeps the track), counted as 0.5 s
        feed.frame(ts, [face_at(1.2)])
        if ts == 0.2:
            feed.frame(0.6, [])  # an analysed frame missed the face: the gap is a gap in sightings
    (summary,) = feed.meter.flush(1.2, feed.tracker.close_all())
    assert summary["dwell_s"]["max"] == pytest.approx(0.1 + 0.1 + 0.5 + 0.1, abs=0.01)


def test_a_clock_stepping_back_adds_no_negative_time() -> None:
    feed = Feed(AudienceConfig(period_s=100, min_stop_s=0.1))
    for ts in (10.0, 10.5, 9.0, 9.5):
        feed.frame(ts, [face_at(1.2)])
    (summary,) = feed.meter.flush(10.0, feed.tracker.close_all())
    assert summary["dwell_s"]["max"] >= 0.5
