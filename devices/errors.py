"""The one error hierarchy of the drivers: callers catch by meaning (unavailable, refused…), not by device.

Every driver family (scale, camera, ESL, printer) subclasses its own base *and* one of these
categories, so a supervisor can write `except DeviceUnavailable` for any device while a job
that knows its device can still catch `ScaleError` or `EslError`.
"""

from __future__ import annotations


class DriverError(Exception):
    """Base of every error a driver in `devices/` raises."""


class DeviceUnavailable(DriverError):
    """The device cannot be opened, vanished, is not connected, or the link to it was lost."""


class ProtocolError(DriverError):
    """The device (or a caller) produced bytes that break the protocol grammar."""


class DeviceRejected(DriverError):
    """The device understood the request but refused to carry it out."""


class DeviceTimeout(DriverError, TimeoutError):
    """The device did not answer in time (also a `TimeoutError`, so time-bounded callers catch it)."""
