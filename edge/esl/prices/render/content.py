"""What a shelf label shows (`LabelContent`) and what it is shown on (`LabelSpec`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from enum import StrEnum

from edge.esl.prices.render.errors import LabelContentError, UnsupportedDisplayError

_FEN = Decimal("0.01")
MAX_PRICE = Decimal("99999.99")
# Smallest display with room for name, price and a QR code at 2 px per module (e.g. 2.13" 250x122).
MIN_WIDTH, MIN_HEIGHT = 200, 122


class Colours(StrEnum):
    """Ink planes of an e-paper display: black/white, plus red or yellow."""

    BW = "bw"
    BWR = "bwr"
    BWY = "bwy"


# ESL Display Information display_type (SIG assigned numbers) -> colour set.
_ESL_DISPLAY_TYPES = {0x01: Colours.BW, 0x06: Colours.BWR, 0x07: Colours.BWY}

# Accepted unit spellings -> the text printed after the slash.
_UNITS = {"500g": "500g", "kg": "kg", "piece": "件", "件": "件"}


def to_fen(price: Decimal, field: str = "price") -> Decimal:
    """Round a yuan amount to whole fen, rejecting amounts no label can show."""
    if not isinstance(price, Decimal):
        raise LabelContentError(f"{field} must be a Decimal, got {type(price).__name__}")
    if not price.is_finite():
        raise LabelContentError(f"{field} is not a finite amount: {price}")
    try:
        rounded = price.quantize(_FEN, rounding=ROUND_HALF_UP)
    except InvalidOperation as err:  # more digits than the context precision
        raise LabelContentError(f"{field} out of range 0..{MAX_PRICE}: {price}") from err
    if not Decimal(0) <= rounded <= MAX_PRICE:
        raise LabelContentError(f"{field} out of range 0..{MAX_PRICE}: {price}")
    return rounded


def format_yuan(price: Decimal) -> str:
    """Print an already validated amount as on a Chinese price tag, e.g. '¥12.80'."""
    return f"¥{price.quantize(_FEN, rounding=ROUND_HALF_UP)}"


@dataclass(frozen=True)
class LabelContent:
    """One product's label data; prices are Decimal yuan (floats are rejected as lossy)."""

    sku: str
    name: str
    price: Decimal
    unit: str
    qr_url: str
    name_en: str | None = None
    spec: str | None = None
    origin: str | None = None
    promo_price: Decimal | None = None
    promo_end: date | None = None
    promo_base: Decimal | None = None  # the original price struck through: the catalogue's, proven by its history; None: none

    def __post_init__(self) -> None:
        """Reject data that would print a wrong or empty label (a struck-through price must be above the one charged)."""
        if not self.name.strip():
            raise LabelContentError(f"sku {self.sku!r}: empty product name")
        if self.unit not in _UNITS:
            raise LabelContentError(f"sku {self.sku!r}: unknown unit {self.unit!r}, expected one of {sorted(_UNITS)}")
        if not self.qr_url.strip():
            raise LabelContentError(f"sku {self.sku!r}: empty qr_url")
        to_fen(self.price)
        if self.promo_price is not None:
            to_fen(self.promo_price, "promo_price")
        elif self.promo_end is not None or self.promo_base is not None:
            raise LabelContentError(f"sku {self.sku!r}: promo_end or promo_base given without promo_price")
        if self.promo_base is not None and to_fen(self.promo_base, "promo_base") <= self.shown_price:
            raise LabelContentError(f"sku {self.sku!r}: promo_base {self.promo_base} is not above the promotion price")

    @property
    def on_promotion(self) -> bool:
        """True when the label must show the promotion layout."""
        return self.promo_price is not None

    @property
    def shown_price(self) -> Decimal:
        """The price the customer pays now, rounded to fen."""
        return to_fen(self.promo_price if self.promo_price is not None else self.price)

    @property
    def unit_text(self) -> str:
        """The unit as printed after the slash ('500g', 'kg' or '件')."""
        return _UNITS[self.unit]

    def unit_price_line(self) -> str:
        """The unit-price line, with the other weight unit for comparison, e.g. '¥6.40/500g · ¥12.80/kg'."""
        price = self.shown_price
        line = f"{format_yuan(price)}/{self.unit_text}"
        if self.unit == "500g":
            line += f" · {format_yuan(price * 2)}/kg"
        elif self.unit == "kg":
            line += f" · {format_yuan(price / 2)}/500g"
        return line

    def details(self) -> tuple[str, ...]:
        """The small print under the name: English name, spec, origin (whichever are set)."""
        parts = [self.name_en, self.spec, f"产地: {self.origin}" if self.origin else None]
        return tuple(p.strip() for p in parts if p and p.strip())


@dataclass(frozen=True)
class LabelSpec:
    """A display to render for: resolution in pixels (landscape) and its colour set."""

    width: int
    height: int
    colours: Colours = Colours.BW

    def __post_init__(self) -> None:
        """Normalise the colour set and reject sizes no layout covers."""
        try:
            object.__setattr__(self, "colours", Colours(self.colours))
        except ValueError as err:
            raise UnsupportedDisplayError(f"unknown colour set {self.colours!r}") from err
        if self.width < self.height:
            raise UnsupportedDisplayError(
                f"portrait {self.width}x{self.height}: render landscape and let the packer rotate"
            )
        if self.width < MIN_WIDTH or self.height < MIN_HEIGHT:
            raise UnsupportedDisplayError(
                f"{self.width}x{self.height} is too small for a price label with a readable QR code"
                f" (minimum {MIN_WIDTH}x{MIN_HEIGHT})"
            )

    @classmethod
    def from_esl_display(cls, width: int, height: int, display_type: int) -> LabelSpec:
        """Build a spec from an ESL Display Information record (width, height, display_type)."""
        try:
            colours = _ESL_DISPLAY_TYPES[display_type]
        except KeyError as err:
            raise UnsupportedDisplayError(f"ESL display type 0x{display_type:02X} is not supported") from err
        if width < height:
            width, height = height, width
        return cls(width, height, colours)
