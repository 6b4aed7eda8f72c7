"""Errors of the scale job that reach a customer's screen: a closed list of codes, each with its place in docs/http-api.md."""

from __future__ import annotations

from typing import Any

# Every code a scale route may answer with (docs/http-api.md, "Codes and their texts"), and its HTTP status.
STATUS: dict[str, int] = {
    "invalid_argument": 400,
    "unauthorized": 401,
    "forbidden": 403,
    "not_found": 404,
    "not_sold_at_scale": 409,
    "not_ready": 409,
    "stale_choice": 409,
    "weight_changed": 409,
    "expired": 409,
    "cancelled": 409,
    "already_labelled": 409,
    "count_needed": 409,
    "not_by_piece": 409,
    "needs_confirmation": 409,
    "no_price": 409,
    "below_minimum": 409,
    "amount_too_large": 409,
    "barcode_refused": 409,
    "printing": 409,
    "scale_unavailable": 503,
    "tare_refused": 503,
    "camera_unavailable": 503,
    "printer_unavailable": 503,
}


class ScaleJobError(Exception):
    """A customer action that cannot be done; `code` is machine-readable for the touch screen, `details` go with it."""

    def __init__(self, code: str, message: str, **details: Any) -> None:
        """Keep the code (one of STATUS) and any details next to the message."""
        assert code in STATUS, code
        super().__init__(message)
        self.code = code
        self.details = details
