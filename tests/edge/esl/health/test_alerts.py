"""The temperature alert state machine with injected readings and time (no radio, no clock)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from edge.esl.health.alerts import AlertMonitor, AlertState
from edge.esl.health.config import Section

RULE = Section(id="dairy", labels=["x"], min_c=0, max_c=8, min_duration_s=600, hysteresis_c=1,
               door_tolerance_s=1200, door_rise_c=2)


def feed(monitor: AlertMonitor, series: list[tuple[float, float]]) -> list:
    """All transitions produced by a series of (t, value)."""
    return [tr for t, v in series if (tr := monitor.feed(t, v)) is not None]


def test_slow_warming_raises_after_min_duration_and_clears_with_hysteresis():
    m = AlertMonitor(RULE)
    warm = [(t * 60.0, 4 + t * 0.5) for t in range(20)]  # +0.5 °C per minute, crosses 8 °C after 8 min
    out = feed(m, warm)
    assert [t.kind for t in out] == ["raised"]
    assert out[0].since == 9 * 60 and out[0].at == 19 * 60 and out[0].reason.startswith("above 8")
    assert out[0].peak_c == warm[-1][1]
    assert feed(m, [(1500, 7.5)]) == [] and m.state is AlertState.ALERT  # inside the range but not by the hysteresis
    cleared = feed(m, [(1560, 6.9)])
    assert [t.kind for t in cleared] == ["cleared"] and cleared[0].since == 9 * 60 and m.state is AlertState.NORMAL


def test_short_excursion_and_door_opening_are_tolerated():
    m = AlertMonitor(RULE)
    assert feed(m, [(0, 5), (60, 9), (300, 9.5), (600, 7.9)]) == []  # out for 9 min < 10 min
    door = [(1000, 5), (1060, 11)] + [(1060 + 60 * k, 10) for k in range(1, 16)]  # jump of 6 °C: door, 16 min out
    assert feed(m, door) == [] and m.state is AlertState.PENDING
    assert [t.kind for t in feed(m, [(1060 + 1200, 10)])] == ["raised"]  # but not beyond the door tolerance


def test_too_cold_is_an_alert_too():
    m = AlertMonitor(RULE)
    out = feed(m, [(0, 1), (60, -0.5), (700, -1)])
    assert [t.kind for t in out] == ["raised"] and out[0].reason.startswith("below 0") and out[0].peak_c == -1


@given(st.lists(st.floats(min_value=-5, max_value=15, allow_nan=False), max_size=60))
def test_transitions_alternate_raised_then_cleared(values):
    m = AlertMonitor(RULE)
    kinds = [t.kind for t in feed(m, [(i * 120.0, v) for i, v in enumerate(values)])]
    assert all(k == ("raised" if i % 2 == 0 else "cleared") for i, k in enumerate(kinds))
    assert (m.state is AlertState.ALERT) == (len(kinds) % 2 == 1)
