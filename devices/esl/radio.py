"""The access-point interface the daemon drives, independent of how the radio reaches the labels.

Connected-mode GATT over bleak (gatt_ap.py) is one backend; PAwR on Bumble (bumble/ap.py, bumble/aps.py) the other.
"""

from __future__ import annotations

import abc
import os
from dataclasses import dataclass, field

from devices.esl.codec import (
    BasicState, BasicStateFlag, Command, DisplayImage, DisplayState, DisplayTimedImage, EslAddress, LedControl, LedState,
    LedTimedControl, Ping, Response,
)
from devices.esl.errors import EslProtocolError
from devices.esl.info import DisplayInfo, LedInfo, SensorInfo
from devices.esl.led import LedParams
from devices.esl.sensors import SensorReading


@dataclass(frozen=True, slots=True)
class Label:
    """How to reach one label: its BLE address (for the link) and its ESL address (for commands)."""

    ble_address: str
    esl: EslAddress


@dataclass(frozen=True, slots=True)
class LabelInfo:
    """What a label reports about itself in its information characteristics."""

    displays: tuple[DisplayInfo, ...]
    max_image_index: int
    sensors: tuple[SensorInfo, ...]
    leds: tuple[LedInfo, ...]


@dataclass(frozen=True, slots=True)
class KeyMaterial:
    """A 16-octet AES-128 session key and an 8-octet IV, as written to the key characteristics (never shown in a repr)."""

    key: bytes = field(repr=False)
    iv: bytes = field(repr=False)

    def __post_init__(self) -> None:
        """Reject key material of the wrong size."""
        if len(self.key) != 16 or len(self.iv) != 8:
            raise EslProtocolError("key material is a 16-octet key and an 8-octet IV")

    @classmethod
    def generate(cls) -> KeyMaterial:
        """Fresh random key material."""
        return cls(os.urandom(16), os.urandom(8))

    def encode(self) -> bytes:
        """The 24-octet characteristic value (key then IV; on-air key byte order is unverified, esl.md §1)."""
        return self.key + self.iv


@dataclass(frozen=True, slots=True)
class LabelConfig:
    """What onboarding writes besides the ESL address: both keys and the AP's absolute time (ms)."""

    ap_sync_key: KeyMaterial
    response_key: KeyMaterial
    absolute_time_ms: int


class EslRadio(abc.ABC):
    """The operations the daemon needs from an ESL access point."""

    @abc.abstractmethod
    async def discover(self, timeout: float) -> list[str]:
        """BLE addresses of labels advertising the ESL service (unassociated or lost sync)."""

    @abc.abstractmethod
    async def configure(self, label: Label, config: LabelConfig) -> LabelInfo:
        """Onboard a label: write its ESL address, keys and time, read its info, end with Update Complete."""

    @abc.abstractmethod
    async def info(self, label: Label) -> LabelInfo:
        """Read the label's display, image, sensor and LED information."""

    @abc.abstractmethod
    async def command(self, label: Label, command: Command) -> Response:
        """Send one ESL command to the label and return its answer, checked (an error response raises)."""

    async def ping(self, label: Label) -> BasicStateFlag:
        """The label's Basic State."""
        response = await self.command(label, Ping(label.esl.esl_id))
        assert isinstance(response, BasicState)
        return response.flags

    @abc.abstractmethod
    async def push_image(
        self, label: Label, display: int, image: bytes, *, image_index: int = 0, show: bool = True,
    ) -> DisplayState | None:
        """Store framebuffer bytes in an image slot and (if `show`) display it; None when not shown."""

    async def display_image(
        self, label: Label, display: int, image_index: int, *, at_ms: int | None = None,
    ) -> DisplayState:
        """Show a stored slot now (Display Image), or at the label's absolute time `at_ms` (0 cancels a pending one)."""
        esl_id = label.esl.esl_id
        command: Command = (DisplayImage(esl_id, display, image_index) if at_ms is None
                            else DisplayTimedImage(esl_id, display, image_index, at_ms))
        response = await self.command(label, command)
        assert isinstance(response, DisplayState)
        return response

    async def flash_led(self, label: Label, led: int, params: LedParams, *, at_ms: int | None = None) -> LedState:
        """Run an LED pattern now (LED Control), or at absolute time `at_ms` (LED Timed Control)."""
        esl_id = label.esl.esl_id
        command: Command = (LedControl(esl_id, led, params) if at_ms is None
                            else LedTimedControl(esl_id, led, params, at_ms))
        response = await self.command(label, command)
        assert isinstance(response, LedState)
        return response

    async def stop_led(self, label: Label, led: int) -> LedState:
        """Turn an LED off: steady off replaces any running pattern."""
        return await self.flash_led(label, led, LedParams.off())

    @abc.abstractmethod
    async def read_sensor(self, label: Label, index: int) -> SensorReading:
        """Read and interpret one sensor; raises LabelBusy when the label says Retry."""
