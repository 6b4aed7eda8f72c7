"""Tests of the idle gate that spares the detector while the shop in view is empty and still."""

from __future__ import annotations

import numpy as np

from devices.camera.scene import Keyframe, Scene, shop_background
from edge.screen.motion import MotionGate


def noisy(image: np.ndarray, seed: int, sigma: float = 4.0) -> np.ndarray:
    """The same picture with fresh sensor noise."""
    noise = np.random.default_rng(seed).normal(0, sigma, image.shape)
    return np.clip(image + noise, 0, 255).astype(np.uint8)


def test_a_still_scene_is_checked_only_every_recheck_period() -> None:
    gate = MotionGate(recheck_s=2.0)
    shop = shop_background(640, 480, seed=1)
    decisions = [gate.needs_detection(noisy(shop, i), i * 0.1, tracking=False) for i in range(50)]
    assert decisions[0]  # the first frame is always analysed
    assert sum(decisions) == 3  # t = 0, 2.0, 4.0: sensor noise alone is not motion


def test_someone_entering_is_analysed_at_once() -> None:
    gate = MotionGate()
    empty = Scene([], seed=2)
    person = Scene([[Keyframe(0, 320, 240, 70)]], seed=2)
    assert gate.needs_detection(empty.render(0)[0], 0.0, tracking=False)
    assert not gate.needs_detection(empty.render(0)[0], 0.1, tracking=False)
    assert gate.needs_detection(person.render(0)[0], 0.2, tracking=False)


def test_open_tracks_force_detection() -> None:
    gate = MotionGate()
    shop = shop_background(320, 240)
    gate.needs_detection(shop, 0.0, tracking=False)
    assert gate.needs_detection(shop, 0.1, tracking=True)


def test_change_inside_the_tracked_regions_is_not_motion_outside() -> None:
    gate = MotionGate()
    before = Scene([[Keyframe(0, 160, 200, 70)]], seed=3).render(0)[0]
    after = Scene([[Keyframe(0, 190, 200, 70)]], seed=3).render(0)[0]  # the tracked shopper moved
    assert gate.change(before) is None  # nothing to compare the first frame with
    change = gate.change(after)
    assert change is not None
    around = [(40, 60, 320, 480)]
    assert gate.moved_inside(change, around[0], after.shape)
    assert not gate.moved_outside(change, around, after.shape)
    newcomer = Scene([[Keyframe(0, 190, 200, 70)], [Keyframe(0, 500, 200, 70)]], seed=3).render(0)[0]
    assert gate.moved_outside(gate.change(newcomer), around, newcomer.shape)


def test_the_moving_region_covers_what_changed_outside_the_ignored_regions() -> None:
    gate = MotionGate()
    empty = Scene([], seed=4).render(0)[0]
    person = Scene([[Keyframe(0, 480, 200, 60)]], seed=4).render(0)[0]
    gate.change(empty)
    change = gate.change(person)
    x0, y0, x1, y1 = gate.moving_region(change, person.shape)
    assert x0 <= 450 and x1 >= 510 and y0 <= 170 and y1 >= 230 and (x1 - x0) * (y1 - y0) < 0.1 * 640 * 480
    assert gate.moving_region(change, person.shape, ignore=[(400, 100, 560, 320)]) is None
    assert gate.moving_region(gate.change(person), person.shape) is None  # nothing changed since
