"""The strict field types every command uses: money, ints and bools, times, dates, ids and text (pure, no broker)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Annotated

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import Field, ValidationError

from edge.sync.commands import Args
from edge.sync.fields import Date, Money, Printable, Sku, StrictId, Timestamp
from edge.sync.requests import Limits, describe_validation


class Sample(Args):
    """Every kind of strict field, as commands declare them."""

    price: Money | None = None
    count: Annotated[int, Field(ge=0, le=10_000)] = 0
    flag: bool = False
    at: Timestamp | None = None
    day: Date | None = None
    sku: Sku | None = None
    order_id: StrictId | None = None
    name: Annotated[str, Field(max_length=64), Printable] = ""


def _problem(**values: object) -> str:
    with pytest.raises(ValidationError) as caught:
        Sample.model_validate(values)
    return describe_validation(caught.value, Limits())


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("-0", "without a sign"),
        ("+5", "without a sign"),
        ("-1", "between 0 and 99999.99"),
        ("1e3", "ASCII digits"),
        ("1_0.5", "ASCII digits"),
        ("١٢.٥", "ASCII digits"),  # Arabic-Indic digits: Decimal() would take them
        ("１２", "ASCII digits"),  # full-width digits
        (" 12.80 ", "ASCII digits"),
        ("12.80\n", "ASCII digits"),
        ("12.", "ASCII digits"),
        (".5", "ASCII digits"),
        ("NaN", "ASCII digits"),
        ("Infinity", "ASCII digits"),
        ("012.80", "leading zeros"),
        ("12.805", "two decimals"),
        ("100000", "between 0 and 99999.99"),
        ("9" * 5000, "between 0 and 99999.99"),
        (12.8, "not a JSON number"),
        (12, "not a JSON number"),
        (True, "not a JSON boolean"),
        ([], "not a JSON array"),
    ],
)
def test_money_is_one_documented_pattern(value: object, words: str) -> None:
    message = _problem(price=value)
    assert message.startswith("price: ") and words in message, message
    assert len(message) < 200  # never echoes the value


@pytest.mark.parametrize("value", ["0", "0.5", "0.00", "7", "12.8", "12.80", "99999.99"])
def test_money_accepts_the_documented_forms(value: str) -> None:
    assert Sample.model_validate({"price": value}).price == Decimal(value)


@given(st.decimals(min_value=0, max_value=Decimal("99999.99"), places=2, allow_nan=False, allow_infinity=False))
def test_any_amount_written_with_two_decimals_is_accepted_unchanged(amount: Decimal) -> None:
    text = f"{amount:.2f}"
    parsed = Sample.model_validate({"price": text}).price
    assert parsed == amount and f"{parsed:.2f}" == text
    assert Sample.model_validate({"price": text}).model_dump(mode="json")["price"] == text


@given(st.text(max_size=12))
def test_whatever_is_accepted_as_money_is_plain_digits(text: str) -> None:
    try:
        parsed = Sample.model_validate({"price": text}).price
    except ValidationError:
        return
    assert parsed is not None and parsed.is_finite() and Decimal(0) <= parsed <= Decimal("99999.99")
    assert text.isascii() and set(text) <= set("0123456789.") and parsed.as_tuple().sign == 0


@pytest.mark.parametrize(("field", "value"), [("count", "5"), ("count", 5.0), ("count", True), ("flag", "yes"), ("flag", 1), ("flag", "true")])
def test_ints_and_bools_are_strict(field: str, value: object) -> None:
    message = _problem(**{field: value})
    assert message.startswith(f"{field}: Input should be a valid")


def test_times_need_rfc3339_with_a_zone() -> None:
    parsed = Sample.model_validate({"at": "2026-11-25T20:00:00.123456789+08:00"}).at
    assert parsed == datetime(2026, 11, 25, 12, 0, 0, 123456, tzinfo=UTC)
    assert Sample.model_validate({"at": "2026-11-25t12:00:00z"}).at == datetime(2026, 11, 25, 12, tzinfo=UTC)
    assert "time zone" in _problem(at="2026-11-25T12:00:00")
    assert "not a JSON number" in _problem(at=1764072000)  # a Unix time is not RFC 3339
    assert "RFC 3339" in _problem(at="2026-11-25 12:00:00Z")
    assert "RFC 3339" in _problem(at="2026-11-25T12:00Z")
    assert "not a real time" in _problem(at="2026-02-30T00:00:00Z")
    assert "not a real time" in _problem(at="2026-11-25T12:00:00+24:00")
    # our own code may pass aware datetimes; they come out in UTC
    own = Sample(at=datetime(2026, 1, 1, 8, tzinfo=timezone(timedelta(hours=8)))).at
    assert own == datetime(2026, 1, 1, tzinfo=UTC) and own.tzinfo == UTC


def test_dates_are_yyyy_mm_dd_strings() -> None:
    assert Sample.model_validate({"day": "2026-11-25"}).day == date(2026, 11, 25)
    assert Sample(day=date(2026, 1, 2)).day == date(2026, 1, 2)
    assert "not a JSON number" in _problem(day=20261125)
    assert "YYYY-MM-DD" in _problem(day="25/11/2026")
    assert "not a real date" in _problem(day="2026-13-01")


def test_ids_and_text_are_bounded_and_never_echoed() -> None:
    huge = "x" * 100_000
    for field in ("sku", "order_id", "name"):
        message = _problem(**{field: huge})
        assert message.startswith(f"{field}: ") and huge[:100] not in message and len(message) < 200
    assert "control characters" in _problem(name="牛奶\x00")
    assert Sample.model_validate({"name": "伊利纯牛奶 250ml\u3000特价"}).name.endswith("特价")
    assert _problem(order_id="WEB 1001").startswith("order_id: String should match pattern")
