"""Types shared by every scale protocol: the weight reading, line garbage, exact unit conversion."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

State = Literal["ok", "motion", "overload", "underload", "zero"]

_GRAMS_PER_UNIT: dict[str, Decimal] = {"g": Decimal(1), "kg": Decimal(1000), "mg": Decimal("0.001")}
#: Units a weight converts from (a reply in any other unit, e.g. a scale set to lb, cannot be used).
UNITS: frozenset[str] = frozenset(_GRAMS_PER_UNIT)


@dataclass(frozen=True, slots=True)
class WeightReading:
    """What the scale reported, unaltered: grams only when its value converts exactly, plus the raw line."""

    grams: int | None
    stable: bool
    state: State
    net: bool
    raw: str


@dataclass(frozen=True, slots=True)
class Garbage:
    """Bytes that matched no grammar; reported so the driver can log them and flag line health."""

    data: bytes
    reason: str


def exact_grams(value: Decimal, unit: str) -> int | None:
    """Convert a legal-for-trade value to integer grams, or None when that would need rounding."""
    factor = _GRAMS_PER_UNIT.get(unit)
    if factor is None:
        return None
    grams = value * factor
    if grams != grams.to_integral_value():
        return None
    return int(grams)
