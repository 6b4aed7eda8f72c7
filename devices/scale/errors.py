"""Typed errors of the scale driver layer, so callers can tell bad bytes from a missing device."""

from __future__ import annotations

from devices import errors


class ScaleError(errors.DriverError):
    """Base of every error raised by the scale drivers."""


class ProtocolError(ScaleError, errors.ProtocolError):
    """The scale sent something the protocol grammar does not allow, or refused a command's syntax."""


class ScaleUnavailable(ScaleError, errors.DeviceUnavailable):
    """The serial port cannot be opened, vanished, or the scale does not answer in time."""


#: The historical name of `ScaleUnavailable` (kept importable for existing callers).
DeviceUnavailable = ScaleUnavailable


class CommandRejected(ScaleError, errors.DeviceRejected):
    """The scale understood a command (zero, tare…) but refused to execute it now."""

    def __init__(self, command: str, reply: str) -> None:
        """Keep the command and the raw reply so the refusal can be shown to the user."""
        super().__init__(f"scale refused {command!r}: {reply!r}")
        self.command = command
        self.reply = reply
