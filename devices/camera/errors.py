"""Typed errors of the camera drivers, so callers never catch OpenCV's own failures."""

from __future__ import annotations


class CameraError(Exception):
    """Base class of every camera driver error."""


class SourceUnavailable(CameraError):
    """The source could not be opened or stopped delivering frames (unplugged, stream cut, file gone)."""
