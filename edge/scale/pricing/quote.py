"""Price a weighed or counted item from the scale's net weight, with one documented rounding step.

Rounding rule (the only one in the price path): ``amount = unit_price × quantity`` computed exactly
in ``Decimal``, where quantity is net grams ÷ the price basis (1000 g for per-kg, 500 g for per-jin)
or the piece count, then rounded **once**, half-up (``ROUND_HALF_UP``), to the fen (0.01 CNY).
The weight itself is never rounded: it is the legal value the scale reported.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

from edge.scale.pricing.barcode import Layout, layout

FEN = Decimal("0.01")
Basis = Literal["kg", "500g", "piece"]
_BASIS_GRAMS = {"kg": Decimal(1000), "500g": Decimal(500)}


class PricingError(ValueError):
    """Base of every refusal to price an item."""


class MissingPrice(PricingError):
    """The product has no unit price configured."""


class InvalidQuantity(PricingError):
    """Net weight or piece count is not positive, or the wrong kind for the product."""


class BelowMinimum(InvalidQuantity):
    """The net weight is below the scale's minimum capacity (Min), where no price may be issued."""


class AmountOverflow(PricingError):
    """The amount does not fit the barcode's amount field; never print a wrapped price."""


@dataclass(frozen=True, slots=True)
class Product:
    """A PLU as priced at the scale: unit price in CNY per basis, and a per-product container tare."""

    plu: int
    name: str
    unit_price: Decimal | None
    basis: Basis = "kg"
    tare_grams: int = 0


@dataclass(frozen=True, slots=True)
class Quote:
    """The priced line that goes on the label, the screen and the sale record alike."""

    plu: int
    name: str
    unit_price: Decimal
    basis: Basis
    net_grams: int | None
    pieces: int | None
    amount: Decimal

    @property
    def amount_fen(self) -> int:
        """The amount in integer fen, as a barcode field carries it."""
        return int(self.amount / FEN)


def amount_limit_fen(layout_: str | Layout) -> int | None:
    """The largest amount a barcode layout can carry, or None when it has no amount field."""
    field = layout(layout_).field("$")
    return None if field is None else field.max_value


def _unit_price(product: Product) -> Decimal:
    """The product's unit price, or a typed refusal when it is missing or not positive."""
    if product.unit_price is None:
        raise MissingPrice(f"PLU {product.plu} has no unit price")
    if product.unit_price <= 0:
        raise MissingPrice(f"PLU {product.plu} has a non-positive unit price {product.unit_price}")
    return product.unit_price


def _round_once(raw: Decimal, max_amount_fen: int | None) -> Decimal:
    """The single half-up rounding to the fen, then the overflow guard."""
    amount = raw.quantize(FEN, rounding=ROUND_HALF_UP)
    if max_amount_fen is not None and amount > Decimal(max_amount_fen) * FEN:
        raise AmountOverflow(f"amount {amount} exceeds {Decimal(max_amount_fen) * FEN}")
    return amount


def price_weighed(
    product: Product,
    grams: int,
    *,
    tared_by_scale: bool = True,
    max_amount_fen: int | None = None,
    min_grams: int = 0,
) -> Quote:
    """Price a by-weight product from the scale's weight in grams.

    With ``tared_by_scale`` (the legal path: the scale applied the product's preset tare) ``grams``
    is already net; otherwise the product's ``tare_grams`` is subtracted here. ``min_grams`` is the
    scale's minimum capacity (Min = 20 e, e.g. 100 g for e = 5 g): no priced label below it.
    """
    if product.basis == "piece":
        raise InvalidQuantity(f"PLU {product.plu} is sold by the piece")
    price = _unit_price(product)
    net = grams if tared_by_scale else grams - product.tare_grams
    if net <= 0:
        raise InvalidQuantity(f"net weight {net} g is not positive")
    if net < min_grams:
        raise BelowMinimum(f"net weight {net} g is below the minimum weighing {min_grams} g")
    amount = _round_once(price * Decimal(net) / _BASIS_GRAMS[product.basis], max_amount_fen)
    return Quote(product.plu, product.name, price, product.basis, net, None, amount)


def price_pieces(product: Product, pieces: int, *, max_amount_fen: int | None = None) -> Quote:
    """Price a by-piece product: unit price × count (exact, then the same single rounding)."""
    if product.basis != "piece":
        raise InvalidQuantity(f"PLU {product.plu} is sold by weight")
    price = _unit_price(product)
    if pieces <= 0:
        raise InvalidQuantity(f"piece count {pieces} is not positive")
    amount = _round_once(price * pieces, max_amount_fen)
    return Quote(product.plu, product.name, price, product.basis, None, pieces, amount)


def money(amount: Decimal) -> str:
    """Yuan as the contract's decimal string with two decimals."""
    return f"{amount:.2f}"


def unit_money(price: Decimal) -> str:
    """A unit price as a decimal string: two decimals, or three for a per-500 g price ending in half a fen (never rounded)."""
    return money(price) if price == price.quantize(FEN) else f"{price.normalize():f}"


def in_unit(price: Decimal, basis: Basis, unit: Basis) -> Decimal:
    """A by-weight unit price per `basis` re-expressed, exactly, per `unit` (kg = 2 × 500 g); by-piece prices are left alone."""
    if basis == "piece" or unit == "piece" or basis == unit:
        return price
    return price * _BASIS_GRAMS[unit] / _BASIS_GRAMS[basis]
