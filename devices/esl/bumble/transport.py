"""One setting names the access point's HCI controller, so the same AP code drives a simulator or a dongle.

The forms (`parse_transport` refuses anything else with one line, so `store-edge check` catches a
typo before the radio starts):

- `virtual`: an in-process Bumble controller on a virtual link (the virtual store, the tests);
- `usb:0` (the first USB Bluetooth controller) or `usb:2fe3:000b` (VID:PID in hex, optionally
  `#INDEX` or `/SERIAL`): Bumble's libusb transport, e.g. a dongle running NCS `hci_usb`;
- `serial:/dev/ttyACM0,1000000` (device, then optionally the baud rate, default 1,000,000, and
  `rtscts` for hardware flow control): Bumble's serial transport, resynchronized at every open,
  e.g. a dongle running NCS `hci_uart` over USB CDC-ACM;
- `tcp-client:HOST:PORT` (an IPv6 host in brackets): Bumble's TCP client transport, to a
  controller that a simulator process or a development board exposes.

`open_hci` returns Bumble's `Transport`: iterate it for the (source, sink) pair a
`bumble.device.Device.with_hci` takes, await `close()` once done; `source.terminated` resolves
when the controller goes away (unplugged dongle, closed socket).
"""

from __future__ import annotations

import asyncio
import difflib
import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeAlias

import usb1
from bumble.controller import Controller
from bumble.link import LocalLink
from bumble.transport import open_transport
from bumble.transport.common import AsyncPipeSink, Transport, TransportInitError

from devices.esl.errors import ControllerUnavailable, TransportSettingError

FORMS = "virtual, usb:INDEX or usb:VID:PID, serial:/dev/PATH[,BAUD][,rtscts], tcp-client:HOST:PORT"
SCHEMES = ("virtual", "usb", "serial", "tcp-client")
MAX_SETTING_LENGTH = 256
DEFAULT_BAUD = 1_000_000  # Bumble's default, and NCS hci_uart's on Nordic boards
BAUD_RANGE = (1_200, 4_000_000)  # nRF UARTE tops out at 1 Mbaud; a CDC-ACM port ignores the rate
OPEN_TIMEOUT_S = 10.0

