"""What a request sends (query parameters, a JSON body), checked strictly: a mistake is a 400 naming what is wrong, never a 500."""

from __future__ import annotations

import asyncio
import json
import math
import re
from typing import Any

from aiohttp import web

MAX_BODY_BYTES = 64 * 1024  # no route takes more (the scale's tap is under 100 bytes); aiohttp answers 413 beyond
BODY_TIMEOUT_S = 10.0  # a body that trickles in slower than this is dropped (408)
MAX_DEPTH = 16  # nesting of a JSON body: objects and arrays inside each other
MAX_DIGITS = 20  # digits of an integer (Python refuses to parse beyond 4,300; nobody needs more than this)
_INTEGER = re.compile(rf"-?[0-9]{{1,{MAX_DIGITS}}}")  # ASCII digits only: no "+5", " 12", "1_0" or Arabic-Indic digits


class BadQuery(ValueError):
    """A malformed query parameter; the message names it and becomes the 400 reply."""


class BadBody(BadQuery):
    """A malformed request body; `status` is 400, or 408 (too slow) and 413 (too large)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def int_param(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    """An integer query parameter within [low, high]."""
    raw = request.query.get(name)
    if raw is None:
        return default
    if not _INTEGER.fullmatch(raw):
        raise BadQuery(f"{name}: expected an integer, got {raw[:40]!r}")
    value = int(raw)
    if not low <= value <= high:
        raise BadQuery(f"{name}: must be between {low} and {high}")
    return value


def choice_param(request: web.Request, name: str, allowed: tuple[str, ...]) -> str | None:
    """An optional query parameter from a fixed set."""
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    if raw not in allowed:
        raise BadQuery(f"{name}: expected one of {', '.join(allowed)}, got {raw[:40]!r}")
    return raw


def check_params(request: web.Request, allowed: set[str]) -> None:
    """Unknown parameters are mistakes worth reporting (`token` is the access token, always allowed)."""
    unknown = sorted(set(request.query) - allowed - {"token"})
    if unknown:
        raise BadQuery(f"unknown parameter(s): {', '.join(n[:40] for n in unknown[:5])}")


async def json_body(request: web.Request) -> Any:
    """The request's JSON body: `application/json` in UTF-8, received within BODY_TIMEOUT_S, bounded in size and depth, all text encodable."""
    timeout_s = BODY_TIMEOUT_S
    if request.content_type != "application/json" or request.charset not in (None, "utf-8"):
        raise BadBody("body: send Content-Type: application/json (UTF-8)")
    try:
        async with asyncio.timeout(timeout_s):
            raw = await request.read()  # aiohttp refuses more than the app's client_max_size
    except TimeoutError:
        raise BadBody(f"body: not received within {timeout_s:g} s", 408) from None
    except web.HTTPRequestEntityTooLarge:
        raise BadBody(f"body: larger than {MAX_BODY_BYTES} bytes", 413) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadBody("body: not valid UTF-8") from None
    try:
        value = json.loads(text, parse_int=_bounded_int, parse_float=_finite_float, parse_constant=_no_constant)
    except RecursionError:
        raise BadBody(f"body: nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as err:  # JSONDecodeError and our own refusals
        raise BadBody(f"body: not valid JSON ({str(err)[:80]})") from None
    _check_tree(value)
    return value


def _bounded_int(digits: str) -> int:
    """A JSON integer of at most MAX_DIGITS digits."""
    if len(digits.lstrip("-")) > MAX_DIGITS:
        raise ValueError(f"an integer of more than {MAX_DIGITS} digits")
    return int(digits)


def _finite_float(text: str) -> float:
    """A JSON number with a fraction or exponent, finite."""
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:20]} is out of range")
    return value


def _no_constant(name: str) -> Any:
    """NaN and Infinity are not JSON."""
    raise ValueError(f"{name} is not a JSON value")


def _check_tree(value: Any) -> None:
    """Refuse nesting deeper than MAX_DEPTH and text that cannot be encoded (a lone surrogate such as \\ud800)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth >= MAX_DEPTH:
                raise BadBody(f"body: nested deeper than {MAX_DEPTH} levels")
            children = [*item.keys(), *item.values()] if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
        elif isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise BadBody("body: text with a lone surrogate (e.g. \\ud800) cannot be used") from None
