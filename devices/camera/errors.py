"""Typed errors of the camera drivers, so callers never catch OpenCV's own failures."""

from __future__ import annotations

from devices.errors import DeviceUnavailable, DriverError


class CameraError(DriverError):
    """Base class of every camera driver error."""


class SourceUnavailable(CameraError, DeviceUnavailable):
    """The source could not be opened or stopped delivering frames (unplugged, stream cut, file gone)."""
