"""The shared back-off policy grows, is capped and is jittered."""

from __future__ import annotations

import random

from devices.backoff import Backoff


def test_grows_is_capped_and_jittered() -> None:
    policy = Backoff(initial=1.0, maximum=8.0)
    rng = random.Random(3)
    delays = [policy.delay(n, rng) for n in range(8)]
    bases = [1, 2, 4, 8, 8, 8, 8, 8]
    assert all(base / 2 <= d <= base for d, base in zip(delays, bases))
    assert len({round(d, 6) for d in delays[3:]}) > 1  # jitter: not lock-step at the cap


def test_huge_attempt_numbers_do_not_overflow() -> None:
    assert Backoff(initial=0.1, maximum=5.0, jitter=0.0).delay(10**6, random.Random()) == 5.0
