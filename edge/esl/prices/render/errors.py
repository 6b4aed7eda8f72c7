"""Typed errors of label rendering, so the job can tell bad data from a broken install."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


class RenderError(Exception):
    """Base of every error raised while rendering a shelf label."""


class LabelContentError(RenderError, ValueError):
    """The product data cannot be shown as given (negative price, unknown unit, ...)."""


class UnsupportedDisplayError(RenderError, ValueError):
    """No layout exists for this display size, orientation or colour set."""


class LayoutError(RenderError):
    """The content does not fit the chosen layout (e.g. a QR URL too long for the label)."""


class FontNotFoundError(RenderError):
    """No usable CJK font is installed; carries the paths tried and how to fix it."""

    APT_PACKAGE = "fonts-wqy-microhei"

    def __init__(self, tried: Sequence[Path], reason: str = "no CJK font found") -> None:
        """Keep the paths tried and build a message that says how to fix the install."""
        self.tried = tuple(tried)
        self.reason = reason
        paths = ", ".join(str(p) for p in self.tried) or "(none)"
        super().__init__(
            f"{reason}; tried: {paths}. Install one with `apt-get install {self.APT_PACKAGE}` "
            "or configure the path of a font with CJK glyphs"
        )
