"""Pricing: one half-up rounding to the fen, per-kg/per-500 g/per-piece, typed refusals."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.scale.pricing import barcode
from edge.scale.pricing.quote import (
    AmountOverflow,
    BelowMinimum,
    InvalidQuantity,
    MissingPrice,
    Product,
    amount_limit_fen,
    price_pieces,
    price_weighed,
)

APPLES = Product(plu=123, name="苹果", unit_price=Decimal("8.80"), basis="kg", tare_grams=5)


def _reference_fen(price_fen: int, grams: int, basis_grams: int) -> int:
    """Independent half-up rounding with exact fractions: floor(x + 1/2) for x ≥ 0."""
    exact = Fraction(price_fen * grams, basis_grams)
    return int(exact + Fraction(1, 2))


def test_reference_worked_example_rounds_half_up_once() -> None:
    quote = price_weighed(APPLES, 735)
    assert quote.amount == Decimal("6.47") and quote.amount_fen == 647
    assert barcode.build("cn18_amount_weight", prefix=22, item=quote.plu, amount_fen=quote.amount_fen, grams=quote.net_grams) == "220012300647007354"


def test_exact_half_fen_goes_up() -> None:
    product = Product(1, "x", Decimal("1.00"), "kg")
    assert price_weighed(product, 5).amount == Decimal("0.01")  # 0.005 → 0.01
    assert price_weighed(product, 4).amount == Decimal("0.00")


@given(price_fen=st.integers(1, 99_999), grams=st.integers(1, 60_000), basis=st.sampled_from(["kg", "500g"]))
def test_rounding_matches_exact_fraction_reference(price_fen: int, grams: int, basis: str) -> None:
    product = Product(7, "x", Decimal(price_fen) / 100, basis)  # type: ignore[arg-type]
    quote = price_weighed(product, grams)
    assert quote.amount_fen == _reference_fen(price_fen, grams, 1000 if basis == "kg" else 500)
    assert quote.net_grams == grams


def test_per_500g_is_double_per_kg() -> None:
    jin = Product(1, "青菜", Decimal("3.00"), "500g")
    assert price_weighed(jin, 1000).amount == Decimal("6.00")


def test_tare_subtracted_only_when_scale_did_not_tare() -> None:
    assert price_weighed(APPLES, 740, tared_by_scale=False).net_grams == 735
    assert price_weighed(APPLES, 740).net_grams == 740
    with pytest.raises(InvalidQuantity):
        price_weighed(APPLES, 5, tared_by_scale=False)


def test_pieces() -> None:
    eggs = Product(9, "鸡蛋", Decimal("0.85"), "piece")
    assert price_pieces(eggs, 12).amount == Decimal("10.20")
    with pytest.raises(InvalidQuantity):
        price_pieces(eggs, 0)
    with pytest.raises(InvalidQuantity):
        price_weighed(eggs, 100)
    with pytest.raises(InvalidQuantity):
        price_pieces(APPLES, 2)


@pytest.mark.parametrize("grams", [0, -1, -735])
def test_non_positive_weight_is_refused(grams: int) -> None:
    with pytest.raises(InvalidQuantity):
        price_weighed(APPLES, grams)


@pytest.mark.parametrize("price", [None, Decimal(0), Decimal("-1.00")])
def test_missing_price_is_refused(price: Decimal | None) -> None:
    with pytest.raises(MissingPrice):
        price_weighed(Product(1, "x", price), 100)


def test_amount_beyond_barcode_field_is_refused() -> None:
    limit = amount_limit_fen("price")
    assert limit == 99_999
    gold = Product(1, "x", Decimal("999.99"), "kg")
    assert price_weighed(gold, 1000, max_amount_fen=limit).amount_fen == 99_999
    with pytest.raises(AmountOverflow):
        price_weighed(gold, 1001, max_amount_fen=limit)
    assert amount_limit_fen("price_v4") == 9_999
    assert amount_limit_fen("weight") is None


def test_quantize_rule_is_the_documented_one() -> None:
    raw = Decimal("8.80") * Decimal(735) / Decimal(1000)
    assert price_weighed(APPLES, 735).amount == raw.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def test_below_minimum_weighing_is_refused() -> None:
    assert price_weighed(APPLES, 100, min_grams=100).net_grams == 100
    with pytest.raises(BelowMinimum):
        price_weighed(APPLES, 95, min_grams=100)


@given(fen=st.integers(min_value=1, max_value=999_999), grams=st.integers(min_value=1, max_value=15_000))
def test_a_price_in_the_other_weight_unit_charges_the_same_total(fen: int, grams: int) -> None:
    from edge.scale.pricing.quote import in_unit

    per_kg = Decimal(fen) / 100
    per_500g = in_unit(per_kg, "kg", "500g")
    assert per_500g * 2 == per_kg and in_unit(per_500g, "500g", "kg") == per_kg  # exact both ways
    by_kg = price_weighed(Product(1, "x", per_kg, "kg"), grams)
    by_jin = price_weighed(Product(1, "x", per_500g, "500g"), grams)
    assert by_kg.amount == by_jin.amount == Decimal(_reference_fen(fen, grams, 1000)) / 100
    assert in_unit(Decimal("16.90"), "piece", "500g") == Decimal("16.90")


def test_unit_prices_keep_a_half_fen_instead_of_rounding_it() -> None:
    from edge.scale.pricing.quote import in_unit, unit_money

    assert unit_money(in_unit(Decimal("6.98"), "kg", "500g")) == "3.49"
    assert unit_money(in_unit(Decimal("6.99"), "kg", "500g")) == "3.495"
    assert unit_money(in_unit(Decimal("3.30"), "500g", "kg")) == "6.60"
    assert unit_money(Decimal("12")) == "12.00"
