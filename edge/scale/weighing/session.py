"""The weighing session of one scale: a pure state machine fed with readings, recognitions and taps.

empty → placing → stable (ask for ONE recognition) → offered (candidates shown) → confirmed (priced,
label) → removed (back to empty); an offer may also expire or be cancelled, and `restart` recognises the
item on the platter again. Time is passed in by the caller (`now`, monotonic seconds), so every
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
from edge.scale.pricing.quote import (
    AmountOverflow,
    InvalidQuantity,
    MissingPrice,
    Product,
    Quote,
    amount_limit_fen,
    price_pieces,
    price_weighed,
)


class Phase(StrEnum):
    """Where the customer is in a weighing."""

    EMPTY = "empty"
    PLACING = "placing"
    STABLE = "stable"
    OFFERED = "offered"
    CONFIRMED = "confirmed"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


class SessionError(Exception):
    """Base of every refusal to sell in the current state."""

    code = "refused"


class NotReady(SessionError):
    """No settled item is waiting for a choice (empty platter, weight still moving, recognising)."""

    code = "not_ready"


class AlreadyLabelled(SessionError):
    """The item on the platter has its label: it must leave the platter before the next sale."""

    code = "already_labelled"


class Expired(SessionError):
    """Nobody chose within the confirmation window; `restart` offers again."""

    code = "expired"


class Cancelled(SessionError):
    """The customer cancelled this weighing; `restart` offers again."""

    code = "cancelled"


class WeightChanged(SessionError):
    """The scale's weight at confirm time is not the weight the candidates were offered for."""

    code = "weight_changed"


class PriceRefused(SessionError):
    """Pricing or the barcode refused the sale; the subclasses say why."""

    code = "price_refused"


class NoPrice(PriceRefused):
    """The product has no unit price, or one that is not positive."""

    code = "no_price"


class BelowMinimum(PriceRefused):
    """The net weight is below the scale's minimum (or not positive)."""

    code = "below_minimum"


class AmountTooLarge(PriceRefused):
    """The total does not fit the barcode's amount field."""

    code = "amount_too_large"


class BarcodeRefused(PriceRefused):
    """The product's PLU or weight does not fit the label's barcode layout."""

    code = "barcode_refused"


class CountNeeded(PriceRefused):
    """A by-piece product was chosen without a piece count."""

    code = "count_needed"


class NotByPiece(PriceRefused):
    """A piece count was sent for a product sold by weight."""

    code = "not_by_piece"


def _pricing_error(err: ValueError) -> PriceRefused:
    """The typed refusal for a pricing or barcode error."""
    if isinstance(err, MissingPrice):
        return NoPrice(str(err))
    if isinstance(err, InvalidQuantity):
        return BelowMinimum(str(err))
    if isinstance(err, AmountOverflow):
        return AmountTooLarge(str(err))
    return BarcodeRefused(str(err))


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
    top1: str | None = None


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
    top1: str | None = None  # the model's best guess among the scale's products, shown or not
    unrecognised: bool = False  # recognised, but not confidently enough to show tiles


