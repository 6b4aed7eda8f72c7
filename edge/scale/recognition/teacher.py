"""The scale job's learning path replayed off-line, so `produce eval --learn` measures the very rules a store runs.

A confirmation is judged by `edge.scale.suspicion` and `edge.scale.learning`, stored by
`edge.scale.recognition.stored` (bounded per product, de-duplicated) in a SQLite database with the
job's own schema, and the product is rebuilt from its base and stored examples as the worker does.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import sqlite_utils

from edge.scale import learning, suspicion
from edge.scale.config import LearningSection, ScaleSection
from edge.scale.pricing.quote import Product, price_pieces, price_weighed
from edge.scale.recognition import stored
from edge.scale.recognition.gallery import Gallery
from edge.scale.recognition.produce_map import ProduceMap
from edge.scale.schema import STEPS
from edge.scale.weighing.session import Candidate
from edge.store import Tx

OFFERED = 5  # tiles on the scale screen (edge/scale/recognition/worker.py TOP_K)
NOMINAL_GRAMS = 500  # the load every replayed by-weight confirmation is priced and judged at


@dataclass(frozen=True, slots=True)
class Priced:
    """How one gallery product sells: by weight or not, and the total at the nominal load (None: no price known)."""

    by_weight: bool
    amount: Decimal | None


def price_table(produce: ProduceMap) -> dict[str, Priced]:
    """Class name -> how it sells, from a produce file (the prices the suspicion rule compares)."""
    by_sku = {p.sku: p for p in produce.products}
    table = {}
    for cls, sku in produce.skus.items():
        item = by_sku.get(sku)
        if item is None:
            continue
        product = Product(plu=int(item.plu or 0), name=item.name, unit_price=item.price, basis=item.unit, tare_grams=item.tare_g)
        weighed = item.sale_mode == "weight"
        quote = price_weighed(product, NOMINAL_GRAMS) if weighed else price_pieces(product, 1)
        table[cls] = Priced(weighed, quote.amount)
    return table


class Teacher:
    """A live gallery (base + learned) that learns from confirmations exactly as the scale job does."""

    def __init__(
        self, base: Gallery, prices: dict[str, Priced] | None = None,
        rules: LearningSection | None = None, margin: float | None = None,
    ) -> None:
        """Start from `base` (the shipped gallery, never bounded); learned examples go to an in-memory store."""
        self.rules = rules or LearningSection()
        self.margin = ScaleSection.model_fields["suspicion_margin"].default if margin is None else margin
        self.prices = prices or {}
        self.version = base.model_version
        self.base = {p: base.examples(p) for p in base.products()}
        self.gallery = Gallery.live(self.version)
        self.gallery.meta = dict(base.meta)
        for product, examples in self.base.items():
            self.gallery.replace(product, examples)
        db = sqlite_utils.Database(memory=True)
        for step in STEPS:
            step(db)
        self._tx = Tx(db)
        self.learned = 0

    def confirm(self, candidates: list[tuple[str, float]], chosen: str, embedding: np.ndarray) -> learning.Verdict:
        """A customer confirmed `chosen` after being offered `candidates` (best first): learn it if the job would."""
        offered = tuple(Candidate(p, s) for p, s in candidates[:OFFERED])
        top1 = offered[0].sku if offered else None
        mine, theirs = self.prices.get(chosen), self.prices.get(top1 or "")
        verdict = suspicion.judge(
            offered=any(c.sku == chosen for c in offered), top1=top1, chosen=chosen,
            chosen_amount=None if mine is None else mine.amount, top1_amount=None if theirs is None else theirs.amount,
            margin=self.margin,
        )
        by_weight = True if mine is None else mine.by_weight
        judged = learning.judge(self.rules, offered, chosen, by_weight=by_weight, grams=NOMINAL_GRAMS, suspicion=verdict)
        if not judged.learn:
            return judged
        added = stored.add(
            self._tx, chosen, self.version, [embedding], source="confirm",
            max_per_product=self.rules.max_per_product, dedupe_cosine=self.rules.dedupe_cosine,
        )
        if not added:
            return learning.Verdict(False, "duplicate of a stored example")
        kept = stored.examples(self._tx.db, self.version, chosen)
        self.gallery.replace(chosen, self.base.get(chosen, ()), (e for _, e in kept))
        self.learned += 1
        return judged

    def stored_examples(self) -> int:
        """Learned examples now kept (after the per-product bound)."""
        return sum(stored.counts(self._tx.db, self.version).values())

    def gallery_examples(self) -> int:
        """Examples in the live gallery (base + learned)."""
        return sum(len(self.gallery.examples(p)) for p in self.gallery.products())
