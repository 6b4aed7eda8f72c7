"""Raw payloads made safe before any handler sees them: size, nesting, numbers, surrogates, keys (pure, no broker)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from edge.catalog import UpsertArgs
from edge.sync.requests import Limits, PayloadError, describe_validation, parse_request

LIMITS = Limits()


def _refused(payload: bytes) -> str:
    with pytest.raises(PayloadError) as caught:
        parse_request(payload, LIMITS)
    return str(caught.value)


@pytest.mark.parametrize(
    ("payload", "words"),
    [
        (b'{"id": "a", "x": ' + b"[" * 5000 + b"]" * 5000 + b"}", "nested deeper than 32 levels"),
        (b'{"id": "a", "x": ' + b"[" * 1000 + b"]" * 1000 + b"}", "nested deeper than 32 levels"),
        (b'{"id": "a", "x": ' + b'{"k": ' * 40 + b"1" + b"}" * 40 + b"}", "x.k.k.k"),
        (b'{"id": "a", "count": ' + b"7" * 5000 + b"}", "more than 4300 digits"),
        (b'{"id": "a", "count": 9007199254740992}', "count: integer outside"),
        (b'{"id": "a", "count": 1e999}', "count: number too large"),
        (b'{"id": "a", "count": NaN}', "NaN is not a JSON number"),
        (b'{"id": "a", "count": -Infinity}', "-Infinity is not a JSON number"),
        (b'{"id": "\\ud800"}', "id: text is not valid Unicode"),
        (b'{"id": "a", "items": [{"name": "x\\udfff"}]}', "items[0].name: text is not valid Unicode"),
        (b'{"id": "a", "\\ud800": 1}', "key that is not valid Unicode"),
        (b'{"id": "a", "' + b"k" * 100_000 + b'": 1}', "a key of 100000 characters"),
        (b"\xff\xfe{}", "not UTF-8"),
        (b"{not json", "not JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b'{"count": 1}', "id: must be a string of 1-64 characters"),
        (b'{"id": "' + b"i" * 65 + b'"}', "id: must be a string of 1-64 characters"),
        (b'{"id": 7}', "id: must be a string"),
    ],
)
def test_unusable_payloads_are_refused_with_a_bounded_reason(payload: bytes, words: str) -> None:
    problem = _refused(payload)
    assert words in problem and len(problem) < 300, problem


def test_payload_size_is_checked_before_parsing() -> None:
    small = Limits(payload_bytes=1000)
    with pytest.raises(PayloadError, match="payload of 1001 bytes is over the limit of 1000 bytes"):
        parse_request(b" " * 1001, small)


def test_the_number_of_values_is_bounded() -> None:
    many = b'{"id": "a", "x": [' + b",".join([b"0"] * 500_001) + b"]}"
    assert _refused(many) == "more than 500000 values in one request (the limit)"
    assert parse_request(b'{"id": "a", "x": [' + b",".join([b"0"] * 499_990) + b"]}", LIMITS)[0] == "a"


def test_deep_but_allowed_and_ordinary_requests_pass() -> None:
    nested = {"id": "ok", "x": json.loads("[" * 31 + "]" * 31)}
    assert parse_request(json.dumps(nested).encode(), LIMITS)[0] == "ok"
    request_id, args = parse_request('{"id": "9f1c2e", "items": [{"sku": "6901234567892", "price": "12.80", "name": "牛奶"}]}'.encode(), LIMITS)
    assert request_id == "9f1c2e" and args == {"items": [{"sku": "6901234567892", "price": "12.80", "name": "牛奶"}]}


@settings(max_examples=300)
@given(st.binary(max_size=200) | st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")))
def test_parse_never_raises_anything_but_payload_error(payload: bytes) -> None:
    try:
        request_id, args = parse_request(payload, LIMITS)
    except PayloadError:
        return
    assert json.dumps({"id": request_id, **args}, ensure_ascii=False).encode("utf-8")  # encodable all the way


def test_a_huge_invalid_batch_is_described_in_a_bounded_message() -> None:
    items = [{"sku": "bad sku", "name": "x" * 70, "price": 1} for _ in range(10_000)]
    with pytest.raises(ValidationError) as caught:
        UpsertArgs.model_validate({"items": items})
    message = describe_validation(caught.value, LIMITS)
    assert message.startswith("items[0].sku: ") and message.endswith("; and 29980 more problems (20 shown)")
    assert len(message) < 4000