@dataclass
class Session:
    """One scale's weighing state; feed it with `reading`, `recognised`, `confirm` and `tick`."""

    rules: Rules = field(default_factory=Rules)
    code: BarcodeSpec = field(default_factory=BarcodeSpec)
    phase: Phase = Phase.EMPTY
    grams: int | None = None
    current: Weighing | None = None
    problem: str | None = None
    problem_code: str | None = None  # the code of `problem` (e.g. expired, below_minimum, weight_changed)
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
                self._problem("below_minimum", f"below the minimum weight of {self.rules.min_grams} g")
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
        self, token: int, candidates: list[tuple[str, float]], unsure: bool, model_version: str, now: float,
        *, top1: str | None = None, unrecognised: bool = False,
    ) -> bool:
        """Candidates to show for recognition `token` (none when `unrecognised`); False when it is stale (the item changed meanwhile)."""
        weighing = self.current
        if weighing is None or weighing.token != token or self.phase is not Phase.STABLE:
            return False
        weighing.candidates = () if unrecognised else tuple(Candidate(sku, score) for sku, score in candidates)
        weighing.top1 = top1 if top1 is not None else (candidates[0][0] if candidates else None)
        weighing.unrecognised = unrecognised or not candidates
        weighing.unsure = unsure
        weighing.model_version = model_version
        weighing.offered_at = now
        self.phase = Phase.OFFERED
        self._problem(None, None)
        return True

    def recognition_failed(self, token: int, problem: str, now: float) -> bool:
        """No candidates for `token` (blank frame, no camera, empty gallery): the customer searches instead."""
        weighing = self.current
        if weighing is None or weighing.token != token or self.phase is not Phase.STABLE:
            return False
        weighing.problem = problem
        weighing.unrecognised = True
        weighing.offered_at = now
        self.phase = Phase.OFFERED
        self._problem(None, None)
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
            self._problem("expired", "no choice within the confirmation window")

    def window_left(self, now: float) -> float | None:
        """Seconds left to choose the offered item, or None when nothing is on offer."""
        weighing = self.current
        if self.phase is not Phase.OFFERED or weighing is None or weighing.offered_at is None:
            return None
        return max(0.0, weighing.offered_at + self.rules.confirm_timeout_s - now)

    def cancel(self, now: float) -> None:
        """The customer cancels: the weighing ends without a label; the item stays until lifted (or `restart`)."""
        self.tick(now)
        if self.phase is Phase.CANCELLED:
            return
        self._ensure_settled()
        self.phase = Phase.CANCELLED
        self._problem("cancelled", "cancelled by the customer")

    def restart(self, now: float) -> RecognitionRequest | None:
        """Start again with the item on the platter: a new weighing, recognised anew (None while it is being recognised)."""
        self.tick(now)
        if self.phase is Phase.STABLE:
            return None
        weighing = self._ensure_settled()
        return self._settle(weighing.grams, now)

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
        weighing = self.offered(now)
        if abs(scale_grams + scale_tare_g - weighing.grams) > self.rules.change_grams:
            offered = weighing.grams
            self.current = None
            self.phase = Phase.PLACING  # the next stable reading settles the new item and recognises it
            self._problem("weight_changed", f"weight is now {scale_grams + scale_tare_g} g, the offer was for {offered} g")
            raise WeightChanged(self.problem)
        product = replace(product, plu=plu) if plu is not None else product
        try:
            quote, code = self.price(product, grams=scale_grams, pieces=pieces, tared_by_scale=tared_by_scale)
        except PriceRefused as err:
            self._problem(err.code, str(err))
            raise
        rank = next((i + 1 for i, c in enumerate(weighing.candidates) if c.sku == sku), None)
        self.phase = Phase.CONFIRMED
        self._problem(None, None)
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
            top1=weighing.top1,
        )

    def offered(self, now: float) -> Weighing:
        """The weighing on offer now, or the typed refusal saying why nothing can be sold."""
        self.tick(now)
        weighing = self.current
        if self.phase is Phase.OFFERED and weighing is not None:
            return weighing
        refusal = {Phase.CONFIRMED: AlreadyLabelled, Phase.EXPIRED: Expired, Phase.CANCELLED: Cancelled}.get(self.phase, NotReady)
        raise refusal(f"nothing to confirm (scale is {self.phase.value})")

    def price(self, product: Product, *, grams: int | None, pieces: int | None, tared_by_scale: bool) -> tuple[Quote, str]:
        """The quote and barcode digits for `grams` (by weight) or `pieces` (by piece): what the label, the tile and the screen show."""
        limit = amount_limit_fen(self.code.layout)
        if product.basis == "piece" and pieces is None:
            raise CountNeeded(f"PLU {product.plu} is sold by the piece: give a count")
        if product.basis != "piece" and pieces is not None:
            raise NotByPiece(f"PLU {product.plu} is sold by weight; no piece count")
        try:
            if pieces is not None:
                quote = price_pieces(product, pieces, max_amount_fen=limit)
            else:
                quote = price_weighed(
                    product, grams or 0, tared_by_scale=tared_by_scale, max_amount_fen=limit, min_grams=self.rules.min_grams
                )
            return quote, self._barcode(quote)
        except (ValueError, barcode.BarcodeError) as err:
            raise _pricing_error(err) from err

    def fault(self, problem: str) -> None:
        """The scale stopped giving weights: drop the weighing (no label without a current weight)."""
        if self.phase is not Phase.EMPTY or self.current is not None:
            self._clear()
        self.grams = None
        self._problem("scale_unavailable", problem)

    def unconfirm(self, problem: str, code: str) -> None:
        """The label of a confirmed sale could not be printed: the offer stands again, so the customer may retry."""
        if self.phase is Phase.CONFIRMED:
            self.phase = Phase.OFFERED
            self._problem(code, problem)

    # ----- helpers ------------------------------------------------------------------------
    def _ensure_settled(self) -> Weighing:
        """The settled, unlabelled weighing on the platter (offered, expired, cancelled or recognising), or the refusal."""
        weighing = self.current
        if self.phase is Phase.CONFIRMED:
            raise AlreadyLabelled("the item on the platter is labelled: take it off first")
        if weighing is None or self.phase in (Phase.EMPTY, Phase.PLACING):
            raise NotReady(f"nothing settled on the platter (scale is {self.phase.value})")
        return weighing

    def _problem(self, code: str | None, problem: str | None) -> None:
        """Set (or clear) the current problem and its code together."""
        self.problem_code, self.problem = code, problem

    def _settle(self, grams: int, now: float) -> RecognitionRequest:
        """A new item has settled: remember its weight and ask for exactly one recognition."""
        self._numbers += 1
        self._tokens += 1
        self.current = Weighing(self._numbers, grams, now, self._tokens)
        self.phase = Phase.STABLE
        if self.problem_code != "weight_changed":
            self._problem(None, None)  # "weight changed" stays until the new item is recognised
        return RecognitionRequest(self._tokens, grams)

    def _clear(self) -> None:
        """The platter is empty: any offer is dropped without a label."""
        self.phase = Phase.EMPTY
        self.current = None
        self._problem(None, None)

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
