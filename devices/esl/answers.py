"""What counts as an answer to an ESL command, whichever radio carried it (a GATT notification or a PAwR response slot).

An Error response becomes a typed error (Retry: LabelBusy), and a response of the wrong kind, or
for another LED, sensor or display than the command named, is a protocol error.
"""

from __future__ import annotations

from devices.esl.codec import (
    BasicState, Command, DisplayImage, DisplayState, DisplayTimedImage, ErrorCode, ErrorResponse, FactoryReset,
    LedControl, LedState, LedTimedControl, Ping, ReadSensorData, RefreshDisplay, Response, SensorValue, ServiceReset,
    Unassociate, UpdateComplete, VendorCommand, VendorResponse,
)
from devices.esl.errors import EslProtocolError, LabelBusy, LabelRejected

EXPECTED: dict[type, type | None] = {
    Ping: BasicState, Unassociate: BasicState, ServiceReset: BasicState, UpdateComplete: BasicState,
    FactoryReset: None, ReadSensorData: SensorValue, RefreshDisplay: DisplayState, DisplayImage: DisplayState,
    DisplayTimedImage: DisplayState, LedControl: LedState, LedTimedControl: LedState,
    VendorCommand: VendorResponse,
}


def check_response(cmd: Command, resp: Response) -> Response:
    """Turn Error responses into typed errors and refuse a response that does not answer `cmd`."""
    if isinstance(resp, ErrorResponse):
        if resp.code == ErrorCode.RETRY:
            raise LabelBusy(resp.code, "label is busy (Retry): ask again later")
        raise LabelRejected(resp.code, f"label rejected {type(cmd).__name__}: {resp.name} (0x{resp.code:02X})")
    expected = EXPECTED.get(type(cmd))
    if expected is None or not isinstance(resp, expected):
        raise EslProtocolError(f"{type(cmd).__name__} answered with unexpected {resp!r}")
    index_pairs = {
        ReadSensorData: ("sensor_index", "sensor_index"), RefreshDisplay: ("display_index", "display_index"),
        DisplayImage: ("display_index", "display_index"), DisplayTimedImage: ("display_index", "display_index"),
        LedControl: ("led_index", "led_index"), LedTimedControl: ("led_index", "led_index"),
    }
    if type(cmd) in index_pairs:
        c, r = index_pairs[type(cmd)]
        if getattr(cmd, c) != getattr(resp, r):
            raise EslProtocolError(f"{type(cmd).__name__} answered for another index: {resp!r}")
    return resp
