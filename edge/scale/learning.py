"""When a confirmed choice may teach the gallery: the guard against a wrong (or mischievous) tap.

Chosen rule (all must hold):
1. the choice was among the candidates the screen offered, at rank <= `max_rank` (a product found by
   searching, i.e. never offered, does not teach: new products come in through `scale.enroll`);
2. the model's own score for the chosen product is at least `min_score` (so tapping a far-fetched
   fifth candidate for a completely different-looking item does not teach it);
3. for by-weight produce, the weight is plausible for loose produce (`plausible_g`, default 50 g - 5 kg);
4. the recognition came from a real frame (no candidates, no learning).
De-duplication (cosine > `dedupe_cosine` to a kept example) and the per-product bound (oldest learned
example dropped) are applied where the example is stored (edge/scale/stored.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from edge.scale.config import LearningSection
from edge.scale.weighing.session import Candidate


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether to learn, and why (reported in the `weighing` event)."""

    learn: bool
    reason: str


def judge(
    rules: LearningSection, candidates: tuple[Candidate, ...], sku: str, *, by_weight: bool, grams: int,
    suspicion: str = "none",
) -> Verdict:
    """Apply the rule above to one confirmed weighing; a choice flagged suspicious (edge.scale.suspicion) never teaches."""
    if not rules.enabled:
        return Verdict(False, "learning disabled")
    if suspicion != "none":
        return Verdict(False, f"suspicious choice ({suspicion})")
    if not candidates:
        return Verdict(False, "no candidates were offered")
    rank = next((i + 1 for i, c in enumerate(candidates) if c.sku == sku), None)
    if rank is None:
        return Verdict(False, "chosen product was not among the candidates")
    if rank > rules.max_rank:
        return Verdict(False, f"chosen at rank {rank}, beyond {rules.max_rank}")
    if candidates[rank - 1].score < rules.min_score:
        return Verdict(False, f"chosen product scored {candidates[rank - 1].score:.2f} < {rules.min_score}")
    low, high = rules.plausible_g
    if by_weight and not low <= grams <= high:
        return Verdict(False, f"weight {grams} g outside the plausible {low}-{high} g")
    return Verdict(True, f"offered at rank {rank}")
