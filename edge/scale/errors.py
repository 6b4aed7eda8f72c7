"""Errors of the scale job that reach a customer's screen."""

from __future__ import annotations


class ScaleJobError(Exception):
    """A customer action that cannot be done; `code` is machine-readable for the touch screen."""

    def __init__(self, code: str, message: str) -> None:
        """Keep the code next to the message."""
        super().__init__(message)
        self.code = code
