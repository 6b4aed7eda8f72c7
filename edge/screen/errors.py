"""Typed errors of the screen job, so a bad frame is reported, never a crash."""

from __future__ import annotations


class ScreenError(Exception):
    """Base class of the screen job's errors."""


class FrameError(ScreenError):
    """The frame cannot be analysed: not an image, wrong shape or type, empty."""


class BlankFrame(FrameError):
    """The frame is uniform (black, covered lens, dead sensor): no detection is meaningful."""


class DetectorError(ScreenError):
    """The detection library failed on a frame that looked valid."""
