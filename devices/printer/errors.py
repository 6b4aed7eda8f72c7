"""Typed errors of the printer driver, beneath the drivers' common hierarchy."""

from __future__ import annotations

from devices.errors import DeviceUnavailable, DriverError


class PrinterError(DriverError):
    """Base of printer driver errors."""


class PrinterUnavailable(PrinterError, DeviceUnavailable):
    """The printer port cannot be opened or stopped accepting data."""