_USB_MONIKER = re.compile(r"\d{1,3}|[0-9A-Fa-f]{4}:[0-9A-Fa-f]{4}(?:#\d{1,3}|/[0-9A-Za-z._-]{1,64})?")
_HOST_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME = re.compile(rf"(?=.{{1,253}}$){_HOST_LABEL}(?:\.{_HOST_LABEL})*")
_UNPRINTABLE = re.compile(r"[\s\x00-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class Virtual:
    """An in-process Bumble controller on a virtual link: the simulator, the demo and the tests."""

    def __str__(self) -> str:
        """The setting as written in the configuration."""
        return "virtual"


@dataclass(frozen=True, slots=True)
class Usb:
    """A USB Bluetooth controller, found by Bumble's moniker (an index among HCI devices, or VID:PID)."""

    moniker: str

    def __str__(self) -> str:
        """The setting as written in the configuration."""
        return f"usb:{self.moniker}"

    @property
    def bumble_name(self) -> str:
        """The name Bumble's `open_transport` takes."""
        return f"usb:{self.moniker}"


@dataclass(frozen=True, slots=True)
class Serial:
    """An HCI UART (H:4) controller on a serial device, e.g. a USB CDC-ACM port."""

    device: str
    baudrate: int = DEFAULT_BAUD
    rtscts: bool = False

    def __str__(self) -> str:
        """The setting as written in the configuration (baud rate always spelt out)."""
        return f"serial:{self.device},{self.baudrate}" + (",rtscts" if self.rtscts else "")

    @property
    def bumble_name(self) -> str:
        """The name Bumble's `open_transport` takes, always with `resync`.

        A serial controller outlives the daemon (closing a CDC-ACM port does not reset it): after a
        crash mid-write it waits for the rest of a command and the next power-on would hang.
        Bumble's `resync` pads that command out and resets, and refuses a port where nothing
        answers HCI within 2 s (wrong firmware, a console) at open instead.
        """
        return f"{self},resync"


@dataclass(frozen=True, slots=True)
class TcpClient:
    """A controller exposed over TCP (H:4 framing on a stream), reached as a client."""

    host: str
    port: int

    def __str__(self) -> str:
        """The setting as written in the configuration (an IPv6 host in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"tcp-client:{host}:{self.port}"

    @property
    def bumble_name(self) -> str:
        """The name Bumble's `open_transport` takes (it splits the port off at the last colon)."""
        return f"tcp-client:{self.host}:{self.port}"


TransportSetting: TypeAlias = Virtual | Usb | Serial | TcpClient
ControllerFactory: TypeAlias = Callable[[LocalLink], Controller]


def parse_transport(text: str) -> TransportSetting:
    """Read a transport setting, or raise TransportSettingError with one line saying what is wrong."""
    if not isinstance(text, str):
        raise TransportSettingError(f"the ESL transport must be a string, not {type(text).__name__}")
    if not text:
        raise TransportSettingError(f"the ESL transport is empty; expected one of: {FORMS}")
    if len(text) > MAX_SETTING_LENGTH:
        raise TransportSettingError(f"the ESL transport is longer than {MAX_SETTING_LENGTH} characters")
    if _UNPRINTABLE.search(text):
        raise TransportSettingError(f"the ESL transport {text!r} contains a space or a control character")
    scheme, colon, rest = text.partition(":")
    if scheme == "virtual":
        if colon:
            raise TransportSettingError(f"the ESL transport 'virtual' takes no parameters, got {text!r}")
        return Virtual()
    if scheme == "usb":
        return _parse_usb(rest)
    if scheme == "serial":
        return _parse_serial(rest)
    if scheme == "tcp-client":
        return _parse_tcp_client(rest)
    close = difflib.get_close_matches(scheme, SCHEMES, n=1, cutoff=0.4)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise TransportSettingError(f"unknown ESL transport {scheme!r}{hint}; expected one of: {FORMS}")


def _parse_usb(rest: str) -> Usb:
    """`usb:INDEX`, `usb:VID:PID`, `usb:VID:PID#INDEX` or `usb:VID:PID/SERIAL`, as Bumble reads them."""
    if not _USB_MONIKER.fullmatch(rest):
        raise TransportSettingError(
            f"usb: expects a device index (usb:0) or VID:PID in hex (usb:2fe3:000b), got {rest!r}")
    return Usb(rest)


def _parse_serial(rest: str) -> Serial:
    """`serial:/dev/PATH` then optionally `,BAUD` and `,rtscts`."""
    device, *options = rest.split(",")
    if not device:
        raise TransportSettingError("serial: needs a device path, e.g. serial:/dev/ttyACM0,1000000")
    if not device.startswith("/"):
        raise TransportSettingError(f"serial: the device must be an absolute path (/dev/...), got {device!r}")
    baudrate: int | None = None
    rtscts = False
    for option in options:
        if option.isascii() and option.isdigit() and baudrate is None:
            baudrate = int(option)
            if not BAUD_RANGE[0] <= baudrate <= BAUD_RANGE[1]:
                raise TransportSettingError(
                    f"serial: baud rate {baudrate} is outside {BAUD_RANGE[0]}..{BAUD_RANGE[1]}")
        elif option == "rtscts" and not rtscts:
            rtscts = True
        else:
            raise TransportSettingError(
                f"serial: {option!r} is not expected there; the form is serial:/dev/PATH[,BAUD][,rtscts]")
    return Serial(device, DEFAULT_BAUD if baudrate is None else baudrate, rtscts)


def _parse_tcp_client(rest: str) -> TcpClient:
    """`tcp-client:HOST:PORT`, HOST a name, an IPv4 address or a bracketed IPv6 address."""
    host, colon, port_text = rest.rpartition(":")
    if not colon or not host:
        raise TransportSettingError(f"tcp-client: expects HOST:PORT (tcp-client:127.0.0.1:9001), got {rest!r}")
    if not (port_text.isascii() and port_text.isdigit() and 1 <= int(port_text) <= 65535):
        raise TransportSettingError(f"tcp-client: the port must be 1..65535, got {port_text!r}")
    if host.startswith("[") and host.endswith("]"):
        try:
            host = str(ipaddress.IPv6Address(host[1:-1]))
        except ValueError:
            raise TransportSettingError(f"tcp-client: {host!r} is not an IPv6 address") from None
    elif ":" in host:
        raise TransportSettingError(f"tcp-client: write an IPv6 host in brackets (tcp-client:[::1]:9001), got {host!r}")
    elif not _HOSTNAME.fullmatch(host):
        raise TransportSettingError(f"tcp-client: {host!r} is not a host name or an IPv4 address")
    return TcpClient(host, int(port_text))


class VirtualTransport(Transport):
    """Bumble's transport to an in-process controller; closing takes the controller off its link."""

    def __init__(self, controller: Controller, link: LocalLink) -> None:
        """Host packets reach the controller on the next loop turn, as its answers reach the host."""
        super().__init__(controller, AsyncPipeSink(controller))
        self.controller = controller
        self.link = link

    async def close(self) -> None:
        """Leave the link and stop answering the host; safe to call twice."""
        if self.controller in self.link.controllers:
            self.link.remove_controller(self.controller)
        self.controller.host = None


def stock_controller(link: LocalLink) -> Controller:
    """Bumble's own virtual controller (no PAwR): the default behind `virtual`."""
    return Controller("esl-ap", link=link)


async def open_hci(setting: str | TransportSetting, *, link: LocalLink | None = None,
                   controller_factory: ControllerFactory = stock_controller,
                   timeout: float = OPEN_TIMEOUT_S) -> Transport:
    """Open the controller a setting names; ControllerUnavailable (one line) when it cannot be opened.

    `virtual` builds `controller_factory(link)` on `link` (a new LocalLink if none is given);
    the other forms ignore both. An open that takes longer than `timeout` seconds is abandoned.
    """
    if isinstance(setting, str):
        setting = parse_transport(setting)
    if isinstance(setting, Virtual):
        link = LocalLink() if link is None else link
        return VirtualTransport(controller_factory(link), link)
    try:
        return await asyncio.wait_for(open_transport(setting.bumble_name), timeout)
    except TimeoutError as err:
        raise ControllerUnavailable(f"the ESL controller at {setting} did not open within {timeout:g} s") from err
    except (OSError, TransportInitError, usb1.USBError) as err:
        reason = str(err).replace("\n", " ") or type(err).__name__
        raise ControllerUnavailable(f"cannot open the ESL controller at {setting}: {reason}") from err
