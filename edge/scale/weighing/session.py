"""The weighing session of one scale: a pure state machine fed with readings, recognitions and taps.

empty → placing → stable (ask for ONE recognition) → offered (candidates shown) → confirmed (priced,
label) → removed (back to empty). Time is passed in by the caller (`now`, monotonic seconds), so every
rule (timeouts, timings) is testable without sleeping. The session never does I/O: it returns a
`RecognitionRequest` that the job serves off the event loop, and `confirm` returns the priced `Sale`.

Rules that keep a wrong price off a label:
- the weight priced is the scale's own stable value (the job re-reads it from the scale at confirm
  time and the session refuses when it differs from the weight the candidates were offered for);
  a product's container tare is applied by the scale (preset tare), never subtracted here;
- a product without a price, a quantity below the minimum or an amount beyond the barcode's field
  is refused with a typed error and no label;
- after a label, nothing more is sold until the platter is cleared (zero-return interlock).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum

from edge.scale.pricing import barcode
from edge.scale.pricing.quote import Product, Quote, amount_limit_fen, price_pieces, price_weighed


class Phase(StrEnum):
    """Where the customer is in a weighing."""

    EMPTY = "empty"
    PLACING = "placing"
    STABLE = "stable"
    OFFERED = "offered"
    CONFIRMED = "confirmed"
    EXPIRED = "expired"


class SessionError(Exception):
    """Base of every refusal to sell in the current state."""

    code = "refused"


class NotReady(SessionError):
    """No settled item is waiting for a choice (empty, still moving, expired or already labelled)."""

    code = "not_ready"


class WeightChanged(SessionError):
    """The scale's weight at confirm time is not the weight the candidates were offered for."""

    code = "weight_changed"


class PriceRefused(SessionError):
    """Pricing or the barcode refused the sale (no price, below minimum, amount too large)."""

    code = "price_refused"


@dataclass(frozen=True, slots=True)
class Candidate:
    """One product offered to the customer, best first."""

    sku: str
    score: float


@dataclass(frozen=True, slots=True)
class RecognitionRequest:
    """Request to the job: take one camera frame now and recognise it; answer with `token`."""

    token: int
    grams: int


@dataclass(frozen=True, slots=True)
class Rules:
    """The scale's metrology and timing: minimum weight, what counts as a new item, confirmation window."""

    min_grams: int = 40
    division_g: int = 5
    change_divisions: int = 4
    confirm_timeout_s: float = 30.0

    @property
    def change_grams(self) -> int:
        """A stable weight differing by more than this from the offered one is a different item."""
        return self.change_divisions * self.division_g


@dataclass(frozen=True, slots=True)
class BarcodeSpec:
    """How the label's variable-measure code is laid out (preset or pattern) and its prefix."""

    layout: str = "price"
    prefix: int = 20


@dataclass(frozen=True)
class Sale:
    """A confirmed, priced weighing: what goes on the label, the event and the sale record."""

    weighing: int
    sku: str
    quote: Quote
    code: str
    layout: str
    grams: int
    tare_g: int
    candidates: tuple[Candidate, ...]
    rank: int | None
    unsure: bool
    model_version: str
    settle_to_candidates_ms: float | None
    candidates_to_confirm_ms: float | None


@dataclass
class Weighing:
    """The item on the platter: its stable weight, when it settled and what was offered for it."""

    number: int
    grams: int
    settled_at: float
    token: int
    candidates: tuple[Candidate, ...] = ()
    unsure: bool = True
    model_version: str = ""
    problem: str | None = None
    offered_at: float | None = None


