"""Tests of the tracker on scripted sequences of boxes and timestamps."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from edge.screen.tracker import Tracker, iou
from tests.edge.screen.builders import frontal_face


def run(tracker: Tracker, frames: list[tuple[float, list]]) -> list:
    """Feed (ts, faces) frames; return the updates."""
    return [tracker.update(faces, ts) for ts, faces in frames]


def positions(tracker: Tracker, frames: list[tuple[float, list]]) -> list[dict[int, float]]:
    """Feed frames; return, per frame, the x of each seen track at that moment (tracks mutate later)."""
    return [{t.id: t.box[0] for t in tracker.update(faces, ts).seen} for ts, faces in frames]


def test_iou() -> None:
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert iou((0, 0, 10, 10), (20, 0, 10, 10)) == 0.0
    assert abs(iou((0, 0, 10, 10), (5, 0, 10, 10)) - 1 / 3) < 1e-9
    assert iou((0, 0, 0, 0), (0, 0, 0, 0)) == 0.0


def test_a_walking_face_keeps_one_id() -> None:
    tracker = Tracker()
    updates = run(tracker, [(i * 0.1, [frontal_face(100 + 15 * i, 100, 50)]) for i in range(30)])
    ids = {t.id for u in updates for t in u.seen}
    assert len(ids) == 1
    assert len(updates[0].started) == 1 and all(not u.started for u in updates[1:])
    (track,) = tracker.tracks
    assert abs(track.velocity[0] - 150) < 1  # px/s learned from the motion
    assert track.hits == 30 and abs(track.age - 2.9) < 1e-9


def test_crossing_paths_keep_their_ids() -> None:
    """Two shoppers walk towards each other, overlap, and go on; the motion model keeps them apart."""
    tracker = Tracker()
    frames = []
    for i in range(40):
        a = frontal_face(100 + 12 * i, 200, 60)  # left to right
        b = frontal_face(570 - 12 * i, 205, 60)  # right to left
        frames.append((i / 15, [a, b]))
    seen = positions(tracker, frames)
    first, last = seen[0], seen[-1]
    assert set(first) == set(last)
    assert all(set(frame) == set(first) for frame in seen)
    left_id = min(first, key=first.get)
    assert last[left_id] > max(v for k, v in last.items() if k != left_id)  # the left walker ended on the right


def test_crossing_with_the_front_face_hiding_the_other() -> None:
    """While one face hides the other only one box is seen; both tracks survive the short gap."""
    tracker = Tracker(max_gap_s=1.0)
    frames = []
    for i in range(40):
        ax, bx = 100 + 12 * i, 570 - 12 * i
        faces = [frontal_face(ax, 200, 60)]
        if abs(ax - bx) > 60:  # b is hidden behind a while they overlap
            faces.append(frontal_face(bx, 205, 60))
        frames.append((i / 15, faces))
    seen = positions(tracker, frames)
    first, last = seen[0], seen[-1]
    assert set(first) == set(last) and len(first) == 2
    left_id = min(first, key=first.get)
    assert last[left_id] > max(v for k, v in last.items() if k != left_id)
    assert len(tracker.tracks) == 2


def test_gap_shorter_than_timeout_keeps_the_id() -> None:
    tracker = Tracker(max_gap_s=1.0)
    seen = [frontal_face(300, 200, 60)]
    frames = [(t / 10, seen) for t in range(10)] + [(t / 10, []) for t in range(10, 17)]
    frames += [(t / 10, seen) for t in range(17, 20)]
    updates = run(tracker, frames)
    assert len({t.id for u in updates for t in u.seen}) == 1
    assert not any(u.ended for u in updates)


def test_gap_longer_than_timeout_ends_the_track_once_and_starts_a_new_one() -> None:
    tracker = Tracker(max_gap_s=1.0)
    seen = [frontal_face(300, 200, 60)]
    frames = [(t / 10, seen) for t in range(10)] + [(t / 10, []) for t in range(10, 25)]
    frames += [(t / 10, seen) for t in range(25, 28)]
    updates = run(tracker, frames)
    ended = [t.id for u in updates for t in u.ended]
    ids = [t.id for u in updates for t in u.seen]
    assert len(ended) == 1 and ended[0] == ids[0]
    assert ended[0] != ids[-1]  # the returning face is a new, unrelated track
    assert sum(1 for u in updates for _ in u.started) == 2


def test_distant_face_is_not_stolen_by_an_existing_track() -> None:
    tracker = Tracker()
    tracker.update([frontal_face(50, 50, 40)], 0.0)
    update = tracker.update([frontal_face(50, 50, 40), frontal_face(500, 300, 40)], 0.1)
    assert len(update.started) == 1 and update.started[0].box[0] == 500


def test_close_all_ends_every_track() -> None:
    tracker = Tracker()
    tracker.update([frontal_face(50, 50, 40), frontal_face(300, 50, 40)], 0.0)
    assert len(tracker.close_all()) == 2 and tracker.tracks == []


boxes = st.lists(
    st.tuples(st.integers(0, 600), st.integers(0, 400), st.integers(20, 120)), min_size=0, max_size=5
)


@settings(max_examples=60, deadline=None)
@given(st.lists(boxes, min_size=1, max_size=15))
def test_every_face_gets_exactly_one_track_per_frame(sequence: list) -> None:
    tracker = Tracker()
    all_ids: set[int] = set()
    ended_ids: set[int] = set()
    for i, frame in enumerate(sequence):
        update = tracker.update([frontal_face(x, y, w) for x, y, w in frame], i * 0.1)
        ids = [t.id for t in update.seen]
        assert len(ids) == len(frame) == len(set(ids))
        assert not set(ids) & ended_ids  # ended ids never come back
        ended_ids |= {t.id for t in update.ended}
        all_ids |= set(ids)
    assert all(i >= 1 for i in all_ids)
