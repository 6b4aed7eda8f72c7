"""Tests of the scripted store scene of the video benchmark: deterministic, and the script it promises."""

from __future__ import annotations

import numpy as np

from devices.camera.scene import Scene, astronaut_face, face_width_px, store_visitors


def test_the_store_scene_is_a_pure_function_of_time() -> None:
    a, b = Scene(store_visitors()), Scene(store_visitors())
    for t in (2.0, 8.0, 21.0, 31.3):
        (ia, ba), (ib, bb) = a.render(t), b.render(t)
        assert ba == bb and np.array_equal(ia, ib)


def test_the_store_scene_has_six_shoppers_some_together() -> None:
    scene = Scene(store_visitors())
    assert len(scene.scripts) == 6 and 30 <= scene.duration <= 40
    assert len(scene.render(8.0)[1]) == 2 and len(scene.render(22.0)[1]) == 2  # 1 with 2; 4 with 5
    assert scene.render(11.5)[1] == []  # between visits nobody faces the camera
    stopped = scene.render(7.0)[1][0]
    assert abs(stopped[2] - face_width_px(1.2)) <= 2  # shopper 1 stands at 1.2 m


def test_the_glancer_faces_the_screen_only_briefly() -> None:
    scene = Scene(store_visitors()[5:])
    assert scene.render(30.5)[1] == []  # walks in looking away
    assert len(scene.render(31.3)[1]) == 1
    assert scene.render(32.0)[1] == []


def test_each_script_wears_its_own_sprite() -> None:
    other = astronaut_face()
    flipped = type(other)(np.ascontiguousarray(other.image[:, ::-1]), other.box)
    one = Scene(store_visitors()[3:5]).render(22.0)
    two = Scene(store_visitors()[3:5], sprites=[other, flipped]).render(22.0)
    assert one[1] == two[1] and not np.array_equal(one[0], two[0])
