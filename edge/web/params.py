"""Query-string parameters of the JSON API, checked strictly: a mistake is a 400 naming the parameter, never a 500."""

from __future__ import annotations

from aiohttp import web


class BadQuery(ValueError):
    """A malformed query parameter; the message names it and becomes the 400 reply."""


def int_param(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    """An integer query parameter within [low, high]."""
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadQuery(f"{name}: expected an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise BadQuery(f"{name}: must be between {low} and {high}")
    return value


def choice_param(request: web.Request, name: str, allowed: tuple[str, ...]) -> str | None:
    """An optional query parameter from a fixed set."""
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    if raw not in allowed:
        raise BadQuery(f"{name}: expected one of {', '.join(allowed)}, got {raw!r}")
    return raw


def check_params(request: web.Request, allowed: set[str]) -> None:
    """Unknown parameters are mistakes worth reporting (`token` is the access token, always allowed)."""
    unknown = sorted(set(request.query) - allowed - {"token"})
    if unknown:
        raise BadQuery(f"unknown parameter(s): {', '.join(unknown)}")
