"""One exception hierarchy for the ESL driver, so callers catch by meaning, not by library."""

from __future__ import annotations

from devices.errors import DeviceRejected, DeviceTimeout, DeviceUnavailable, DriverError, ProtocolError


class EslError(DriverError):
    """Base of every error the ESL driver raises."""


class EslProtocolError(EslError, ProtocolError, ValueError):
    """Bytes that do not form a valid ESL/OTS record (truncated, malformed, out of range)."""


class FramebufferError(EslError, ValueError):
    """An image that cannot be packed for, or unpacked from, a label's display."""


class TransportUnavailable(EslError, DeviceUnavailable):
    """The object transfer channel cannot be used on this host (no AF_BLUETOOTH, no LE L2CAP)."""


class TransportSettingError(EslError, ValueError):
    """A radio transport setting that names no controller the Bumble backend can open (a typo, a bad port)."""


class ControllerUnavailable(EslError, DeviceUnavailable):
    """The access point's HCI controller cannot be opened: no dongle, a busy port, a refused connection."""


class LabelUnreachable(EslError, DeviceUnavailable):
    """The label could not be connected after retries, or the link was lost."""


class LabelTimeout(EslError, DeviceTimeout):
    """The label did not answer within the allowed time."""


class LabelRejected(EslError, DeviceRejected):
    """The label answered a command with an ESL Error response; carries its error code."""

    def __init__(self, error_code: int, message: str | None = None) -> None:
        self.error_code = error_code
        super().__init__(message or f"label rejected the command with error 0x{error_code:02X}")


class LabelBusy(LabelRejected):
    """The label answered Retry (0x0A): not a failure, ask again later."""


class ObjectTransferError(EslError):
    """An Object Transfer (image upload) step failed; carries the OTS result code when there is one."""

    def __init__(self, message: str, result_code: int | None = None) -> None:
        self.result_code = result_code
        super().__init__(message)
