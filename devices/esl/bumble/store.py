"""A virtual store on the real stack: access points and shelf labels as Bumble devices on one emulated radio.

Every AP is a Bumble device on the emulating `PawrController` running a PAwR train; every label
is a `VirtualTag` (the ESL service and OTS as a GATT server, the tag core behind it) on its own
`PawrController`, all on one `IndexedLink`. The production AP code (`ap.PawrAccessPoint`) drives
them over real HCI, L2CAP, SMP and ATT encodings and the emulated PAwR timing.

Labels are made *preconfigured*: holding the ESL address and keys an earlier onboarding would
have written, and synchronizing to their AP's train by scanning for it (PAST is what onboarding
uses; `PawrAccessPoint.configure` does that for a new label). So a store of thousands of labels
starts in a few seconds instead of one connection per label.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

from bumble import hci

from devices.esl.bumble.ap import PawrAccessPoint
from devices.esl.bumble.aps import AccessPoints
from devices.esl.bumble.central import EslCentral
from devices.esl.bumble.controller import RadioModel, virtual_device
from devices.esl.bumble.host import PawrAdvertiser
from devices.esl.bumble.scheduler import DEFAULT_KEEPALIVE_S
from devices.esl.bumble.link import IndexedLink
from devices.esl.bumble.tag import VirtualTag
from devices.esl.bumble.train import TrainParams
from devices.esl.client import INFORMATION, parse_label_info
from devices.esl.codec import EslAddress
from devices.esl.fridge import Fridge
from devices.esl.radio import KeyMaterial, Label
from devices.esl.tag_core import TagCore


#: Labels started, then synchronized, this many at a time: a store of 10,000 never has thousands of
#: advertising labels and pending syncs at once (every advertiser's PDUs reach every scanner).
START_BATCH = 500


@dataclass(frozen=True, slots=True)
class TagSpec:
    """One label of the virtual store: where it is on the radio, its model, and what makes it special."""

    address: str  # BLE address (random static)
    esl: EslAddress
    model: str = "2.9-bwr"
    ap: int = 0  # index of the AP that serves it
    fridge: Fridge | None = None
    battery_v: float = 3.0
    radio: RadioModel = field(default_factory=RadioModel)


class VirtualStore:
    """The emulated radio, its access points (as one `AccessPoints` radio) and its labels; `start` builds them."""

    def __init__(self, specs: Sequence[TagSpec], *, aps: int = 1, params: TrainParams | None = None, seed: int = 0,
                 timeout: float = 30.0, keepalive_s: float = DEFAULT_KEEPALIVE_S) -> None:
        """Describe the store; nothing runs until `start` (it needs the event loop)."""
        if any(not 0 <= spec.ap < aps for spec in specs):
            raise ValueError(f"every label's ap must be 0..{aps - 1}")
        self.specs = list(specs)
        self.ap_count = aps
        self.params = params or TrainParams()
        self.seed = seed
        self.timeout = timeout
        self.keepalive_s = keepalive_s
        self.link = IndexedLink()
        self.radio = AccessPoints()
        self.tags: dict[str, VirtualTag] = {}

    @property
    def aps(self) -> list[PawrAccessPoint]:
        """The running access points."""
        return self.radio.aps

    async def start(self) -> None:
        """Build the APs (trains started) and the labels (preconfigured, then synchronized to their AP's train); once."""
        if self.aps:
            return
        for n in range(self.ap_count):
            device, _controller = virtual_device(self.link, f"F0:E5:00:00:00:{n + 1:02X}", name=f"store-edge AP {n}",
                                                 seed=self.seed, empty_subevents=True)
            await device.power_on()
            train = PawrAdvertiser(device, self.params, sid=n % 16)
            ap = PawrAccessPoint(EslCentral(device, seed=self.seed + n), train, KeyMaterial.generate(),
                                 timeout=self.timeout, seed=self.seed + n, keepalive_s=self.keepalive_s)
            await ap.start()
            self.radio.add(ap)
        for first in range(0, len(self.specs), START_BATCH):
            batch = self.specs[first:first + START_BATCH]
            for spec in batch:
                ap = self.aps[spec.ap]
                tag = VirtualTag.create(self.link, spec.address, spec.model, seed=self.seed, fridge=spec.fridge,
                                       battery_v=spec.battery_v, radio=spec.radio)
                response_key = KeyMaterial.generate()
                tag.preconfigure(spec.esl, ap.ap_sync_key, response_key)
                await tag.start()
                self.tags[spec.address] = tag
                info = parse_label_info([tag.core.read(uuid) for uuid in INFORMATION])  # what onboarding read
                ap.adopt(Label(spec.address, spec.esl), response_key, info)
            await asyncio.gather(*(_find(self.tags[spec.address], self.aps[spec.ap]) for spec in batch))

    async def close(self) -> None:
        """Stop every AP and label."""
        await self.radio.close()
        for tag in self.tags.values():
            await tag.close()

    # What the demo looks at, as it does on the bleak-seam fleet -----------------------------------
    def tag(self, address: str) -> VirtualTag:
        """The label with this BLE address."""
        return self.tags[address]

    @property
    def labels(self) -> dict[str, TagCore]:
        """Every label's tag core (display, LEDs, fridge) by BLE address."""
        return {address: tag.core for address, tag in self.tags.items()}

    def label(self, address: str) -> TagCore:
        """One label's tag core."""
        return self.tags[address].core

    def clock(self) -> float:
        """The labels' clock (the event loop's)."""
        return asyncio.get_running_loop().time()


async def open_virtual_store(
    specs: Sequence[TagSpec], *, aps: int = 1, params: TrainParams | None = None, seed: int = 0, timeout: float = 30.0,
) -> VirtualStore:
    """A started virtual store."""
    store = VirtualStore(specs, aps=aps, params=params, seed=seed, timeout=timeout)
    await store.start()
    return store


async def _find(tag: VirtualTag, ap: PawrAccessPoint) -> None:
    """Let a preconfigured label synchronize to its AP's train."""
    adv_set = ap.train.advertising_set
    assert adv_set is not None
    address = adv_set.random_address if adv_set.random_address not in (None, hci.Address.ANY) else ap.train.device.random_address
    await tag.find_train(address, ap.train.sid)
    await tag.settled()  # its adverts stop once it follows the train
