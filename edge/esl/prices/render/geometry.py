"""Pixel rectangles used to lay out a label."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Box:
    """A rectangle of pixels, x0/y0 inclusive and x1/y1 exclusive (Pillow's crop convention)."""

    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def width(self) -> int:
        """Width in pixels."""
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        """Height in pixels."""
        return self.y1 - self.y0

    def overlaps(self, other: Box) -> bool:
        """True when the two rectangles share at least one pixel."""
        return self.x0 < other.x1 and other.x0 < self.x1 and self.y0 < other.y1 and other.y0 < self.y1

    def contains(self, other: Box) -> bool:
        """True when other lies entirely inside this rectangle."""
        return self.x0 <= other.x0 and self.y0 <= other.y0 and other.x1 <= self.x1 and other.y1 <= self.y1

    @property
    def xy(self) -> tuple[int, int, int, int]:
        """Pillow's inclusive (x0, y0, x1, y1) form, for ImageDraw.rectangle."""
        return (self.x0, self.y0, self.x1 - 1, self.y1 - 1)
