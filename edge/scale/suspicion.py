"""Wrong choices caught, not punished: when a tap deserves the question "识别为 X，您选择的是 Y，确认吗？".

A choice is suspicious when the customer picks a product that the screen did not offer
(`not_offered`) or one whose total for this load is lower than the recognised top-1's by more than
`[scale] suspicion_margin` (`cheaper_than_top1`: for the same sale mode that is the unit price, since
the load is the same), or both. Without a recognition there is nothing to compare with (`none`).
The job asks once per weighing and product, records the verdict in the `weighing` event, and never
lets such a sale teach the gallery.
"""

from __future__ import annotations

from decimal import Decimal

NONE, NOT_OFFERED, CHEAPER, BOTH = "none", "not_offered", "cheaper_than_top1", "both"


def judge(
    *, offered: bool, top1: str | None, chosen: str, chosen_amount: Decimal | None, top1_amount: Decimal | None, margin: float,
) -> str:
    """The suspicion of one choice: none, not_offered, cheaper_than_top1 or both."""
    if top1 is None:
        return NONE
    cheaper = (
        chosen != top1 and chosen_amount is not None and top1_amount is not None
        and chosen_amount < top1_amount * (1 - Decimal(str(margin)))
    )
    if not offered:
        return BOTH if cheaper else NOT_OFFERED
    return CHEAPER if cheaper else NONE