@dataclass
class Session:
    """One scale's weighing state; feed it with `reading`, `recognised`, `confirm` and `tick`."""

    rules: Rules = field(default_factory=Rules)
    code: BarcodeSpec = field(default_factory=BarcodeSpec)
    phase: Phase = Phase.EMPTY
    grams: int | None = None
    current: Weighing | None = None
    problem: str | None = None
    _numbers: int = 0
    _tokens: int = 0

    # ----- inputs -------------------------------------------------------------------------
    def reading(self, grams: int | None, stable: bool, now: float) -> RecognitionRequest | None:
        """A weight from the scale (None: not a usable weight, e.g. overload); may ask for a recognition."""
        self.grams = grams
        self.tick(now)
        if grams is None:
            return None  # overload, underload or a value that is not whole grams: nothing to sell
        if grams < self.rules.min_grams:
            self._clear()  # the item left the platter: an open offer ends without a label
            if abs(grams) > 2 * self.rules.division_g:
                self.phase = Phase.PLACING
                self.problem = f"below the minimum weight of {self.rules.min_grams} g"
            return None
        if self.phase is Phase.CONFIRMED:
            return None  # interlock: the labelled item must leave the platter first
        if not stable:
            if self.phase is Phase.EMPTY:
                self.phase = Phase.PLACING
            return None
        if self.current is not None and abs(grams - self.current.grams) <= self.rules.change_grams:
            return None  # same item settled again (a hand brushed the platter): keep the offer
        return self._settle(grams, now)

    def recognised(
        self, token: int, candidates: list[tuple[str, float]], unsure: bool, model_version: str, now: float
    ) -> bool:
        """Candidates for recognition `token`; False when it is stale (the item changed meanwhile)."""
        weighing = self.current
        if weighing is None or weighing.token != token or self.phase is not Phase.STABLE:
            return False
        weighing.candidates = tuple(Candidate(sku, score) for sku, score in candidates)
        weighing.unsure = unsure
        weighing.model_version = model_version
        weighing.offered_at = now
        self.phase = Phase.OFFERED
        return True

    def recognition_failed(self, token: int, problem: str, now: float) -> bool:
        """No candidates for `token` (blank frame, no camera, empty gallery): the customer searches instead."""
        weighing = self.current
        if weighing is None or weighing.token != token or self.phase is not Phase.STABLE:
            return False
        weighing.problem = problem
        weighing.offered_at = now
        self.phase = Phase.OFFERED
        return True

    def tick(self, now: float) -> None:
        """Expire an offer nobody confirmed within the window: no label, wait for the item to go or change."""
        weighing = self.current
        if (
            self.phase is Phase.OFFERED
            and weighing is not None
            and weighing.offered_at is not None
            and now - weighing.offered_at > self.rules.confirm_timeout_s
        ):
            self.phase = Phase.EXPIRED
            self.problem = "no choice within the confirmation window"

    def confirm(
        self,
        product: Product,
        sku: str,
        *,
        scale_grams: int,
        pieces: int | None,
        now: float,
        plu: int | None = None,
        tared_by_scale: bool = False,
        scale_tare_g: int = 0,
    ) -> Sale:
        """Price the chosen product for the scale's stable weight `scale_grams` (re-read at confirm time).

        `scale_tare_g` is the tare the scale itself applied for this sale (the reading is then net);
        the item is still the offered one when net + tare is within `change_grams` of the offered gross.
        """
        self.tick(now)
        weighing = self.current
        if self.phase is not Phase.OFFERED or weighing is None:
            raise NotReady(f"nothing to confirm (scale is {self.phase.value})")
        if abs(scale_grams + scale_tare_g - weighing.grams) > self.rules.change_grams:
            offered = weighing.grams
            self.current = None
            self.phase = Phase.PLACING  # the next stable reading settles the new item and recognises it
            raise WeightChanged(f"weight is now {scale_grams + scale_tare_g} g, the offer was for {offered} g")
        product = replace(product, plu=plu) if plu is not None else product
        limit = amount_limit_fen(self.code.layout)
        try:
            if product.basis == "piece":
                quote = price_pieces(product, pieces or 1, max_amount_fen=limit)
            else:
                if pieces is not None:
                    raise PriceRefused(f"{sku} is sold by weight; no piece count")
                quote = price_weighed(
                    product, scale_grams, tared_by_scale=tared_by_scale, max_amount_fen=limit, min_grams=self.rules.min_grams
                )
            code = self._barcode(quote)
        except (ValueError, barcode.BarcodeError) as err:
            self.problem = str(err)
            raise PriceRefused(str(err)) from err
        rank = next((i + 1 for i, c in enumerate(weighing.candidates) if c.sku == sku), None)
        self.phase = Phase.CONFIRMED
        self.problem = None
        return Sale(
            weighing=weighing.number,
            sku=sku,
            quote=quote,
            code=code,
            layout=self.code.layout,
            grams=scale_grams,
            tare_g=scale_tare_g,
            candidates=weighing.candidates,
            rank=rank,
            unsure=weighing.unsure,
            model_version=weighing.model_version,
            settle_to_candidates_ms=None if weighing.offered_at is None else (weighing.offered_at - weighing.settled_at) * 1e3,
            candidates_to_confirm_ms=None if weighing.offered_at is None else (now - weighing.offered_at) * 1e3,
        )

    def fault(self, problem: str) -> None:
        """The scale stopped giving weights: drop the weighing (no label without a current weight)."""
        if self.phase is not Phase.EMPTY or self.current is not None:
            self._clear()
        self.grams = None
        self.problem = problem

    def unconfirm(self, problem: str) -> None:
        """The label of a confirmed sale could not be printed: the offer stands again, so the customer may retry."""
        if self.phase is Phase.CONFIRMED:
            self.phase = Phase.OFFERED
            self.problem = problem

    # ----- helpers ------------------------------------------------------------------------
    def _settle(self, grams: int, now: float) -> RecognitionRequest:
        """A new item has settled: remember its weight and ask for exactly one recognition."""
        self._numbers += 1
        self._tokens += 1
        self.current = Weighing(self._numbers, grams, now, self._tokens)
        self.phase = Phase.STABLE
        self.problem = None
        return RecognitionRequest(self._tokens, grams)

    def _clear(self) -> None:
        """The platter is empty: any offer is dropped without a label."""
        self.phase = Phase.EMPTY
        self.current = None
        self.problem = None

    def _barcode(self, quote: Quote) -> str:
        """The label's digits; the amount and weight fields come from the quote, never recomputed."""
        lay = barcode.layout(self.code.layout)
        return barcode.build(
            lay,
            prefix=self.code.prefix,
            item=quote.plu,
            amount_fen=quote.amount_fen if lay.field("$") else None,
            grams=(quote.net_grams or 0) if lay.field("W") else None,
        )
