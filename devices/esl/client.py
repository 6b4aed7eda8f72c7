"""The ESL profile's client procedures over one open link, written once for every backend.

Onboarding (ESL address, keys, time, the four information characteristics, Update Complete),
control-point commands answered by notifications, and image upload through the Object Transfer
Service (OLCP Go To, Object Size, OACP Write, the bytes over the Object Transfer Channel, OACP
Calculate Checksum) are the same whatever carries them. A backend (`gatt_ap.EslSession` over
bleak, `bumble.central.EslClientSession` over Bumble) is a thin adapter that supplies four link
operations (read, write, subscribe, send an object on the L2CAP CoC) and `bounded`, which runs
one step within its time limit and maps the library's errors to `devices.esl.errors`.
"""

from __future__ import annotations

import abc
import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import structlog

from devices.esl import ots, uuids
from devices.esl.answers import check_response
from devices.esl.codec import BasicState, BasicStateFlag, Command, EslAddress, FactoryReset, Response, UpdateComplete
from devices.esl.codec import decode_response, encode_command
from devices.esl.errors import ObjectTransferError
from devices.esl.info import parse_display_info, parse_image_info, parse_led_info, parse_sensor_info
from devices.esl.radio import Label, LabelConfig, LabelInfo

log = structlog.get_logger(__name__)
T = TypeVar("T")

#: The information characteristics onboarding reads, in the order `parse_label_info` takes them.
INFORMATION = (uuids.DISPLAY_INFORMATION, uuids.IMAGE_INFORMATION, uuids.SENSOR_INFORMATION, uuids.LED_INFORMATION)


def parse_label_info(values: Sequence[bytes]) -> LabelInfo:
    """A label's information from the values of its `INFORMATION` characteristics, in that order."""
    displays, images, sensors, leds = values
    return LabelInfo(displays=tuple(parse_display_info(displays)), max_image_index=parse_image_info(images),
                     sensors=tuple(parse_sensor_info(sensors)), leds=tuple(parse_led_info(leds)))


