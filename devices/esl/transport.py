"""The Object Transfer Channel: where image bytes go after OACP Write (an LE L2CAP CoC, PSM 0x0025)."""

from __future__ import annotations

import abc
import asyncio
import socket
from collections.abc import Callable
from typing import Protocol

from devices.esl.errors import LabelUnreachable, TransportUnavailable

BDADDR_LE_PUBLIC = 0x01
BDADDR_LE_RANDOM = 0x02


class ObjectTransport(abc.ABC):
    """A byte channel to one label, opened for one object write."""

    @abc.abstractmethod
    async def open(self, address: str, psm: int) -> None:
        """Connect the channel to the label's `psm`."""

    @abc.abstractmethod
    async def send(self, data: bytes) -> None:
        """Send the object bytes (the whole write announced by OACP Write)."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Close the channel; safe to call when not open."""


class L2capCocTransport(ObjectTransport):
    """Linux BlueZ LE credit-based L2CAP socket (SOCK_SEQPACKET), one SDU per chunk.

    Untested against hardware. It needs CPython built with Bluetooth support and an L2CAP
    sockaddr that carries the LE address type, `(bdaddr, psm, cid, bdaddr_type)`; a Python
    that refuses that form raises TransportUnavailable on `open`.
    """

    def __init__(self, *, random_address: bool = False, chunk_size: int = 244, timeout: float = 10.0) -> None:
        """Fail early, with a clear error, on hosts without AF_BLUETOOTH."""
        if not all(hasattr(socket, n) for n in ("AF_BLUETOOTH", "BTPROTO_L2CAP")):
            raise TransportUnavailable("this Python has no AF_BLUETOOTH/BTPROTO_L2CAP sockets (not Linux+BlueZ?)")
        self._addr_type = BDADDR_LE_RANDOM if random_address else BDADDR_LE_PUBLIC
        self._chunk = chunk_size
        self._timeout = timeout
        self._sock: socket.socket | None = None

    async def open(self, address: str, psm: int) -> None:
        """Connect an LE CoC to (address, psm)."""
        sock = socket.socket(socket.AF_BLUETOOTH, socket.SOCK_SEQPACKET, socket.BTPROTO_L2CAP)
        sock.setblocking(False)
        try:
            await asyncio.wait_for(
                asyncio.get_running_loop().sock_connect(sock, (address, psm, 0, self._addr_type)), self._timeout
            )
        except (TypeError, ValueError) as err:
            sock.close()
            raise TransportUnavailable(f"this Python cannot address an LE L2CAP channel: {err}") from err
        except (OSError, TimeoutError) as err:
            sock.close()
            raise LabelUnreachable(f"L2CAP CoC to {address} PSM 0x{psm:04X} failed: {err}") from err
        self._sock = sock

    async def send(self, data: bytes) -> None:
        """Send the bytes as SDUs of at most `chunk_size` octets."""
        if self._sock is None:
            raise LabelUnreachable("object transfer channel is not open")
        loop = asyncio.get_running_loop()
        try:
            for pos in range(0, len(data), self._chunk):
                await asyncio.wait_for(loop.sock_sendall(self._sock, data[pos:pos + self._chunk]), self._timeout)
        except (OSError, TimeoutError) as err:
            raise LabelUnreachable(f"object transfer channel failed: {err}") from err

    async def close(self) -> None:
        """Close the socket."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None


class ObjectSink(Protocol):
    """The receiving end of an in-memory channel (a simulated label's OTS server)."""

    async def receive(self, data: bytes) -> None:
        """Take object bytes."""

    def close(self) -> None:
        """The channel was closed by the sender."""


class MemoryTransport(ObjectTransport):
    """In-process channel for the simulator: `connect(address, psm)` returns the label's sink."""

    def __init__(self, connect: Callable[[str, int], ObjectSink]) -> None:
        """Take the function that finds the sink for an address."""
        self._connect = connect
        self._sink: ObjectSink | None = None

    async def open(self, address: str, psm: int) -> None:
        """Look up the receiving label."""
        self._sink = self._connect(address, psm)

    async def send(self, data: bytes) -> None:
        """Hand the bytes to the sink."""
        if self._sink is None:
            raise LabelUnreachable("object transfer channel is not open")
        await self._sink.receive(bytes(data))

    async def close(self) -> None:
        """Tell the sink the transfer is over."""
        if self._sink is not None:
            self._sink.close()
            self._sink = None
