"""The content schedule and the audience split by content, on scripted faces with injected time."""

from __future__ import annotations

import pytest

from edge.screen.content import ContentSchedule
from edge.screen.measures import MAX_CONTENTS, AudienceConfig, AudienceMeter
from edge.screen.tracker import Tracker
from tests.edge.screen.test_measures import WIDTH, face_at


def test_split_cuts_at_changes_and_fills_unknown_time() -> None:
    schedule = ContentSchedule([(10.0, None, "a"), (20.0, 25.0, "b"), (30.0, None, "c")])
    assert schedule.at(9.9) is None and schedule.at(10.0) == "a" and schedule.at(24.9) == "b"
    assert schedule.at(27.0) is None and schedule.at(1e9) == "c"
    assert schedule.split(5.0, 35.0) == [(None, 5.0), ("a", 10.0), ("b", 5.0), (None, 5.0), ("c", 5.0)]
    assert schedule.split(12.0, 12.5) == [("a", 0.5)]
    assert schedule.split(3.0, 3.0) == []


def run(schedule: ContentSchedule, people: list[tuple[float, float, float, bool]], end: float) -> dict:
    """Feed people (enter, leave, distance, facing) at 10 fps into one period; the closed period."""
    tracker = Tracker(max_gap_s=1.0)
    meter = AudienceMeter(AudienceConfig(period_s=1000, min_stop_s=2.0), playing=schedule)
    for i in range(int(end * 10)):
        ts = i / 10
        faces = [face_at(d, x=60 + 140 * n, facing=f) for n, (a, b, d, f) in enumerate(people) if a <= ts < b]
        meter.observe(tracker.update(faces, ts), ts, WIDTH)
    (summary,) = meter.flush(end, tracker.close_all())
    return summary


def test_a_person_across_a_change_counts_for_both_contents_with_the_time_split() -> None:
    schedule = ContentSchedule([(0.0, None, "promo-a"), (10.0, None, "promo-b")])
    # one person in the zone facing from 6 s to 14 s (4 s of each); one far away, turned aside, 12-18 s (b only)
    summary = run(schedule, [(6.0, 14.0, 1.2, True), (12.0, 18.0, 3.0, False)], end=20.0)
    rows = {r["content"]: r for r in summary["by_content"]}
    assert set(rows) == {"promo-a", "promo-b"}
    a, b = rows["promo-a"], rows["promo-b"]
    assert a["playing_s"] == 10.0 and b["playing_s"] == 10.0
    assert (a["ots"], a["watchers"], a["stopping"]) == (1, 1, 1)
    assert (b["ots"], b["watchers"], b["stopping"]) == (2, 1, 1)  # the far shopper passed, did not watch
    assert a["attention_s"]["total"] == pytest.approx(4.0, abs=0.15)
    assert b["attention_s"]["total"] == pytest.approx(3.9, abs=0.15)  # last sighting at 13.9 s
    assert a["dwell_s"]["max"] == pytest.approx(4.0, abs=0.15)
    assert a["engaged"] == 1 and b["engaged"] == 0  # engaged where it happened (6 s: promo-a)
    assert summary["passing"] == 2 and summary["engaged"] == 1  # the totals are unchanged


def test_without_a_schedule_everyone_is_under_null() -> None:
    summary = run(ContentSchedule(), [(1.0, 5.0, 1.2, True)], end=6.0)
    (row,) = summary["by_content"]
    assert row["content"] is None and row["ots"] == 1 and row["watchers"] == 1 and row["playing_s"] == 6.0


def test_nobody_seen_still_lists_what_played() -> None:
    summary = run(ContentSchedule([(0.0, None, "x")]), [], end=5.0)
    assert summary["by_content"] == [{
        "content": "x", "playing_s": 5.0, "ots": 0, "watchers": 0, "attention_s": {"total": 0.0, "mean": None},
        "stopping": 0, "dwell_s": {"mean": None, "median": None, "max": None}, "engaged": 0,
    }]


def test_contents_per_period_are_bounded() -> None:
    schedule = ContentSchedule([(float(n), None, f"c{n}") for n in range(3 * MAX_CONTENTS)])
    summary = run(schedule, [(0.0, 3 * MAX_CONTENTS, 1.2, True)], end=3 * MAX_CONTENTS)
    rows = summary["by_content"]
    assert len(rows) == MAX_CONTENTS + 1 and rows[-1]["content"] is None  # the rest folded into null
    assert sum(r["playing_s"] for r in rows) == pytest.approx(3 * MAX_CONTENTS)
    assert sum(r["ots"] for r in rows) == MAX_CONTENTS + 1
