"""The weighing session as a pure state machine: time is passed in, no devices, no sleeping."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.scale.pricing import barcode
from edge.scale.pricing.quote import Product
from edge.scale.weighing.session import (
    AlreadyLabelled,
    AmountTooLarge,
    BarcodeSpec,
    Cancelled,
    CountNeeded,
    Expired,
    NoPrice,
    NotByPiece,
    NotReady,
    Phase,
    PriceRefused,
    Rules,
    Session,
    WeightChanged,
)

APPLE = Product(10001, "红富士苹果", Decimal("13.80"), "kg")
JUICE = Product(10030, "橙汁 1L", Decimal("16.90"), "piece")


def offered(session: Session, grams: int, now: float = 0.0, candidates=(("apple", 0.8), ("pear", 0.5))) -> int:
    """Place an item, settle it and answer its one recognition; returns the token."""
    assert session.reading(grams // 2, False, now) is None
    request = session.reading(grams, True, now + 0.5)
    assert request is not None and request.grams == grams
    assert session.recognised(request.token, list(candidates), False, "m1", now + 0.52)
    return request.token


def test_empty_placing_stable_offered_confirmed_removed() -> None:
    session = Session(Rules(min_grams=40, division_g=5, change_divisions=4, confirm_timeout_s=30))
    assert session.phase is Phase.EMPTY
    assert session.reading(120, False, 0.0) is None
    assert session.phase is Phase.PLACING
    request = session.reading(735, True, 1.0)
    assert request is not None and session.phase is Phase.STABLE
    assert session.reading(735, True, 1.1) is None  # recognise ONCE per settled item
    assert session.reading(740, True, 1.2) is None  # a division of jitter is the same item
    assert session.recognised(request.token, [("apple", 0.9), ("pear", 0.4)], False, "m1", 1.03)
    assert session.phase is Phase.OFFERED
    sale = session.confirm(APPLE, "apple", scale_grams=735, pieces=None, now=3.03)
    assert session.phase is Phase.CONFIRMED
    expected = (Decimal("13.80") * 735 / 1000).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    assert sale.quote.amount == expected and sale.grams == 735 and sale.rank == 1
    assert sale.settle_to_candidates_ms == pytest.approx(30.0) and sale.candidates_to_confirm_ms == pytest.approx(2000.0)
    parsed = barcode.parse(sale.code, "price")
    assert (parsed.prefix, parsed.item, parsed.amount_fen) == (20, 10001, int(expected * 100))
    assert session.reading(900, True, 4.0) is None and session.phase is Phase.CONFIRMED  # interlock until cleared
    with pytest.raises(AlreadyLabelled):
        session.confirm(APPLE, "apple", scale_grams=900, pieces=None, now=4.1)
    session.reading(0, True, 5.0)
    assert session.phase is Phase.EMPTY and session.current is None


def test_item_change_re_recognises_and_drops_the_stale_answer() -> None:
    session = Session(Rules(division_g=5, change_divisions=4))
    first = offered(session, 500)
    second = session.reading(1500, True, 2.0)
    assert second is not None and second.token != first and session.phase is Phase.STABLE
    assert not session.recognised(first, [("apple", 0.9)], False, "m1", 2.01)  # answer for the old item
    assert session.recognised(second.token, [("melon", 0.9)], False, "m1", 2.02)
    assert [c.sku for c in session.current.candidates] == ["melon"]
    assert session.reading(1500 + 20, True, 2.5) is None  # 4 divisions: same item
    assert session.reading(1500 + 25, True, 2.6) is not None  # 5 divisions: a new item


def test_unconfirmed_offer_expires_without_label() -> None:
    session = Session(Rules(confirm_timeout_s=10))
    offered(session, 700, now=0.0)
    session.tick(10.0)
    assert session.phase is Phase.OFFERED
    session.tick(10.6)
    assert session.phase is Phase.EXPIRED and session.problem_code == "expired"
    with pytest.raises(Expired):
        session.confirm(APPLE, "apple", scale_grams=700, pieces=None, now=10.7)
    assert session.reading(700, True, 11.0) is None  # the same item does not come back by itself
    assert session.reading(1200, True, 12.0) is not None  # another item does


def test_removal_during_offer_ends_it() -> None:
    session = Session()
    offered(session, 700)
    session.reading(0, False, 3.0)
    assert session.phase is Phase.EMPTY
    with pytest.raises(NotReady):
        session.confirm(APPLE, "apple", scale_grams=0, pieces=None, now=3.1)


def test_below_minimum_is_not_recognised() -> None:
    session = Session(Rules(min_grams=40, division_g=2))
    assert session.reading(30, True, 0.0) is None
    assert session.phase is Phase.PLACING and "minimum" in (session.problem or "")
    assert session.reading(None, False, 0.1) is None  # overload / non-integer weight: nothing to sell
    assert session.reading(42, True, 0.2) is not None


def test_by_piece_product() -> None:
    session = Session()
    offered(session, 1040, candidates=(("juice", 0.9),))
    sale = session.confirm(JUICE, "juice", scale_grams=1040, pieces=3, now=2.0)
    assert sale.quote.amount == Decimal("50.70") and sale.quote.pieces == 3 and sale.quote.net_grams is None
    assert barcode.parse(sale.code, "price").amount_fen == 5070


def test_piece_count_for_a_weighed_product_is_refused() -> None:
    session = Session()
    offered(session, 700)
    with pytest.raises(NotByPiece):
        session.confirm(APPLE, "apple", scale_grams=700, pieces=2, now=2.0)


def test_product_without_price_is_refused_and_the_offer_stays() -> None:
    session = Session()
    offered(session, 700)
    for price in (None, Decimal("0")):
        with pytest.raises(NoPrice):
            session.confirm(Product(10001, "苹果", price, "kg"), "apple", scale_grams=700, pieces=None, now=2.0)
    assert session.phase is Phase.OFFERED
    assert session.confirm(APPLE, "apple", scale_grams=700, pieces=None, now=2.1).quote.amount == Decimal("9.66")


def test_amount_beyond_the_barcode_is_refused() -> None:
    session = Session(Rules(), BarcodeSpec("price_v4", 20))  # 4-digit amount: at most 99.99
    offered(session, 5000)
    with pytest.raises(AmountTooLarge):
        session.confirm(Product(10001, "牛排", Decimal("98.00"), "kg"), "beef", scale_grams=5000, pieces=None, now=2.0)
    assert session.phase is Phase.OFFERED


def test_weight_changed_at_confirm_refuses_and_recognises_again() -> None:
    session = Session(Rules(division_g=5, change_divisions=4))
    offered(session, 700)
    with pytest.raises(WeightChanged):
        session.confirm(APPLE, "apple", scale_grams=1300, pieces=None, now=2.0)
    assert session.phase is Phase.PLACING and session.problem_code == "weight_changed"
    request = session.reading(1300, True, 2.2)
    assert request is not None  # the new item gets its own recognition
    assert session.problem_code == "weight_changed"  # said until the new item is offered
    assert session.recognised(request.token, [("pear", 0.7)], False, "m1", 2.3)
    assert session.problem_code is None and [c.sku for c in session.current.candidates] == ["pear"]


def test_failed_recognition_still_allows_a_searched_choice() -> None:
    session = Session()
    request = session.reading(700, True, 0.0)
    assert session.recognition_failed(request.token, "blank frame", 0.1)
    assert session.phase is Phase.OFFERED and session.current.problem == "blank frame"
    sale = session.confirm(APPLE, "apple", scale_grams=700, pieces=None, now=1.0)
    assert sale.rank is None and sale.candidates == ()


def test_fault_drops_the_weighing() -> None:
    session = Session()
    offered(session, 700)
    session.fault("scale unhealthy")
    assert session.phase is Phase.EMPTY and session.problem == "scale unhealthy" and session.problem_code == "scale_unavailable"
    with pytest.raises(NotReady):
        session.confirm(APPLE, "apple", scale_grams=700, pieces=None, now=2.0)


def test_by_piece_product_needs_a_count() -> None:
    session = Session()
    offered(session, 1040, candidates=(("juice", 0.9),))
    with pytest.raises(CountNeeded):
        session.confirm(JUICE, "juice", scale_grams=1040, pieces=None, now=2.0)
    assert session.phase is Phase.OFFERED
    assert session.confirm(JUICE, "juice", scale_grams=1040, pieces=2, now=2.1).quote.amount == Decimal("33.80")


def test_cancel_ends_the_weighing_until_the_item_changes_or_restarts() -> None:
    session = Session(Rules(confirm_timeout_s=10))
    with pytest.raises(NotReady):
        session.cancel(0.0)  # nothing on the platter
    offered(session, 700, now=0.0)
    session.cancel(1.0)
    assert session.phase is Phase.CANCELLED and session.problem_code == "cancelled"
    with pytest.raises(Cancelled):
        session.confirm(APPLE, "apple", scale_grams=700, pieces=None, now=1.1)
    assert session.reading(700, True, 1.5) is None and session.phase is Phase.CANCELLED  # the same item stays cancelled
    request = session.restart(2.0)
    assert request is not None and request.grams == 700 and session.phase is Phase.STABLE and session.current.number == 2
    assert session.recognised(request.token, [("apple", 0.8)], False, "m1", 2.1)
    assert session.window_left(3.1) == pytest.approx(9.0)
    assert session.confirm(APPLE, "apple", scale_grams=700, pieces=None, now=3.2).weighing == 2
    with pytest.raises(AlreadyLabelled):
        session.restart(4.0)
    with pytest.raises(AlreadyLabelled):
        session.cancel(4.0)
    session.reading(0, True, 5.0)
    assert session.phase is Phase.EMPTY


def test_an_expired_offer_restarts_with_a_new_window() -> None:
    session = Session(Rules(confirm_timeout_s=10))
    offered(session, 700, now=0.0)
    session.tick(11.0)
    assert session.phase is Phase.EXPIRED and session.window_left(11.0) is None
    request = session.restart(12.0)
    assert request is not None and session.problem_code is None
    assert session.recognised(request.token, [("apple", 0.8)], False, "m1", 12.1)
    assert session.window_left(12.1) == pytest.approx(10.0)
    assert session.confirm(APPLE, "apple", scale_grams=700, pieces=None, now=21.0).quote.amount == Decimal("9.66")


def test_an_unrecognised_load_offers_no_tiles_but_keeps_the_guess() -> None:
    session = Session()
    request = session.reading(700, True, 0.0)
    assert session.recognised(request.token, [("apple", 0.3)], True, "m1", 0.1, unrecognised=True)
    assert session.phase is Phase.OFFERED and session.current.candidates == () and session.current.top1 == "apple"
    sale = session.confirm(APPLE, "apple", scale_grams=700, pieces=None, now=1.0)
    assert sale.rank is None and sale.top1 == "apple"


@given(
    grams=st.integers(min_value=40, max_value=15_000),
    fen=st.integers(min_value=1, max_value=99_999),
    basis=st.sampled_from(["kg", "500g"]),
    layout=st.sampled_from(["price", "price_v5", "cn18_amount_weight", "weight"]),
)
def test_label_digits_carry_the_exact_price(grams: int, fen: int, basis: str, layout: str) -> None:
    price = Decimal(fen) / 100
    session = Session(Rules(min_grams=40), BarcodeSpec(layout, 21))
    offered(session, grams)
    exact = price * grams / (1000 if basis == "kg" else 500)
    amount = exact.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    product = Product(4321, "x", price, basis)  # type: ignore[arg-type]
    lay = barcode.layout(layout)
    amount_field = lay.field("$")
    if amount_field is not None and amount * 100 > amount_field.max_value:
        with pytest.raises(PriceRefused):
            session.confirm(product, "x", scale_grams=grams, pieces=None, now=2.0)
        return
    sale = session.confirm(product, "x", scale_grams=grams, pieces=None, now=2.0)
    assert sale.quote.amount == amount
    parsed = barcode.parse(sale.code, lay)
    assert parsed.item == 4321 and parsed.prefix == 21
    if amount_field is not None:
        assert parsed.amount_fen == int(amount * 100)
    if lay.field("W") is not None:
        assert parsed.grams == grams
