"""Camera health on synthetic frames: each cause raised and cleared, no false alarm on a live shop scene, bad input handled."""

from __future__ import annotations

from collections.abc import Iterator

import cv2
import numpy as np
import pytest

from devices.camera.scene import Scene, shop_background, shopper_walk
from edge.screen.camera_health import CameraHealth, HealthLimits, cause_of
from edge.screen.errors import BlankFrame, FrameError
from edge.screen.measures import AudienceConfig, AudienceMeter
from edge.screen.pipeline import ScreenPipeline
from edge.screen.tracker import Tracker

FPS = 5.0
RNG = np.random.default_rng(16)


def live(image: np.ndarray, sigma: float = 2.0, gain: float = 1.0) -> np.ndarray:
    """`image` as a live sensor gives it: fresh noise every frame, and a brightness `gain`."""
    noisy = image.astype(np.float32) * gain + RNG.normal(0.0, sigma, image.shape).astype(np.float32)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def feed(health: CameraHealth, frames: Iterator[np.ndarray], t0: float, seconds: float) -> tuple[float, set[str | None]]:
    """Feed `seconds` of frames at FPS from `t0`; the end time and every cause seen (frame problem or camera problem)."""
    causes: set[str | None] = set()
    n = int(seconds * FPS)
    for i in range(n):
        ts = t0 + i / FPS
        problem = health.observe(next(frames), ts, people=False)
        causes.add(cause_of(problem) or cause_of(health.problem))
    return t0 + n / FPS, causes


def repeat(make: object) -> Iterator[np.ndarray]:
    """Frames from calling `make()` forever."""
    while True:
        yield make()  # type: ignore[operator]


SHOP = shop_background(640, 480, seed=3)
LIMITS = HealthLimits(frozen_after_s=5.0, moved_after_s=12.0)  # short, so the test runs in scene time quickly


