"""Tests of the search near tracks: crops find the face where it is, in frame pixels, once."""

from __future__ import annotations

from devices.camera.scene import Keyframe, Scene
from edge.screen.detector import YuNetDetector
from edge.screen.nearby import crop_region, search_near
from edge.screen.tracker import iou


def _f(box: tuple[int, ...]) -> tuple[float, float, float, float]:
    """A box as floats."""
    return tuple(float(v) for v in box)  # type: ignore[return-value]


def test_a_face_near_its_predicted_box_is_found_in_frame_pixels(detector: YuNetDetector) -> None:
    image, (truth,) = Scene([[Keyframe(0, 300, 220, 70)]]).render(0)
    predicted = (truth[0] + 20.0, truth[1] - 10.0, float(truth[2]), float(truth[3]))  # the prediction is off a bit
    (face,) = search_near(detector, image, [predicted])
    assert iou(_f(face.box), _f(truth)) > 0.6
    x, y, w, h = face.box
    assert all(x <= mx <= x + w and y <= my <= y + h for mx, my in face.landmarks)


def test_two_overlapping_crops_give_the_face_once(detector: YuNetDetector) -> None:
    image, (truth,) = Scene([[Keyframe(0, 300, 220, 70)]]).render(0)
    near = [_f(truth), (truth[0] + 10.0, truth[1] + 5.0, float(truth[2]), float(truth[3]))]
    assert len(search_near(detector, image, near)) == 1


def test_nothing_is_found_where_nobody_is_and_edge_slivers_are_skipped(detector: YuNetDetector) -> None:
    image, _ = Scene([[Keyframe(0, 500, 220, 70)]]).render(0)
    assert search_near(detector, image, [(100.0, 200.0, 70.0, 86.0), (636.0, 476.0, 70.0, 86.0)]) == []


def test_the_crop_is_clipped_to_the_frame() -> None:
    assert crop_region((600.0, 10.0, 60.0, 60.0), 640, 480, 1.0) == (540, 0, 640, 130)
