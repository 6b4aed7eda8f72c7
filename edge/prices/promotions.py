"""Judging a promotion's original price (原价): computed from the price history, never taken on trust.

China's 规范促销行为暂行规定 (SAMR, 2020) makes a discount's base, where none is stated, the lowest price
of the 7 days before the promotion in the same store; the EU's Omnibus rules (Directive 98/6/EC art. 6a)
ask for the lowest price of the 30 days before. `[prices] lookback_days` is that period. The store knows
the prices in force, not each sale, so the base is the lowest price in force (regular or promotion) at
any time in the look-back; a product with less than `min_history_hours` of prices before the promotion
has no base (a price in force for seconds proves nothing). A stated base (`promo_base`) is shown only
if it is not above that lowest price. A promotion that is not below its base is refused, or shown
without a strike-through, as `fake_promotion` says.

Pure: the catalogue reads the history and applies the verdict (edge/catalog.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from edge.config import PricesSection

#: Why a promotion is shown without a struck-through original price.
NO_HISTORY = "no_history"
NO_REDUCTION = "no_reduction"
#: Why an item is refused (and NO_REDUCTION, with `fake_promotion = "refuse"`).
BASE_ABOVE_HISTORY = "base_above_history"
BASE_UNPROVEN = "base_unproven"


@dataclass(frozen=True)
class Refusal:
    """An item not applied: the field and the rule it broke, as a reply or a `price.refused` event lists it."""

    field: str
    rule: str
    problem: str
    code: str = "invalid_argument"

    def listed(self, where: str, sku: str, **extra: Any) -> dict[str, Any]:
        """`{..., "sku", "code", "field", "rule", "message"}`; `where` is the field's prefix (`items[3].`, or "" for a change)."""
        field = f"{where}{self.field}"
        return {**extra, "sku": sku, "code": self.code, "field": field, "rule": self.rule, "message": f"{field}: {self.problem}"}

    def noted(self, where: str, sku: str, **extra: Any) -> dict[str, Any]:
        """The same without `code`: an item applied, its promotion shown without 原价 for this reason."""
        listed = self.listed(where, sku, **extra)
        del listed["code"]
        return listed


@dataclass(frozen=True)
class Verdict:
    """A promotion allowed: the base its labels strike through (None: none), its lawful limit, and why none is shown."""

    promo_base: Decimal | None
    base_limit: Decimal | None
    plain: Refusal | None = None  # the rule that left the label without 原价, worded as a refusal would be


def judge(promo_price: Decimal, stated: Decimal | None, limit: Decimal | None, settings: PricesSection) -> Verdict | Refusal:
    """The verdict on a promotion at `promo_price`, with HQ's `stated` base (or None) and the lowest price in
    force in the look-back before it began (`limit`; None when the history is too short to tell)."""
    days = settings.lookback_days
    if limit is None:
        young = (f"the product has less than {settings.min_history_hours} h of prices before the promotion,"
                 " so no original price can be proven")
        if stated is not None:
            return Refusal("promo_base", BASE_UNPROVEN, f"{young}; send the promotion without promo_base")
        return Verdict(None, None, Refusal("promo_price", NO_HISTORY, f"{young}: shown without a struck-through price"))
    if stated is not None and stated > limit:
        return Refusal("promo_base", BASE_ABOVE_HISTORY,
                       f"{stated:.2f} is above {limit:.2f}, the lowest price in force in the {days} days before the promotion")
    base = limit if stated is None else stated
    if promo_price < base:
        return Verdict(base, limit)
    whose = "the stated promo_base" if stated is not None else f"the lowest price in force in the {days} days before the promotion"
    problem = f"{promo_price:.2f} is not below the original price {base:.2f} ({whose})"
    if settings.fake_promotion == "refuse":
        return Refusal("promo_price", NO_REDUCTION, problem)
    return Verdict(None, limit, Refusal("promo_price", NO_REDUCTION, f"{problem}: shown without a struck-through price"))
