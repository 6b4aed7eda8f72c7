"""Every driver family's errors sit beneath the one hierarchy, so callers can catch by meaning."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from devices import errors
from devices.camera.capture import OpenCVSource
from devices.camera.errors import CameraError, SourceUnavailable
from devices.camera.simulated import FolderSource, VideoFileSource
from devices.esl import codec
from devices.esl.errors import (
    EslError, EslProtocolError, FramebufferError, LabelBusy, LabelRejected, LabelTimeout, LabelUnreachable,
    ObjectTransferError, TransportUnavailable,
)
from devices.printer.escpos import EscPosPrinter, PrinterError, PrinterSettings, PrinterUnavailable
from devices.scale import mtsics
from devices.scale.driver import ScaleDriver, default_settings
from devices.scale.errors import CommandRejected, DeviceUnavailable, ProtocolError, ScaleError, ScaleUnavailable

FAMILIES: list[tuple[type[Exception], type[Exception], type[Exception] | None]] = [
    (ScaleError, ScaleError, None),
    (ProtocolError, ScaleError, errors.ProtocolError),
    (ScaleUnavailable, ScaleError, errors.DeviceUnavailable),
    (CommandRejected, ScaleError, errors.DeviceRejected),
    (CameraError, CameraError, None),
    (SourceUnavailable, CameraError, errors.DeviceUnavailable),
    (EslError, EslError, None),
    (EslProtocolError, EslError, errors.ProtocolError),
    (FramebufferError, EslError, None),
    (TransportUnavailable, EslError, errors.DeviceUnavailable),
    (LabelUnreachable, EslError, errors.DeviceUnavailable),
    (LabelTimeout, EslError, errors.DeviceTimeout),
    (LabelRejected, EslError, errors.DeviceRejected),
    (LabelBusy, EslError, errors.DeviceRejected),
    (ObjectTransferError, EslError, None),
    (PrinterError, PrinterError, None),
    (PrinterUnavailable, PrinterError, errors.DeviceUnavailable),
]
CATEGORIES = (errors.DeviceUnavailable, errors.ProtocolError, errors.DeviceRejected, errors.DeviceTimeout)


@pytest.mark.parametrize(("cls", "family", "category"), FAMILIES, ids=lambda c: getattr(c, "__name__", "none"))
def test_family_error_is_a_driver_error_of_one_category(
    cls: type[Exception], family: type[Exception], category: type[Exception] | None
) -> None:
    assert issubclass(cls, errors.DriverError) and issubclass(cls, family)
    assert [c for c in CATEGORIES if issubclass(cls, c)] == ([category] if category else [])


def test_historical_bases_are_kept() -> None:
    assert DeviceUnavailable is ScaleUnavailable
    assert issubclass(EslProtocolError, ValueError) and issubclass(FramebufferError, ValueError)
    assert issubclass(LabelTimeout, TimeoutError) and issubclass(errors.DeviceTimeout, TimeoutError)
    assert issubclass(LabelBusy, LabelRejected)


def test_errors_keep_their_arguments() -> None:
    rejected = CommandRejected("Z", "Z I")
    assert rejected.command == "Z" and rejected.reply == "Z I"
    assert LabelRejected(0x05).error_code == 0x05
    assert ObjectTransferError("bad", 3).result_code == 3
    assert str(LabelTimeout("no answer")) == "no answer"


def test_bad_bytes_are_protocol_errors_in_every_family() -> None:
    with pytest.raises(errors.ProtocolError):
        mtsics.parse_line("XX YY")
    with pytest.raises(errors.ProtocolError):
        codec.decode_response(b"")


@pytest.mark.parametrize("make", [OpenCVSource, VideoFileSource, FolderSource], ids=lambda m: m.__name__)
def test_camera_source_that_cannot_open_is_device_unavailable(make: type, tmp_path: Path) -> None:
    with pytest.raises(errors.DeviceUnavailable):
        make(str(tmp_path / "nope.avi")).open()


def test_printer_that_cannot_open_is_device_unavailable(tmp_path: Path) -> None:
    with pytest.raises(errors.DeviceUnavailable) as caught:
        EscPosPrinter(PrinterSettings(str(tmp_path / "ttyNOPE"))).open()
    assert isinstance(caught.value.__cause__, OSError)  # the library error is kept as the cause


async def test_scale_command_without_a_port_is_device_unavailable(tmp_path: Path) -> None:
    settings = default_settings("mt-sics", str(tmp_path / "ttyNOPE"))
    with pytest.raises(errors.DeviceUnavailable):
        await ScaleDriver(settings, "mt-sics").zero()  # not started
    async with ScaleDriver(settings, "mt-sics", command_timeout=0.2) as driver:
        with pytest.raises(errors.DeviceUnavailable) as caught:
            await asyncio.wait_for(driver.tare(), 5)
    assert isinstance(caught.value, ScaleError) and isinstance(caught.value.__cause__, TimeoutError)


async def test_esl_channel_that_is_not_open_is_device_unavailable() -> None:
    from devices.esl.transport import L2capCocTransport

    with pytest.raises(errors.DeviceUnavailable):
        await L2capCocTransport().send(b"image")  # no AF_BLUETOOTH: TransportUnavailable; else LabelUnreachable
