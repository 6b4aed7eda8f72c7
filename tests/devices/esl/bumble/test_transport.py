"""The ESL transport setting: every form parsed or refused in one line; virtual, TCP and serial controllers power a device on."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import tty
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from bumble.controller import Controller
from bumble.core import InvalidPacketError
from bumble.device import Device
from bumble.hci import Address
from bumble.link import LocalLink
from bumble.transport import open_transport
from bumble.transport.common import StreamPacketSink, StreamPacketSource, Transport
from bumble.transport.tcp_server import open_tcp_server_transport_with_socket
from hypothesis import given
from hypothesis import strategies as st

from devices.errors import DeviceUnavailable
from devices.esl.bumble.transport import (
    Serial,
    TcpClient,
    TransportSetting,
    Usb,
    Virtual,
    VirtualTransport,
    open_hci,
    parse_transport,
)
from devices.esl.errors import ControllerUnavailable, EslError, TransportSettingError

AP_ADDRESS = Address("F0:F1:F2:F3:F4:F5")

GOOD: list[tuple[str, TransportSetting]] = [
    ("virtual", Virtual()),
    ("usb:0", Usb("0")),
    ("usb:2fe3:000b", Usb("2fe3:000b")),
    ("usb:2FE3:0100#1", Usb("2FE3:0100#1")),
    ("usb:2fe3:0100/C0FFEE012345", Usb("2fe3:0100/C0FFEE012345")),
    ("serial:/dev/ttyACM0,1000000", Serial("/dev/ttyACM0", 1_000_000)),
    ("serial:/dev/ttyACM0", Serial("/dev/ttyACM0", 1_000_000)),
    ("serial:/dev/esl-ap-C0FFEE012345,rtscts", Serial("/dev/esl-ap-C0FFEE012345", 1_000_000, True)),
    ("serial:/dev/serial/by-id/usb-ZEPHYR_Zephyr_HCI_UART_sample_0123-if00,115200,rtscts",
     Serial("/dev/serial/by-id/usb-ZEPHYR_Zephyr_HCI_UART_sample_0123-if00", 115_200, True)),
    ("tcp-client:127.0.0.1:9001", TcpClient("127.0.0.1", 9001)),
    ("tcp-client:esl-sim.store.local:1234", TcpClient("esl-sim.store.local", 1234)),
    ("tcp-client:[::1]:9001", TcpClient("::1", 9001)),
]

BAD: list[tuple[str, str]] = [
    ("", "is empty"),
    ("bluetooth:0", "unknown ESL transport 'bluetooth'"),
    ("tcp:127.0.0.1:9001", "did you mean 'tcp-client'"),
    ("serail:/dev/ttyACM0", "did you mean 'serial'"),
    ("Virtual", "did you mean 'virtual'"),
    ("virtual:link1", "takes no parameters"),
    ("usb:", "usb: expects a device index"),
    ("usb:hci0", "usb: expects a device index"),
    ("usb:2fe3:00b", "usb: expects a device index"),
    ("usb:2fe3:000b#", "usb: expects a device index"),
    ("serial:", "needs a device path"),
    ("serial:,1000000", "needs a device path"),
    ("serial:ttyACM0,1000000", "absolute path"),
    ("serial:/dev/ttyACM0,fast", "'fast' is not expected"),
    ("serial:/dev/ttyACM0,0", "baud rate 0 is outside"),
    ("serial:/dev/ttyACM0,99999999", "baud rate 99999999 is outside"),
    ("serial:/dev/ttyACM0,1000000,115200", "'115200' is not expected"),
    ("serial:/dev/ttyACM0,rtscts,rtscts", "'rtscts' is not expected"),
    ("serial:/dev/ttyACM0,", "'' is not expected"),
    ("serial:/dev/tty ACM0", "contains a space"),
    ("tcp-client:127.0.0.1", "expects HOST:PORT"),
    ("tcp-client::9001", "expects HOST:PORT"),
    ("tcp-client:127.0.0.1:", "port must be 1..65535"),
    ("tcp-client:127.0.0.1:0", "port must be 1..65535"),
    ("tcp-client:127.0.0.1:65536", "port must be 1..65535"),
    ("tcp-client:127.0.0.1:http", "port must be 1..65535"),
    ("tcp-client:::1:9001", "in brackets"),
    ("tcp-client:[::g]:9001", "is not an IPv6 address"),
    ("tcp-client:bad_host!:9001", "is not a host name"),
    ("tcp-client:127.0.0.1:9001\n", "control character"),
    ("serial:/dev/" + "x" * 300, "longer than 256"),
]


@pytest.mark.parametrize(("text", "expected"), GOOD, ids=[t for t, _ in GOOD])
def test_every_form_is_read(text: str, expected: TransportSetting) -> None:
    setting = parse_transport(text)
    assert setting == expected
    assert parse_transport(str(setting)) == setting  # what is shown back reads as the same setting


@pytest.mark.parametrize(("text", "fragment"), BAD, ids=[t[:40] for t, _ in BAD])
def test_a_malformed_setting_is_refused_in_one_line(text: str, fragment: str) -> None:
    with pytest.raises(TransportSettingError) as caught:
        parse_transport(text)
    message = str(caught.value)
    assert fragment in message and "\n" not in message and len(message) < 200, message


def test_a_setting_that_is_not_a_string_is_refused() -> None:
    with pytest.raises(TransportSettingError, match="must be a string, not int"):
        parse_transport(0)  # type: ignore[arg-type]


def test_setting_errors_are_value_errors_and_open_errors_are_unavailable() -> None:
    """A config validator turns a ValueError into its one line; a supervisor backs off on DeviceUnavailable."""
    assert issubclass(TransportSettingError, ValueError) and issubclass(TransportSettingError, EslError)
    assert not issubclass(TransportSettingError, DeviceUnavailable)
    assert issubclass(ControllerUnavailable, DeviceUnavailable) and issubclass(ControllerUnavailable, EslError)


@given(st.sampled_from(["", "virtual", "usb:", "serial:/", "tcp-client:", "tcp-client:[::1]:"]), st.text(max_size=300))
def test_any_text_reads_or_gets_a_setting_error(prefix: str, tail: str) -> None:
    try:
        parse_transport(prefix + tail)
    except TransportSettingError as err:
        assert "\n" not in str(err)


async def _power_on(transport: Transport) -> Device:
    """A Bumble device on the transport, reset and configured by its host."""
    device = Device.with_hci("ap", AP_ADDRESS, transport.source, transport.sink)
    await asyncio.wait_for(device.power_on(), 5)
    return device


async def test_virtual_opens_and_a_device_powers_on_over_it() -> None:
    link = LocalLink()
    hci = await open_hci("virtual", link=link)
    assert isinstance(hci, VirtualTransport) and hci.controller in link.controllers
    device = await _power_on(hci)
    assert device.host.local_version is not None  # the controller answered over HCI
    await hci.close()
    assert hci.controller not in link.controllers and hci.controller.host is None
    await hci.close()  # a second close is harmless


async def test_virtual_builds_the_callers_controller_on_the_callers_link() -> None:
    link = LocalLink()
    seen: list[LocalLink] = []

    def factory(given_link: LocalLink) -> Controller:
        seen.append(given_link)
        return Controller("pawr", link=given_link, public_address="C0:FF:EE:00:00:01")

    hci = await open_hci(Virtual(), link=link, controller_factory=factory)
    device = await _power_on(hci)
    assert seen == [link]
    assert device.public_address == Address("C0:FF:EE:00:00:01", Address.PUBLIC_DEVICE_ADDRESS)
    await hci.close()


async def test_virtual_without_a_link_gets_its_own() -> None:
    hci = await open_hci("virtual")
    assert isinstance(hci, VirtualTransport) and hci.link.controllers == {hci.controller}
    await _power_on(hci)
    await hci.close()


async def _until(condition, timeout: float = 2.0) -> None:
    """Wait, bounded, until `condition()` holds."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


