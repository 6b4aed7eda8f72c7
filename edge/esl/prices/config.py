"""Configuration of price labels: the push retry policy, the daily shelf = catalogue proof and the demo catalogue (`qr_base_url` and `font` are plain keys of `[esl]`)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from edge.esl.frozen import Frozen


class Retry(Frozen):
    """Per-label retry policy of image pushes: capped exponential back-off, then give up until the next change."""

    max_attempts: Annotated[int, Field(ge=1, le=100)] = 5
    base_s: Annotated[float, Field(gt=0)] = 5.0
    max_s: Annotated[float, Field(gt=0)] = 600.0


class DemoStore(Frozen):
    """A generated catalogue (Chinese names) bound to the labels at start; loading is idempotent."""

    enabled: bool = False
    products: Annotated[int, Field(ge=1, le=10_000)] = 300
    seed: int = 1


class PriceProof(Frozen):
    """`[esl.price_proof]`: the store-local hour after which each day's shelf = catalogue proof runs (edge.esl.prices.proof)."""

    hour: Annotated[int, Field(ge=0, le=23)] = 6
