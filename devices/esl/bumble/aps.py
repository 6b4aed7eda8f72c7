"""Several access points (radios, each its own PAwR train) as one `EslRadio`: each label served by one of them.

Coverage and throughput grow with radios: every train carries 3 LED Controls per group per
interval on its own, and connections through different trains run at the same time. A label
belongs to the AP that onboarded it (or adopted it); a new label goes to the AP serving the
fewest.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from devices.esl.bumble.ap import PawrAccessPoint
from devices.esl.codec import Command, DisplayState, Response
from devices.esl.errors import LabelUnreachable
from devices.esl.radio import EslRadio, Label, LabelConfig, LabelInfo
from devices.esl.sensors import SensorReading


class AccessPoints(EslRadio):
    """Routes each operation to the AP that serves the label."""

    def __init__(self, aps: Sequence[PawrAccessPoint] = ()) -> None:
        """Radios may be added later (`add`), once they are powered on."""
        self.aps: list[PawrAccessPoint] = list(aps)

    def add(self, ap: PawrAccessPoint) -> None:
        """One more radio."""
        self.aps.append(ap)

    def ap_for(self, label: Label) -> PawrAccessPoint:
        """The AP serving `label` (LabelUnreachable when none does)."""
        for ap in self.aps:
            if ap.serves(label):
                return ap
        raise LabelUnreachable(f"{label.ble_address}: no access point serves this label (not onboarded)")

    async def discover(self, timeout: float) -> list[str]:
        """Labels advertising the ESL service, as any radio hears them."""
        found = await asyncio.gather(*(ap.discover(timeout) for ap in self.aps))
        return list(dict.fromkeys(address for addresses in found for address in addresses))

    async def configure(self, label: Label, config: LabelConfig) -> LabelInfo:
        """Onboard on the AP serving the fewest labels (or the one already serving it)."""
        served = [ap for ap in self.aps if ap.serves(label)]
        if not served and not self.aps:
            raise LabelUnreachable("no access point is running")
        ap = served[0] if served else min(self.aps, key=lambda a: a.label_count)
        return await ap.configure(label, config)

    async def info(self, label: Label) -> LabelInfo:
        """See EslRadio.info."""
        return await self.ap_for(label).info(label)

    async def command(self, label: Label, command: Command) -> Response:
        """See EslRadio.command."""
        return await self.ap_for(label).command(label, command)

    async def push_image(
        self, label: Label, display: int, image: bytes, *, image_index: int = 0, show: bool = True,
    ) -> DisplayState | None:
        """See EslRadio.push_image."""
        return await self.ap_for(label).push_image(label, display, image, image_index=image_index, show=show)

    async def read_sensor(self, label: Label, index: int) -> SensorReading:
        """See EslRadio.read_sensor."""
        return await self.ap_for(label).read_sensor(label, index)

    async def broadcast(self, group: int, command: Command) -> None:
        """The command to group `group` of every train (ESL addresses are per train)."""
        await asyncio.gather(*(ap.broadcast(group, command) for ap in self.aps))

    async def close(self) -> None:
        """Stop every radio."""
        for ap in self.aps:
            await ap.close()