async def test_tcp_client_powers_on_a_device_across_real_tcp_hci_framing() -> None:
    """A Bumble tcp-server on loopback bridged to a virtual controller stands in for a simulator process."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = await open_tcp_server_transport_with_socket(sock)
    Controller("sim", host_source=server.source, host_sink=server.sink, link=LocalLink(),
               public_address="11:22:33:44:55:66")
    try:
        hci = await open_hci(f"tcp-client:127.0.0.1:{port}")
        device = await _power_on(hci)
        assert device.public_address == Address("11:22:33:44:55:66", Address.PUBLIC_DEVICE_ADDRESS)
        await hci.close()
        await _until(lambda: server.sink.transport is None)  # the server saw the client leave
        assert hci.source.terminated.done()
    finally:
        server.server.close()
        await server.server.wait_closed()


async def test_tcp_client_learns_when_the_controller_goes_away() -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = await open_tcp_server_transport_with_socket(sock)
    Controller("sim", host_source=server.source, host_sink=server.sink, link=LocalLink())
    try:
        hci = await open_hci(TcpClient("127.0.0.1", sock.getsockname()[1]))
        await _power_on(hci)
        server.sink.transport.close()  # the simulator process drops the connection
        await asyncio.wait_for(hci.source.terminated, 2)
        await hci.close()
    finally:
        server.server.close()
        await server.server.wait_closed()


async def test_tcp_client_to_a_closed_port_is_controller_unavailable() -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
    try:
        with pytest.raises(ControllerUnavailable, match=r"^cannot open the ESL controller at tcp-client:127\.0\.0\.1:\d+: "):
            await open_hci(f"tcp-client:127.0.0.1:{sock.getsockname()[1]}")
    finally:
        sock.close()


class ZephyrH4Source(StreamPacketSource):
    """Reads H:4 as Zephyr's hci_uart does: a byte that starts no packet is dropped alone (main.c, ST_IDLE).

    Bumble's own parser drops the rest of a read at such a byte, which no dongle does.
    """

    def data_received(self, data: bytes) -> None:
        """Feed the parser byte by byte, skipping bytes that are no H:4 packet type."""
        for byte in data:
            with contextlib.suppress(InvalidPacketError):
                self.parser.feed_data(bytes((byte,)))


@contextlib.asynccontextmanager
async def pty_dongle(path: Path, *, address: str = "22:33:44:55:66:77",
                     answering: bool = True) -> AsyncIterator[Callable[[], None]]:
    """A pty pair (os.openpty) linked at `path`, a virtual controller speaking H:4 on its primary; yields `unplug`."""
    primary, replica = os.openpty()
    tty.setraw(primary)
    tty.setraw(replica)
    os.symlink(os.ttyname(replica), path)
    loop = asyncio.get_running_loop()
    pipes: list[asyncio.BaseTransport] = []
    if answering:
        # open() only wraps the pty's descriptor for the loop's pipe transports: no file is opened.
        reader, source = await loop.connect_read_pipe(ZephyrH4Source, open(primary, "rb", closefd=False))  # noqa: ASYNC230, SIM115
        writer, _ = await loop.connect_write_pipe(asyncio.BaseProtocol, open(primary, "wb", closefd=False))  # noqa: ASYNC230, SIM115
        pipes += [reader, writer]
        Controller("dongle", host_source=source, host_sink=StreamPacketSink(writer), link=LocalLink(),
                   public_address=address)
    fds = [primary, replica]

    def unplug() -> None:
        """Close the dongle's side, as pulling it out does."""
        for pipe in pipes:
            pipe.close()
        while fds:
            os.close(fds.pop())

    try:
        yield unplug
    finally:
        unplug()


