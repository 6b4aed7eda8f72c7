"""A raw request from headquarters made safe to handle: size, nesting, numbers and text bounded before any handler sees it.

Everything a sender can put in a payload is checked here once, so no handler, log line or reply
meets a value Python cannot encode or a structure that exhausts the stack: the payload size,
its nesting depth, object keys, integers beyond I-JSON's exact range (RFC 7493; this also
stops integers of thousands of digits), non-finite numbers and lone surrogates (`"\\ud800"`).
Problems become `invalid_payload` messages naming where in the request they are.
"""

from __future__ import annotations

import json
import math
import re
import sys
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError


@dataclass(frozen=True)
class Limits:
    """The bounds every request and reply is held to (documented in docs/mqtt-api.md, "Limits")."""

    payload_bytes: int = 16 * 1024 * 1024
    depth: int = 32
    values: int = 500_000  # JSON values in one request (a 10,000-product upsert has about 150,000)
    key_chars: int = 64
    id_chars: int = 64
    problems_listed: int = 20
    problem_chars: int = 300
    reply_bytes: int = 1024 * 1024
    log_chars: int = 500
    prepare_s: float = 30.0
    #: A message redelivered this many times without being answered is a dead letter.
    redeliveries: int = 3
    #: Payloads larger than this are parsed and validated on a worker thread, not on the loop (a few
    #: bytes per item can make thousands of validation errors: 30 kB of `{}` items cost 0.4 s).
    inline_bytes: int = 1024


#: Largest integer magnitude JSON implementations agree on (I-JSON, RFC 7493 §2.2).
MAX_SAFE_INT = 2**53 - 1
_SURROGATE = re.compile("[\ud800-\udfff]")


class PayloadError(Exception):
    """The payload cannot be used at all: answered `invalid_payload` with id null."""


def clip(text: str, limit: int) -> str:
    """At most `limit` characters of `text`, saying how long it was when cut."""
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


def _refuse_constant(name: str) -> Any:
    """`NaN`, `Infinity` and `-Infinity` are not JSON (RFC 8259), whatever Python's parser allows."""
    raise PayloadError(f"not JSON: {name} is not a JSON number")


def _path(chain: tuple[Any, ...] | None) -> str:
    """`items[3].name` from the walk's linked (parent, key) chain."""
    parts: list[Any] = []
    while chain is not None:
        chain, key = chain
        parts.append(key)
    out = ""
    for part in reversed(parts):
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(request)"


def _unencodable(text: str) -> bool:
    """True for text holding a lone surrogate, which UTF-8 (and so MQTT, SQLite and the log) cannot carry."""
    return not text.isascii() and _SURROGATE.search(text) is not None


def check_tree(body: Any, limits: Limits) -> str | None:
    """The first problem in a parsed request's values, or None; iterative, so depth costs no stack."""
    stack: list[tuple[Any, tuple[Any, ...] | None, int]] = [(body, None, 0)]
    counted = 1
    while stack:
        value, chain, depth = stack.pop()
        if isinstance(value, (dict, list)):
            counted += len(value)
            if counted > limits.values:
                return f"more than {limits.values} values in one request (the limit)"
        if isinstance(value, str):
            if _unencodable(value):
                return f"{_path(chain)}: text is not valid Unicode (a lone surrogate such as \\ud800)"
        elif isinstance(value, dict):
            if depth >= limits.depth:
                return f"{_path(chain)}: nested deeper than {limits.depth} levels (the limit)"
            for key, item in value.items():
                if len(key) > limits.key_chars:
                    return f"{_path(chain)}: a key of {len(key)} characters (the limit is {limits.key_chars})"
                if _unencodable(key):
                    return f"{_path(chain)}: a key that is not valid Unicode (a lone surrogate)"
                stack.append((item, (chain, key), depth + 1))
        elif isinstance(value, list):
            if depth >= limits.depth:
                return f"{_path(chain)}: nested deeper than {limits.depth} levels (the limit)"
            stack.extend((item, (chain, index), depth + 1) for index, item in enumerate(value))
        elif isinstance(value, bool) or value is None:
            continue
        elif isinstance(value, int):
            if not -MAX_SAFE_INT <= value <= MAX_SAFE_INT:
                return f"{_path(chain)}: integer outside ±{MAX_SAFE_INT} (I-JSON's exact range)"
        elif isinstance(value, float) and not math.isfinite(value):
            return f"{_path(chain)}: number too large"
    return None


def parse_request(payload: bytes, limits: Limits) -> tuple[str, dict[str, Any]]:
    """The request's id and its arguments; PayloadError when the payload is unusable."""
    if len(payload) > limits.payload_bytes:
        raise PayloadError(f"payload of {len(payload)} bytes is over the limit of {limits.payload_bytes} bytes")
    try:
        text = payload.decode("utf-8")  # RFC 8259 §8.1: JSON exchanged between systems is UTF-8, nothing else
    except UnicodeDecodeError as err:
        raise PayloadError(f"not UTF-8: {err.reason} at byte {err.start}") from err
    try:
        body = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError as err:
        raise PayloadError(f"nested deeper than {limits.depth} levels (the limit)") from err
    except json.JSONDecodeError as err:
        raise PayloadError(f"not JSON: {err.msg} at line {err.lineno} column {err.colno}") from err
    except ValueError as err:  # int_max_str_digits: an integer of thousands of digits
        raise PayloadError(f"an integer of more than {sys.get_int_max_str_digits()} digits") from err
    if not isinstance(body, dict):
        raise PayloadError("request must be a JSON object")
    problem = check_tree(body, limits)
    if problem is not None:
        raise PayloadError(problem)
    request_id = body.get("id")
    if not isinstance(request_id, str) or not 1 <= len(request_id) <= limits.id_chars:
        raise PayloadError(f"id: must be a string of 1-{limits.id_chars} characters")
    return request_id, {k: v for k, v in body.items() if k != "id"}


def _field_path(loc: tuple[Any, ...], limits: Limits) -> str:
    """`items[0].price` from pydantic's ('items', 0, 'price')."""
    out = ""
    for part in loc:
        part = part if isinstance(part, int) else clip(str(part), limits.key_chars)
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out or "(arguments)"


def describe_validation(err: ValidationError, limits: Limits) -> str:
    """A human message naming the offending fields, as the contract asks: the first few problems and how many more."""
    parts = []
    for e in err.errors(include_url=False, include_context=False, include_input=False)[: limits.problems_listed]:
        msg = "unknown field" if e["type"] == "extra_forbidden" else e["msg"]
        parts.append(clip(f"{_field_path(tuple(e['loc']), limits)}: {msg}", limits.problem_chars))
    more = err.error_count() - len(parts)
    return "; ".join(parts) + (f"; and {more} more problems ({len(parts)} shown)" if more > 0 else "")
