"""LabelContent / LabelSpec validation and the price strings printed on labels."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest

from edge.esl.prices.render.content import Colours, LabelSpec, format_yuan
from edge.esl.prices.render.errors import LabelContentError, UnsupportedDisplayError
from tests.edge.esl.prices.render.conftest import SAMPLES

APPLE = SAMPLES["by_weight"]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"price": 6.4}, "Decimal"),
        ({"price": Decimal("-1")}, "range"),
        ({"price": Decimal("NaN")}, "finite"),
        ({"price": Decimal("100000")}, "range"),
        ({"unit": "lb"}, "unit"),
        ({"name": "  "}, "name"),
        ({"qr_url": ""}, "qr_url"),
        ({"promo_end": date(2026, 11, 30)}, "promo_end"),
        ({"promo_price": Decimal("-0.5")}, "promo_price"),
    ],
)
def test_bad_content_is_a_typed_error(changes: dict, message: str) -> None:
    """Data that would print a wrong label is refused with LabelContentError, not a crash later."""
    with pytest.raises(LabelContentError, match=message):
        replace(APPLE, **changes)


@pytest.mark.parametrize(
    ("price", "unit", "expected"),
    [
        ("6.40", "500g", "¥6.40/500g · ¥12.80/kg"),
        ("12.80", "kg", "¥12.80/kg · ¥6.40/500g"),
        ("12.81", "kg", "¥12.81/kg · ¥6.41/500g"),
        ("3.5", "piece", "¥3.50/件"),
        ("3.5", "件", "¥3.50/件"),
    ],
)
def test_unit_price_line(price: str, unit: str, expected: str) -> None:
    """By-weight goods also show the other weight unit; rounding is half-up to the fen."""
    assert replace(APPLE, price=Decimal(price), unit=unit).unit_price_line() == expected


def test_promotion_uses_promo_price() -> None:
    """The shown and unit prices follow the promotion; the original price is kept for the strike-through."""
    promo = replace(APPLE, promo_price=Decimal("4.995"))
    assert promo.on_promotion and promo.shown_price == Decimal("5.00")
    assert promo.unit_price_line().startswith("¥5.00/500g")
    assert format_yuan(promo.price) == "¥6.40"


def test_details_skip_missing_fields() -> None:
    """Only the small-print fields that are set appear, origin with its label."""
    assert APPLE.details() == ("Fuji Apple", "约250g/个", "产地: 山东")
    assert replace(APPLE, name_en=None, spec=" ", origin=None).details() == ()


def test_spec_validation() -> None:
    """Unknown colour sets, portrait and tiny displays have no layout."""
    assert LabelSpec(296, 128, "bwr").colours is Colours.BWR
    for args in [(296, 128, "rgb"), (128, 296, "bw"), (212, 104, "bw"), (190, 200, "bw")]:
        with pytest.raises(UnsupportedDisplayError):
            LabelSpec(*args)


def test_spec_from_esl_display_info() -> None:
    """ESL Display Information types map to colour sets; a portrait panel is rendered landscape."""
    assert LabelSpec.from_esl_display(128, 296, 0x06) == LabelSpec(296, 128, Colours.BWR)
    assert LabelSpec.from_esl_display(400, 300, 0x07).colours is Colours.BWY
    assert LabelSpec.from_esl_display(250, 122, 0x01).colours is Colours.BW
    with pytest.raises(UnsupportedDisplayError, match="0x09"):
        LabelSpec.from_esl_display(296, 128, 0x09)