@pytest.mark.parametrize(
    ("cause", "make"),
    [
        ("dark", lambda: live(SHOP, gain=0.08)),  # lights off: the sensor's gain cannot lift it
        ("blinded", lambda: live(np.full_like(SHOP, 255), sigma=0.5)),  # a lamp into the lens
        ("blinded", lambda: live(np.clip(SHOP.astype(np.int16) + 200, 0, 255).astype(np.uint8))),  # exposure stuck high
        ("covered", lambda: live(cv2.GaussianBlur(SHOP, (0, 0), 40) // 2 + 20, sigma=4.0)),  # a hand, light through it
        ("covered", lambda: live(np.full_like(SHOP, 128), sigma=1.0)),  # tape: uniform grey
    ],
)
def test_a_frame_nothing_can_be_seen_in_is_named_and_cleared(cause: str, make: object) -> None:
    health = CameraHealth(LIMITS)
    t, seen = feed(health, repeat(lambda: live(SHOP)), 0.0, 3)
    assert seen == {None}
    t, seen = feed(health, repeat(make), t, 2)
    assert seen == {cause}
    problem = health.observe(make(), t, people=False)  # type: ignore[operator]
    assert problem is not None and problem.startswith(f"camera {cause}")
    _, seen = feed(health, repeat(lambda: live(SHOP)), t + 1, 2)
    assert seen == {None}


def test_a_light_level_at_the_border_is_one_verdict_not_one_per_frame() -> None:
    """Lights flickering around the dark threshold stay `dark` (not dark/covered/None by turns) until clearly lit."""
    health = CameraHealth(LIMITS)
    t, _ = feed(health, repeat(lambda: live(SHOP)), 0.0, 3)
    gains = iter([0.15, 0.18] * 20)  # mean grey about 19 and 22: either side of DARK_MEAN 20
    t, seen = feed(health, repeat(lambda: live(SHOP, gain=next(gains))), t, 8)
    assert seen == {"dark"}
    _, seen = feed(health, repeat(lambda: live(SHOP, gain=0.6)), t, 1)  # lit again (mean about 75)
    assert seen == {None}


def test_detail_at_the_border_is_one_covered_verdict() -> None:
    """A smear whose detail wavers around COVERED_DETAIL stays `covered` until the picture is clearly sharp."""
    health = CameraHealth(LIMITS)
    t, _ = feed(health, repeat(lambda: live(SHOP)), 0.0, 3)
    smears = [cv2.addWeighted(SHOP, w, np.full_like(SHOP, 128), 1 - w, 0) for w in (0.45, 0.6)]  # detail about 2.7 and 3.6
    picks = iter([0, 1] * 20)
    t, seen = feed(health, repeat(lambda: live(smears[next(picks)], sigma=0.5)), t, 8)
    assert seen == {"covered"}
    _, seen = feed(health, repeat(lambda: live(SHOP)), t, 1)
    assert seen == {None}


def test_a_repeated_picture_is_frozen_after_frozen_after_s_and_clears_when_frames_live_again() -> None:
    health = CameraHealth(LIMITS)
    t, _ = feed(health, repeat(lambda: live(SHOP)), 0.0, 3)
    still = live(SHOP)
    t, seen = feed(health, repeat(lambda: still.copy()), t, 4.5)  # under frozen_after_s: not yet
    assert seen == {None}
    t, seen = feed(health, repeat(lambda: still.copy()), t, 1.5)
    assert seen == {None, "frozen"}
    assert health.problem is not None and health.problem.startswith(("camera frozen for 5 s", "camera frozen for 6 s"))
    t, seen = feed(health, repeat(lambda: still.copy()), t, 10)
    assert health.problem is not None and health.problem.startswith("camera frozen for 1")  # counts on: 15 s
    _, seen = feed(health, repeat(lambda: live(SHOP)), t, 1)
    assert seen == {None} and health.problem is None


def test_a_frozen_picture_with_the_cameras_clock_still_ticking_is_frozen() -> None:
    health = CameraHealth(LIMITS)
    still = live(SHOP)

    def ticking() -> np.ndarray:
        frame = still.copy()
        cv2.putText(frame, f"{RNG.integers(0, 10**6):06d}", (420, 460), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (255, 255, 255), 2)
        return frame

    _, seen = feed(health, repeat(ticking), 0.0, 7)
    assert "frozen" in seen


@pytest.mark.parametrize("sigma", [0.7, 2.0, 6.0])
def test_sensor_noise_on_a_still_empty_shop_is_never_frozen(sigma: float) -> None:
    health = CameraHealth(LIMITS)
    _, seen = feed(health, repeat(lambda: live(SHOP, sigma=sigma)), 0.0, 30)
    assert seen == {None}


def test_a_turned_camera_is_moved_after_moved_after_s_and_clears_when_turned_back() -> None:
    health = CameraHealth(LIMITS)  # background time constant 1 s, reference after 3 s
    t, seen = feed(health, repeat(lambda: live(SHOP)), 0.0, 6)
    assert seen == {None} and health.similarity is not None and health.similarity > 0.9
    turned = np.roll(np.roll(SHOP, 48, axis=1), 16, axis=0)  # about 5° to the side and 2° down
    t, seen = feed(health, repeat(lambda: live(turned)), t, 10)  # under moved_after_s
    assert seen == {None}
    t, seen = feed(health, repeat(lambda: live(turned)), t, 5)
    assert "moved" in seen
    assert health.problem is not None and health.problem.startswith("camera moved")
    _, seen = feed(health, repeat(lambda: live(SHOP)), t, 5)
    assert health.problem is None and health.similarity is not None and health.similarity >= 0.75


def test_a_new_view_is_moved_whatever_the_light_and_a_covered_camera_does_not_count_as_moved() -> None:
    health = CameraHealth(LIMITS)
    t, _ = feed(health, repeat(lambda: live(SHOP)), 0.0, 6)
    t, seen = feed(health, repeat(lambda: live(SHOP, gain=0.08)), t, 8)  # lights off a while: dark, not moved
    assert seen == {"dark"}
    _, seen = feed(health, repeat(lambda: live(shop_background(640, 480, seed=9), gain=1.2)), t, 16)
    assert "moved" in seen


def test_the_simulated_shopper_scene_with_flicker_raises_nothing() -> None:
    """Shoppers walk up, stop and leave for 10 minutes under mains flicker (±8 %): no cause at all, default limits."""
    scene = Scene([shopper_walk(t0=0.0)], width=640, height=480, seed=3)
    health = CameraHealth(HealthLimits(frozen_after_s=5.0, moved_after_s=20.0))  # stricter than the defaults
    causes: set[str | None] = set()
    fps = 2.0
    shots = [scene.render(i / fps)[0].astype(np.float32) for i in range(int(16 * fps))]  # a shopper every 16 s
    noise = [RNG.normal(0.0, 2.0, SHOP.shape).astype(np.float32) for _ in range(7)]  # 7 against 32: no frame repeats
    for i in range(int(600 * fps)):
        ts = i / fps
        gain = 1.0 + 0.08 * np.sin(ts * 2.7)
        image = np.clip(shots[i % len(shots)] * gain + noise[i % len(noise)], 0, 255).astype(np.uint8)
        problem = health.observe(image, ts, people=False)  # nobody tracked: every frame feeds the background
        causes.add(cause_of(problem) or cause_of(health.problem))
    assert causes == {None}
    assert health.similarity is not None and health.similarity > 0.75


def test_off_means_off() -> None:
    health = CameraHealth(HealthLimits(frozen_after_s=0, moved_after_s=0))
    still = live(SHOP)
    _, seen = feed(health, repeat(lambda: still.copy()), 0.0, 60)
    assert seen == {None}


class _NoFaces:
    """A detector that finds nobody and counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def detect(self, image: np.ndarray) -> list[object]:
        """Nothing here."""
        self.calls += 1
        return []


def pipeline(detector: _NoFaces) -> ScreenPipeline:
    """The screen pipeline with a health check and no motion gate."""
    meter = AudienceMeter(AudienceConfig(), screen="t")
    return ScreenPipeline(detector, Tracker(), meter, None, CameraHealth(LIMITS))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "frame",
    [
        np.zeros((480, 640, 3), np.float32),
        np.zeros((480, 640, 2), np.uint8),
        np.zeros((8, 8, 3), np.uint8),
        np.zeros((0, 640, 3), np.uint8),
        "not an image",
    ],
)
def test_bad_input_is_a_frame_error_before_the_health_check(frame: object) -> None:
    p = pipeline(_NoFaces())
    p.process(live(SHOP), 0.0)
    with pytest.raises(FrameError):
        p.process(frame, 0.2)  # type: ignore[arg-type]
    p.process(live(SHOP), 0.4)  # and the next good frame is judged as before
    assert p.camera_problem is None


def test_the_pipeline_names_the_cause_and_stops_searching_a_frozen_picture() -> None:
    detector = _NoFaces()
    p = pipeline(detector)
    with pytest.raises(BlankFrame, match="^camera dark"):
        p.process(live(SHOP, gain=0.05), 0.0)
    still = live(SHOP)
    for i in range(40):  # 8 s of the same picture
        p.process(still.copy(), 1 + i / FPS)
    assert p.camera_problem is not None and p.camera_problem.startswith("camera frozen")
    assert detector.calls == int(5 * FPS)  # searched until frozen was declared (5 s), then no more


def test_odd_frame_sizes_and_grey_frames_are_judged() -> None:
    health = CameraHealth(LIMITS)
    for size in ((1920, 1080), (321, 241), (64, 48)):
        image = cv2.resize(SHOP, size, interpolation=cv2.INTER_AREA)
        assert health.observe(live(image), 0.0, people=False) is None
    p = pipeline(_NoFaces())
    p.process(cv2.cvtColor(live(SHOP), cv2.COLOR_BGR2GRAY), 0.0)  # grey: converted before the check
    assert p.camera_problem is None


@pytest.mark.parametrize(("key", "value"), [("frozen_after_s", 0.5), ("moved_after_s", -1), ("frozen_after_s", 4000)])
def test_health_times_are_validated(key: str, value: float) -> None:
    from edge.config import ConfigError, parse_config

    with pytest.raises(ConfigError, match=rf"screen\.screens\[0\]\.{key}"):
        parse_config({"store": {"id": "s1"}, "screen": {"screens": [{"id": "a", "source": 0, key: value}]}}, env={})
    ok = parse_config({"store": {"id": "s1"}, "screen": {"screens": [{"id": "a", "source": 0, key: 0}]}}, env={})
    assert getattr(ok.screen.screens[0], key) == 0  # 0: that check is off