async def test_serial_powers_on_a_device_over_a_real_pty(tmp_path: Path) -> None:
    """The AP side opens the pty's path with pyserial, as it would /dev/ttyACM0."""
    path = tmp_path / "ttyHCI"
    async with pty_dongle(path, address="22:33:44:55:66:77"):
        hci = await open_hci(f"serial:{path},1000000")
        device = await _power_on(hci)
        assert device.public_address == Address("22:33:44:55:66:77", Address.PUBLIC_DEVICE_ADDRESS)
        await hci.close()


async def test_a_missing_serial_device_is_controller_unavailable(tmp_path: Path) -> None:
    with pytest.raises(ControllerUnavailable, match="^cannot open the ESL controller at serial:") as caught:
        await open_hci(f"serial:{tmp_path / 'ttyACM9'},1000000")
    assert "\n" not in str(caught.value)


async def test_a_usb_controller_that_is_not_plugged_in_is_controller_unavailable() -> None:
    """No USB device has VID:PID 0000:0000; whether libusb finds no bus or no device, the answer is one line."""
    with pytest.raises(ControllerUnavailable, match="^cannot open the ESL controller at usb:0000:0000") as caught:
        await open_hci("usb:0000:0000")
    assert "\n" not in str(caught.value)


async def test_serial_learns_when_the_dongle_is_unplugged(tmp_path: Path) -> None:
    path = tmp_path / "ttyHCI"
    async with pty_dongle(path) as unplug:
        hci = await open_hci(f"serial:{path}")
        await _power_on(hci)
        unplug()
        await asyncio.wait_for(hci.source.terminated, 2)
        await hci.close()


async def test_serial_recovers_a_controller_left_in_the_middle_of_a_command(tmp_path: Path) -> None:
    """A daemon killed mid-write leaves the dongle waiting for parameters (CDC-ACM does not reset it): the next open still powers on."""
    path = tmp_path / "ttyHCI"
    async with pty_dongle(path):
        killed = await open_transport(f"serial:{path},1000000")
        killed.sink.on_packet(bytes([0x01, 0x03, 0x0C, 0x05]))  # HCI_Reset announcing 5 parameter bytes, none sent
        await asyncio.sleep(0.05)
        await killed.close()
        hci = await open_hci(f"serial:{path},1000000")
        await _power_on(hci)
        await hci.close()


async def test_a_serial_port_that_speaks_no_hci_is_controller_unavailable(tmp_path: Path) -> None:
    """Nothing answers on the pty (a dongle with the wrong firmware, a console): refused at open, not a hang later."""
    path = tmp_path / "ttyMute"
    async with pty_dongle(path, answering=False):
        with pytest.raises(ControllerUnavailable, match="did not answer"):
            await open_hci(f"serial:{path},1000000")
