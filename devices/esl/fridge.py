"""A deterministic refrigerated-display model, the temperature source of simulated cold-chain labels."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

_DOOR_BUCKET_S = 600.0


@dataclass(frozen=True, slots=True)
class Fridge:
    """Air temperature near a label in a fridge: compressor cycling, slow drift, door-open spikes, failure.

    `temperature(t)` is a pure function of time in seconds, so any label can be sampled at any
    moment without running a simulation loop. A failing fridge (`fail_at_s` set) warms towards
    `ambient_c` at `warm_rate_c_per_h` from that moment on; a label whose probe has failed
    (`probe_fails_at_s` set) can no longer measure from that moment on.
    """

    set_point_c: float = 4.0
    cycle_amplitude_c: float = 0.8
    cycle_period_s: float = 1200.0
    drift_c_per_h: float = 0.0
    door_opens_per_h: float = 2.0
    door_spike_c: float = 3.0
    door_recovery_s: float = 300.0
    fail_at_s: float | None = None
    warm_rate_c_per_h: float = 3.0
    ambient_c: float = 20.0
    probe_fails_at_s: float | None = None
    seed: int = 0

    def _door_open_at(self, bucket: int) -> float | None:
        """When the door opened within a 10-minute bucket, if it did (seeded per bucket)."""
        rng = random.Random(f"{self.seed}/{bucket}")
        if rng.random() < self.door_opens_per_h * _DOOR_BUCKET_S / 3600:
            return (bucket + rng.random()) * _DOOR_BUCKET_S
        return None

    def door_effect(self, t: float) -> float:
        """Extra degrees from recent door openings (exponential recovery)."""
        effect, bucket = 0.0, math.floor(t / _DOOR_BUCKET_S)
        for b in range(bucket - math.ceil(5 * self.door_recovery_s / _DOOR_BUCKET_S), bucket + 1):
            opened = self._door_open_at(b)
            if opened is not None and opened <= t:
                effect += self.door_spike_c * math.exp(-(t - opened) / (self.door_recovery_s / 3))
        return effect

    def temperature(self, t: float) -> float:
        """Air temperature in degC at time `t` seconds."""
        normal = (
            self.set_point_c
            + self.cycle_amplitude_c * math.sin(2 * math.pi * t / self.cycle_period_s)
            + self.drift_c_per_h * t / 3600
            + self.door_effect(t)
        )
        if self.fail_at_s is None or t <= self.fail_at_s:
            return normal
        return min(max(normal, self.ambient_c), normal + self.warm_rate_c_per_h * (t - self.fail_at_s) / 3600)

    def measured(self, t: float) -> float | None:
        """What the label's probe measures at time `t`: the air temperature, or None once the probe has failed."""
        if self.probe_fails_at_s is not None and t >= self.probe_fails_at_s:
            return None
        return self.temperature(t)
