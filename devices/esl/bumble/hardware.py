"""An access point on a real controller: open its HCI transport, power the Bumble host on, start its PAwR train.

What must stay the same across restarts is handed in by the caller, which keeps it (the daemon
in SQLite, `edge.esl.radio.keys`): the AP sync key every label of the train holds, the random
static address the labels know the AP by, and a Bumble key store holding the SMP bonds. Without
them each start is a new AP to the labels: a fresh key they cannot decrypt, an address and bonds
they never paired with.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable

from bumble import hci
from bumble.keys import KeyStore
from bumble.transport.common import Transport

from devices.esl.bumble.ap import PawrAccessPoint
from devices.esl.bumble.central import EslCentral
from devices.esl.bumble.host import PawrAdvertiser, pawr_device
from devices.esl.bumble.train import TrainParams
from devices.esl.bumble.transport import open_hci
from devices.esl.radio import KeyMaterial


def random_static_address() -> hci.Address:
    """A fresh random static address (the two top bits set), as an AP without a public address uses."""
    raw = bytearray(os.urandom(6))
    raw[5] |= 0xC0  # little-endian: the last octet is the most significant
    return hci.Address(bytes(raw), hci.Address.RANDOM_DEVICE_ADDRESS)


async def open_access_point(transport: str, params: TrainParams, *, sid: int = 0, timeout: float = 30.0,
                            ap_sync_key: KeyMaterial | None = None, keepalive_s: float = 1800.0,
                            address: str | None = None, keystore: KeyStore | None = None,
                            open_transport: Callable[[str], Awaitable[Transport]] = open_hci) -> PawrAccessPoint:
    """Open `transport` (e.g. `serial:/dev/esl-ap0,1000000`), power on, start the train; raises ControllerUnavailable.

    `ap_sync_key`, `address` (random static, `F3:…`) and `keystore` are the AP's lasting identity;
    each one left out is made afresh (in memory only). `open_transport` opens the HCI controller
    (tests hand it an emulated one). Not run against hardware yet (docs/esl-hardware.md has the
    first hardware-in-the-loop checklist).
    """
    hci_transport = await open_transport(transport)
    try:
        device = pawr_device(hci_transport.source, hci_transport.sink, address=address or random_static_address(),
                             name="store-edge AP")
        device.keystore = keystore  # kept by power_on; None: Bumble's in-memory one
        await device.power_on()
        ap = PawrAccessPoint(EslCentral(device), PawrAdvertiser(device, params, sid=sid), ap_sync_key or KeyMaterial.generate(),
                             timeout=timeout, transport=hci_transport, keepalive_s=keepalive_s)
        await ap.start()
    except BaseException:
        await hci_transport.close()
        raise
    return ap