class EslClient(abc.ABC):
    """One open link to a label: the backend's link operations below, the profile's procedures on top."""

    def __init__(self, label: Label) -> None:
        """No characteristic subscribed yet."""
        self.label = label
        self._queues: dict[str, asyncio.Queue[bytes]] = {}

    # What a backend supplies ---------------------------------------------------------------------
    @abc.abstractmethod
    async def bounded(self, what: str, awaitable: Awaitable[T]) -> T:
        """Run one step within the session's time limit, mapping the library's errors to ours."""

    @abc.abstractmethod
    def _read(self, uuid: str) -> Awaitable[Any]:
        """The library's read of a characteristic (bounded by the caller)."""

    @abc.abstractmethod
    def _write(self, uuid: str, value: bytes) -> Awaitable[Any]:
        """The library's Write Request (bounded by the caller)."""

    @abc.abstractmethod
    def _subscribe(self, uuid: str, on_value: Callable[[bytes], None]) -> Awaitable[Any]:
        """The library's start of notifications or indications of a characteristic (bounded by the caller)."""

    @abc.abstractmethod
    async def send_object(self, data: bytes) -> None:
        """Open the Object Transfer Channel (L2CAP CoC, PSM 0x0025), send the bytes, close it; bounded."""

    # The profile, once -------------------------------------------------------------------------
    async def read_char(self, uuid: str) -> bytes:
        """Read one characteristic."""
        return bytes(await self.bounded(f"read {uuid}", self._read(uuid)))

    async def write(self, uuid: str, value: bytes, what: str | None = None) -> None:
        """One Write Request."""
        await self.bounded(what or f"write {uuid}", self._write(uuid, value))

    async def _queue(self, uuid: str) -> asyncio.Queue[bytes]:
        """Queue notifications (control point) or indications (OTS control points) of a characteristic, once."""
        if uuid not in self._queues:
            queue: asyncio.Queue[bytes] = asyncio.Queue()
            await self.bounded(f"subscribe {uuid}", self._subscribe(uuid, lambda value: queue.put_nowait(bytes(value))))
            self._queues[uuid] = queue
        return self._queues[uuid]

    async def request(self, uuid: str, payload: bytes, what: str) -> bytes:
        """Write to a control point and wait for the next notification or indication on it."""
        queue = await self._queue(uuid)
        while not queue.empty():
            log.debug("esl.notification.stale", address=self.label.ble_address, data=queue.get_nowait().hex())
        await self.write(uuid, payload, what)
        return await self.bounded(f"response to {what}", queue.get())

    async def write_address(self, address: EslAddress) -> None:
        """Write the ESL Address characteristic."""
        await self.write(uuids.ESL_ADDRESS, address.encode())

    async def write_config(self, config: LabelConfig) -> None:
        """Write both key materials and the absolute time."""
        await self.write(uuids.AP_SYNC_KEY_MATERIAL, config.ap_sync_key.encode())
        await self.write(uuids.ESL_RESPONSE_KEY_MATERIAL, config.response_key.encode())
        await self.write_time(config.absolute_time_ms)

    async def write_time(self, absolute_time_ms: int) -> None:
        """Set the label's absolute time (ms, wraps at 2^32)."""
        await self.write(uuids.ESL_CURRENT_ABSOLUTE_TIME, (absolute_time_ms & 0xFFFFFFFF).to_bytes(4, "little"))

    async def read_info(self) -> LabelInfo:
        """Read the four information characteristics."""
        return parse_label_info([await self.read_char(uuid) for uuid in INFORMATION])

    async def command(self, cmd: Command) -> Response | None:
        """Send one control-point command and return its checked response (None for Factory Reset)."""
        payload = encode_command(cmd)
        if isinstance(cmd, FactoryReset):
            await self.write(uuids.ESL_CONTROL_POINT, payload, "factory reset")
            return None
        data = await self.request(uuids.ESL_CONTROL_POINT, payload, type(cmd).__name__)
        return check_response(cmd, decode_response(data))

    async def raw_command(self, payload: bytes) -> bytes:
        """Write raw control-point bytes and return the raw notification (for probing a label's answers)."""
        return await self.request(uuids.ESL_CONTROL_POINT, payload, f"command {payload.hex()}")

    async def update_complete(self) -> BasicStateFlag:
        """End the Configuring/Updating state."""
        resp = await self.command(UpdateComplete(self.label.esl.esl_id))
        assert isinstance(resp, BasicState)
        return resp.flags

    async def onboard(self, config: LabelConfig) -> LabelInfo:
        """Configure a label: ESL address, keys, time, information, then Update Complete (PAST may follow)."""
        await self.write_address(self.label.esl)
        await self.write_config(config)
        info = await self.read_info()
        await self.update_complete()
        return info

    async def _oacp(self, req: ots.OacpRequest) -> ots.OacpResponse:
        """One OACP request and its indication; anything but Success for this opcode is an ObjectTransferError."""
        raw = ots.encode_oacp(req)
        resp = ots.decode_oacp_response(await self.request(uuids.OTS_OACP, raw, f"OACP 0x{raw[0]:02X}"))
        if resp.request_opcode != raw[0] or not resp.ok:
            raise ObjectTransferError(f"OACP 0x{raw[0]:02X} failed with result 0x{resp.result:02X}", resp.result)
        return resp

    async def upload_image(self, image_index: int, data: bytes) -> None:
        """Write framebuffer bytes into an image slot over OTS and its transfer channel; verify the CRC-32."""
        goto = ots.encode_olcp(ots.OlcpGoTo(ots.image_object_id(image_index)))
        olcp = ots.decode_olcp_response(await self.request(uuids.OTS_OLCP, goto, "OLCP Go To"))
        if olcp.request_opcode != ots.OlcpOpcode.GO_TO or not olcp.ok:
            raise ObjectTransferError(f"image slot {image_index}: Go To failed, 0x{olcp.result:02X}", olcp.result)
        _, allocated = ots.decode_object_size(await self.read_char(uuids.OTS_OBJECT_SIZE))
        if len(data) > allocated:
            raise ObjectTransferError(f"image of {len(data)} octets exceeds the slot's {allocated}")
        await self._oacp(ots.OacpWrite(0, len(data)))
        await self.send_object(data)
        crc = await self._oacp(ots.OacpCalculateChecksum(0, len(data)))
        if crc.checksum != ots.checksum(data):
            raise ObjectTransferError(
                f"image slot {image_index}: checksum 0x{crc.checksum:08X} != 0x{ots.checksum(data):08X}"
            )
