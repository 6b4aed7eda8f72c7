"""The simulator's physical model on an injected clock: settling, division, limits, drift, determinism."""

from __future__ import annotations

from devices.scale.simulator import ScaleModel


class FakeClock:
    """A clock the test advances by hand."""

    def __init__(self) -> None:
        """Start at t = 0."""
        self.t = 0.0

    def __call__(self) -> float:
        """The current fake time."""
        return self.t


def _model(**kwargs: object) -> tuple[ScaleModel, FakeClock]:
    """A model driven by a fake clock."""
    clock = FakeClock()
    return ScaleModel(clock=clock, **kwargs), clock  # type: ignore[arg-type]


def test_place_oscillates_then_settles_on_the_division() -> None:
    model, clock = _model(division_g=5, settle_s=1.0)
    model.place(737)
    clock.t = 0.05
    moving = model.sample()
    assert moving.motion
    clock.t = 1.01
    settled = model.sample()
    assert not settled.motion and settled.gross == 735 and settled.gross % 5 == 0


def test_remove_and_clear() -> None:
    model, clock = _model(division_g=2)
    model.place(500)
    model.place(300)
    model.remove()
    clock.t = 5
    assert model.sample().gross == 500
    model.clear()
    clock.t = 10
    assert model.sample().gross == 0 and model.sample().centre_of_zero


def test_overload_and_underload_limits() -> None:
    model, clock = _model(capacity_g=15_000, division_g=5)
    model.place(15_045)
    clock.t = 5
    assert not model.sample().overload
    model.place(5)
    clock.t = 10
    assert model.sample().overload
    model.clear()
    clock.t = 20
    assert not model.sample().overload
    model.place(250)  # a forgotten tray, within the ±2 % zero range, zeroed away…
    clock.t = 30
    assert model.zero() == "ok"
    model.clear()  # …then lifted: the display goes 250 g below zero
    clock.t = 40
    assert model.sample().underload


def test_zero_range_and_tare() -> None:
    model, clock = _model(capacity_g=15_000, division_g=5)
    model.place(200)
    clock.t = 5
    assert model.zero() == "ok" and model.sample().gross == 0
    model.place(400)
    clock.t = 10
    assert model.zero() == "above"
    assert model.tare() == 400 and model.sample().net == 0
    model.clear_tare()
    assert model.sample().net == 400


def test_drift_moves_zero_over_time() -> None:
    model, clock = _model(division_g=1, drift_g_per_s=2.0)
    clock.t = 10
    assert model.sample().gross == 20


def test_vibration_is_motion_and_seeded() -> None:
    a, ca = _model(vibration_g=4.0, division_g=2, seed=7)
    b, cb = _model(vibration_g=4.0, division_g=2, seed=7)
    values_a, values_b = [], []
    for step in range(20):
        ca.t = cb.t = step
        values_a.append(a.sample())
        values_b.append(b.sample())
    assert values_a == values_b
    assert all(s.motion for s in values_a) and len({s.gross for s in values_a}) > 1


def test_time_scale_speeds_up_settling() -> None:
    model, clock = _model(settle_s=1.0, time_scale=10.0)
    model.place(100)
    clock.t = 0.11
    assert not model.sample().motion
