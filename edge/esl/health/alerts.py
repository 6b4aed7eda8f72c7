"""The temperature alert rule of one fridge section, as a pure state machine fed with (time, reading).

NORMAL -> PENDING when a reading leaves [min_c, max_c]; PENDING -> ALERT (raised) once it has
stayed out for `min_duration_s` (or `door_tolerance_s`, whichever is longer, when the excursion
began with a jump of at least `door_rise_c` between two polls: the signature of an open door);
PENDING -> NORMAL as soon as a reading is back in range; ALERT -> NORMAL (cleared) only when a
reading is back inside the range by `hysteresis_c`, so a value hovering at the limit does not flap.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from edge.esl.health.config import Section


class AlertState(enum.Enum):
    """Where a section stands."""

    NORMAL = "normal"
    PENDING = "pending"
    ALERT = "alert"


@dataclass(frozen=True)
class Transition:
    """An alert raised or cleared: when the excursion began, when this happened, the worst reading, why."""

    kind: str  # "raised" | "cleared"
    since: float
    at: float
    temp_c: float
    peak_c: float
    reason: str


def worst(readings: list[float], section: Section) -> float:
    """The reading farthest outside (or closest to leaving) the section's range."""
    high, low = max(readings), min(readings)
    return high if high - section.max_c >= section.min_c - low else low


class AlertMonitor:
    """One section's alert state; `feed` returns a Transition when an alert is raised or cleared."""

    def __init__(self, rule: Section) -> None:
        """Start NORMAL (use `resume` to continue an alert still open in the store)."""
        self.rule = rule
        self.state = AlertState.NORMAL
        self.since: float | None = None
        self.peak: float | None = None
        self.door = False
        self._last: float | None = None

    def resume(self, raised_at: float, peak_c: float | None) -> None:
        """Continue an alert raised before a restart."""
        self.state, self.since, self.peak = AlertState.ALERT, raised_at, peak_c

    def _reason(self, value: float) -> str:
        """Which limit a reading breaks."""
        return f"above {self.rule.max_c:g} °C" if value > self.rule.max_c else f"below {self.rule.min_c:g} °C"

    def _further(self, value: float) -> float:
        """The more extreme of the peak so far and `value` (in the direction of the excursion)."""
        if self.peak is None:
            return value
        return max(self.peak, value) if value > self.rule.max_c or self.peak > self.rule.max_c else min(self.peak, value)

    def feed(self, t: float, value: float) -> Transition | None:
        """Take one reading at time `t` (seconds)."""
        rule = self.rule
        out = value > rule.max_c or value < rule.min_c
        jump = self._last is not None and abs(value - self._last) >= rule.door_rise_c
        self._last = value
        if self.state is AlertState.NORMAL:
            if out:
                self.state, self.since, self.peak, self.door = AlertState.PENDING, t, value, jump
            return None
        if self.state is AlertState.PENDING:
            if not out:
                self.state, self.since, self.peak = AlertState.NORMAL, None, None
                return None
            self.peak = self._further(value)
            assert self.since is not None
            needed = max(rule.min_duration_s, rule.door_tolerance_s) if self.door else rule.min_duration_s
            if t - self.since >= needed:
                self.state = AlertState.ALERT
                return Transition("raised", self.since, t, value, self.peak, self._reason(value))
            return None
        self.peak = self._further(value)
        if rule.min_c + rule.hysteresis_c <= value <= rule.max_c - rule.hysteresis_c:
            assert self.since is not None and self.peak is not None
            done = Transition("cleared", self.since, t, value, self.peak, "back in range")
            self.state, self.since, self.peak = AlertState.NORMAL, None, None
            return done
        return None
