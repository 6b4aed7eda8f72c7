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

from devices.esl import uuids
from devices.esl.bumble.ap import PawrAccessPoint
from devices.esl.bumble.central import EslCentral
from devices.esl.bumble.controller import RadioModel, virtual_device
from devices.esl.bumble.host import PawrAdvertiser
from devices.esl.bumble.link import IndexedLink
from devices.esl.bumble.tag import VirtualTag
from devices.esl.bumble.train import TrainParams
from devices.esl.codec import EslAddress
from devices.esl.fridge import Fridge
from devices.esl.info import (
    DisplayInfo, LedInfo, SensorInfo, parse_display_info, parse_image_info, parse_led_info, parse_sensor_info,
)
from devices.esl.radio import KeyMaterial, Label, LabelInfo


@dataclass(frozen=True, slots=True)
class TagSpec:
    """One label of the virtual store: where it is on the radio, its model, and what makes it special."""

    address: str  # BLE address (random static)
    esl: EslAddress
    model: str = "2.9-bwr"
    ap: int = 0  # index of the AP that serves it
    fridge: Fridge | None = None
    radio: RadioModel = field(default_factory=RadioModel)


@dataclass
class VirtualStore:
    """The emulated radio, its access points and its labels."""

    link: IndexedLink
    aps: list[PawrAccessPoint]
    tags: dict[str, VirtualTag]

    def tag(self, address: str) -> VirtualTag:
        """The label with this BLE address."""
        return self.tags[address]

    async def close(self) -> None:
        """Stop every AP and label."""
        for ap in self.aps:
            await ap.close()
        for tag in self.tags.values():
            await tag.close()


async def open_virtual_store(
    specs: Sequence[TagSpec], *, aps: int = 1, params: TrainParams | None = None, seed: int = 0, timeout: float = 30.0,
) -> VirtualStore:
    """Build the APs (trains started) and the labels (preconfigured, synchronized), ready for the AP code."""
    link = IndexedLink()
    access_points = []
    for n in range(aps):
        device, _controller = virtual_device(link, f"F0:E5:00:00:00:{n + 1:02X}", name=f"store-edge AP {n}",
                                             seed=seed, empty_subevents=True)
        await device.power_on()
        train = PawrAdvertiser(device, params or TrainParams(), sid=n % 16)
        ap = PawrAccessPoint(EslCentral(device, seed=seed + n), train, KeyMaterial.generate(), timeout=timeout)
        await ap.start()
        access_points.append(ap)
    tags: dict[str, VirtualTag] = {}
    for spec in specs:
        ap = access_points[spec.ap]
        tag = VirtualTag.create(link, spec.address, spec.model, seed=seed, fridge=spec.fridge, radio=spec.radio)
        response_key = KeyMaterial.generate()
        tag.preconfigure(spec.esl, ap.ap_sync_key, response_key)
        await tag.start()
        tags[spec.address] = tag
        info = LabelInfo(*(await _read_info(tag)))
        ap.adopt(Label(spec.address, spec.esl), response_key, info)
    await asyncio.gather(*(_find(tag, access_points[spec.ap]) for spec, tag in zip(specs, tags.values(), strict=True)))
    return VirtualStore(link, access_points, tags)


async def _read_info(tag: VirtualTag) -> tuple[tuple[DisplayInfo, ...], int, tuple[SensorInfo, ...], tuple[LedInfo, ...]]:
    """The tag's information as its characteristics hold it (what onboarding read before this run)."""
    core = tag.core
    return (tuple(parse_display_info(core.read(uuids.DISPLAY_INFORMATION))),
            parse_image_info(core.read(uuids.IMAGE_INFORMATION)),
            tuple(parse_sensor_info(core.read(uuids.SENSOR_INFORMATION))),
            tuple(parse_led_info(core.read(uuids.LED_INFORMATION))))


async def _find(tag: VirtualTag, ap: PawrAccessPoint) -> None:
    """Let a preconfigured label synchronize to its AP's train."""
    adv_set = ap.train.advertising_set
    assert adv_set is not None
    address = adv_set.random_address if adv_set.random_address not in (None, hci.Address.ANY) else ap.train.device.random_address
    await tag.find_train(address, ap.train.sid)
    await tag.settled()  # its adverts stop once it follows the train
