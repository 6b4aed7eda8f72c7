"""Object transfer channels: the L2CAP socket refuses clearly where it cannot work; the memory one delivers."""

from __future__ import annotations

import socket

import pytest

from devices.esl.errors import LabelUnreachable, TransportUnavailable
from devices.esl.transport import L2capCocTransport, MemoryTransport


@pytest.mark.skipif(hasattr(socket, "AF_BLUETOOTH"), reason="this host has Bluetooth sockets")
def test_l2cap_construction_fails_clearly_without_bluetooth_sockets() -> None:
    """No AF_BLUETOOTH: a typed error at construction, naming the cause."""
    with pytest.raises(TransportUnavailable, match="AF_BLUETOOTH"):
        L2capCocTransport()


class _Sink:
    """Collects what the channel delivers."""

    def __init__(self) -> None:
        """Empty."""
        self.data = b""
        self.closed = False

    async def receive(self, data: bytes) -> None:
        """Keep bytes."""
        self.data += data

    def close(self) -> None:
        """Remember the close."""
        self.closed = True


async def test_memory_transport_delivers_and_closes() -> None:
    """open -> send -> close reaches the sink found for (address, psm)."""
    sink, seen = _Sink(), []
    transport = MemoryTransport(lambda address, psm: seen.append((address, psm)) or sink)
    with pytest.raises(LabelUnreachable):
        await transport.send(b"x")
    await transport.open("AA:BB", 0x25)
    await transport.send(b"abc")
    await transport.send(b"de")
    await transport.close()
    assert (sink.data, sink.closed, seen) == (b"abcde", True, [("AA:BB", 0x25)])
