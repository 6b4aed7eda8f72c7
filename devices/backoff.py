"""The one retry policy of the project: capped exponential back-off with jitter.

Drivers (scales, cameras, labels), the MQTT link and the job supervisor all wait with it,
so a fleet of stores or devices never retries in lock-step and a long outage costs one
attempt per `maximum` seconds.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Backoff:
    """`initial * factor**attempt`, capped at `maximum`, then scaled by a random factor in [1 - jitter, 1]."""

    initial: float = 0.5
    maximum: float = 30.0
    factor: float = 2.0
    jitter: float = 0.5

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Seconds to wait after failure number `attempt` (0 for the first failure of an outage)."""
        base = min(self.maximum, self.initial * self.factor ** min(max(attempt, 0), 64))
        return base * rng.uniform(1.0 - self.jitter, 1.0)
