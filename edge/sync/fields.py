"""Strict field types for command arguments, one definition for every job: money, ids, text, dates and times.

Headquarters' requests are parsed from JSON, so every value arrives as a JSON type; these types
accept exactly the documented forms and nothing pydantic's lax mode would coerce. Money is a
string of ASCII digits with at most two decimals (no sign, exponent, separators, spaces or other
digits), a time is RFC 3339 with a zone, a date is `YYYY-MM-DD`. Messages never repeat the value
(it may be huge); the dispatcher prefixes them with the field's path.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, Field, PlainSerializer, PlainValidator
from pydantic_core import PydanticCustomError

#: The one money pattern: 0 … 99999.99 yuan in ASCII digits, no leading zeros, at most two decimals.
MONEY_PATTERN = r"(0|[1-9][0-9]{0,4})(\.[0-9]{1,2})?"
_MONEY = re.compile(MONEY_PATTERN)
_MONEY_EXAMPLE = 'a decimal string such as "12.80"'
_RFC3339 = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,9}))?([Zz]|[+-][0-9]{2}:[0-9]{2})?"
)
_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_LONGEST_TIME = 40

#: Product key: the catalogue's SKU pattern.
SKU_PATTERN = r"^[A-Za-z0-9._-]{1,32}$"
#: Ids chosen by headquarters or by devices (orders, labels): printable ASCII without spaces or quotes.
ID_PATTERN = r"^[A-Za-z0-9._:-]{1,64}$"
#: Names of places on the store map (runs, endcaps), as `[esl.map]` writes them.
PLACE_PATTERN = r"^[A-Za-z0-9._-]{1,32}$"


def _json_kind(value: Any) -> str:
    """What JSON type `value` came as, for messages that say what was wrong without echoing it."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return {str: "string", list: "array", dict: "object", type(None): "null"}.get(type(value), type(value).__name__)


def _money_problem(text: str) -> str:
    """Why a string is not money, in the words of the documented pattern."""
    if text[:1] in ("-", "+"):
        return "must be between 0 and 99999.99, written without a sign"
    if re.fullmatch(r"0[0-9]+(\.[0-9]*)?", text):
        return "no leading zeros"
    if re.fullmatch(r"[0-9]+\.[0-9]{3,}", text):
        return "at most two decimals (fen)"
    if re.fullmatch(r"[0-9]{6,}(\.[0-9]{1,2})?", text):
        return "must be between 0 and 99999.99"
    return f"must be {_MONEY_EXAMPLE}: ASCII digits, at most two decimals, no sign, exponent, separators or spaces"


def parse_money(value: Any) -> Decimal:
    """A money string as a Decimal; a Decimal made by our own code passes as it is."""
    if isinstance(value, Decimal) and value.is_finite() and _MONEY.fullmatch(f"{value:f}"):
        return value
    if not isinstance(value, str):
        raise PydanticCustomError("money_type", f"must be {_MONEY_EXAMPLE}, not a JSON {_json_kind(value)}")
    if len(value) > 8 or not _MONEY.fullmatch(value):
        raise PydanticCustomError("money", _money_problem(value[:16]))
    return Decimal(value)


def _offset(text: str) -> timezone:
    """`Z` or `±HH:MM` as a fixed zone."""
    if text in ("Z", "z"):
        return UTC
    hours, minutes = int(text[1:3]), int(text[4:6])
    if hours > 23 or minutes > 59:
        raise ValueError("zone offset out of range")
    delta = timedelta(hours=hours, minutes=minutes)
    return timezone(-delta if text[0] == "-" else delta)


def parse_timestamp(value: Any) -> datetime:
    """An RFC 3339 time with a zone, as an aware UTC datetime; our own aware datetimes pass as they are."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise PydanticCustomError("timestamp_zone", "must include a time zone")
        return value.astimezone(UTC)
    if not isinstance(value, str):
        raise PydanticCustomError(
            "timestamp_type", f"must be an RFC 3339 string such as \"2026-11-25T12:00:00Z\", not a JSON {_json_kind(value)}"
        )
    found = _RFC3339.fullmatch(value) if len(value) <= _LONGEST_TIME else None
    if found is None:
        raise PydanticCustomError("timestamp", "must be an RFC 3339 time such as \"2026-11-25T12:00:00Z\"")
    if found.group(8) is None:
        raise PydanticCustomError("timestamp_zone", "must include a time zone (RFC 3339, e.g. 2026-11-25T12:00:00Z)")
    year, month, day, hour, minute, second = (int(found.group(n)) for n in range(1, 7))
    micro = int((found.group(7) or "0").ljust(6, "0")[:6])
    try:
        return datetime(year, month, day, hour, minute, second, micro, tzinfo=_offset(found.group(8))).astimezone(UTC)
    except (ValueError, OverflowError) as err:
        raise PydanticCustomError("timestamp_range", "not a real time: {problem}", {"problem": str(err)}) from err


def parse_date(value: Any) -> date:
    """A `YYYY-MM-DD` string (a calendar date); our own date objects pass as they are."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise PydanticCustomError("date_type", f"must be a date string such as \"2026-11-25\", not a JSON {_json_kind(value)}")
    found = _DATE.fullmatch(value) if len(value) == 10 else None
    if found is None:
        raise PydanticCustomError("date", "must be a date such as \"2026-11-25\" (YYYY-MM-DD)")
    try:
        return date(int(found.group(1)), int(found.group(2)), int(found.group(3)))
    except ValueError as err:
        raise PydanticCustomError("date_range", "not a real date: {problem}", {"problem": str(err)}) from err


def _printable(value: str) -> str:
    """Text shown on labels, scales and screens carries no control characters."""
    if not value.isprintable() and any(unicodedata.category(c) == "Cc" for c in value):
        raise PydanticCustomError("text_control", "must not contain control characters")
    return value


def _iso_z(value: datetime) -> str:
    """The contract's UTC form with a `Z`."""
    return value.isoformat().replace("+00:00", "Z")


Money = Annotated[Decimal, PlainValidator(parse_money), PlainSerializer(lambda v: f"{v:.2f}", return_type=str)]
Timestamp = Annotated[datetime, PlainValidator(parse_timestamp), PlainSerializer(_iso_z, return_type=str)]
Date = Annotated[date, PlainValidator(parse_date), PlainSerializer(lambda v: v.isoformat(), return_type=str)]
Sku = Annotated[str, Field(pattern=SKU_PATTERN)]
StrictId = Annotated[str, Field(pattern=ID_PATTERN)]
PlaceName = Annotated[str, Field(pattern=PLACE_PATTERN)]
#: Marks free text (bounded with Field(max_length=...)) that must carry no control characters.
Printable = AfterValidator(_printable)
