"""One operation per label at a time: the pusher, pick lights, cold chain and battery sweep share the radio.

A label accepts one connection; two parts of the job reaching for it at once would make one fail
with "already connected". This wrapper queues them per label instead, behind the same EslRadio ABC.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from devices.esl.codec import Command, DisplayState, Response
from devices.esl.radio import EslRadio, Label, LabelConfig, LabelInfo
from devices.esl.sensors import SensorReading

T = TypeVar("T")


class PerLabelRadio(EslRadio):
    """Delegates to another radio, serialising operations on the same label."""

    def __init__(self, inner: EslRadio) -> None:
        """Wrap `inner`."""
        self.inner = inner
        self._locks: dict[str, asyncio.Lock] = {}

    async def _one(self, label: Label, op: Callable[[], Awaitable[T]]) -> T:
        """Run `op` once no other operation holds `label`."""
        lock = self._locks.setdefault(label.ble_address, asyncio.Lock())
        async with lock:
            return await op()

    async def discover(self, timeout: float) -> list[str]:
        """Scanning touches no label connection."""
        return await self.inner.discover(timeout)

    async def configure(self, label: Label, config: LabelConfig) -> LabelInfo:
        """See EslRadio.configure."""
        return await self._one(label, lambda: self.inner.configure(label, config))

    async def info(self, label: Label) -> LabelInfo:
        """See EslRadio.info."""
        return await self._one(label, lambda: self.inner.info(label))

    async def command(self, label: Label, command: Command) -> Response:
        """See EslRadio.command."""
        return await self._one(label, lambda: self.inner.command(label, command))

    async def push_image(
        self, label: Label, display: int, image: bytes, *, image_index: int = 0, show: bool = True,
    ) -> DisplayState | None:
        """See EslRadio.push_image."""
        return await self._one(label, lambda: self.inner.push_image(label, display, image, image_index=image_index, show=show))

    async def read_sensor(self, label: Label, index: int) -> SensorReading:
        """See EslRadio.read_sensor."""
        return await self._one(label, lambda: self.inner.read_sensor(label, index))
