"""Connected-mode ESL access point over bleak: one GATT session per label operation.

The bleak client class and the scanner are injected (defaults: bleak's), which is the seam the
simulator plugs into. Library errors are caught here and re-raised as the driver's own. The ESL
and OTS procedures themselves are `client.EslClient`'s; `EslSession` only adapts bleak to it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol, TypeVar

import structlog
from bleak import BleakScanner
from bleak.backends.device import BLEDevice
from bleak.exc import BleakError
from bleak_retry_connector import BleakClientWithServiceCache, establish_connection

from devices.esl import ots, uuids
from devices.esl.client import EslClient
from devices.esl.codec import Command, DisplayImage, DisplayState, ErrorCode, ReadSensorData, Response, SensorValue
from devices.esl.errors import EslProtocolError, LabelRejected, LabelTimeout, LabelUnreachable
from devices.esl.info import parse_sensor_info
from devices.esl.radio import EslRadio, Label, LabelConfig, LabelInfo
from devices.esl.sensors import SensorReading, interpret
from devices.esl.transport import L2capCocTransport, ObjectTransport

log = structlog.get_logger(__name__)
T = TypeVar("T")


class EslScanner(Protocol):
    """Finds labels on the air."""

    async def discover(self, timeout: float) -> list[BLEDevice]:
        """Devices advertising the ESL service."""

    async def find(self, address: str, timeout: float) -> BLEDevice | None:
        """The device with this address, if it is advertising."""


class BleakEslScanner:
    """The real scanner: bleak, filtered on the ESL service UUID."""

    async def discover(self, timeout: float) -> list[BLEDevice]:
        """Scan for `timeout` seconds for the ESL service."""
        return await BleakScanner.discover(timeout=timeout, service_uuids=[uuids.ESL_SERVICE])

    async def find(self, address: str, timeout: float) -> BLEDevice | None:
        """Scan until the address shows up or `timeout` passes."""
        return await BleakScanner.find_device_by_address(address, timeout=timeout)


class EslSession(EslClient):
    """One open GATT connection to a label over bleak: the link operations of `EslClient`, each bounded in time."""

    def __init__(
        self, client: Any, label: Label, transport_factory: Callable[[], ObjectTransport], timeout: float,
    ) -> None:
        """Wrap a connected bleak client."""
        super().__init__(label)
        self._client = client
        self._transport_factory = transport_factory
        self._timeout = timeout

    async def bounded(self, what: str, awaitable: Awaitable[T]) -> T:
        """Run one GATT operation with the session timeout, mapping bleak errors to ours."""
        try:
            async with asyncio.timeout(self._timeout):
                return await awaitable
        except TimeoutError as err:
            raise LabelTimeout(f"{self.label.ble_address}: {what} timed out after {self._timeout} s") from err
        except BleakError as err:
            raise LabelUnreachable(f"{self.label.ble_address}: {what} failed: {err}") from err

    def _read(self, uuid: str) -> Awaitable[bytearray]:
        """bleak's read."""
        return self._client.read_gatt_char(uuid)

    def _write(self, uuid: str, value: bytes) -> Awaitable[None]:
        """bleak's write with response."""
        return self._client.write_gatt_char(uuid, value, response=True)

    def _subscribe(self, uuid: str, on_value: Callable[[bytes], None]) -> Awaitable[None]:
        """bleak's notifications (indications alike)."""
        return self._client.start_notify(uuid, lambda _char, data: on_value(bytes(data)))

    async def send_object(self, data: bytes) -> None:
        """The object bytes over a new transport channel to the label's OTS PSM, closed afterwards."""
        transport = self._transport_factory()
        try:
            async with asyncio.timeout(self._timeout):
                await transport.open(self.label.ble_address, ots.OTS_PSM)
                await transport.send(data)
        except TimeoutError as err:
            raise LabelTimeout(f"{self.label.ble_address}: image transfer timed out") from err
        finally:
            await transport.close()

    async def check_service(self) -> None:
        """Refuse a device that does not expose the ESL service."""
        services = self._client.services
        if services is None or services.get_service(uuids.ESL_SERVICE) is None:
            raise EslProtocolError(f"{self.label.ble_address} has no ESL service")


class GattAccessPoint(EslRadio):
    """ESL access point that reaches each label over its own GATT connection (bleak)."""

    def __init__(
        self,
        *,
        client_class: type[Any] | Callable[..., Any] = BleakClientWithServiceCache,
        scanner: EslScanner | None = None,
        transport_factory: Callable[[], ObjectTransport] = L2capCocTransport,
        connect_attempts: int = 4,
        timeout: float = 10.0,
        find_timeout: float = 10.0,
        pair: bool = True,
    ) -> None:
        """Choose the bleak seam, retry count and per-operation timeout once, at construction."""
        self._client_class = client_class
        self._scanner = scanner or BleakEslScanner()
        self._transport_factory = transport_factory
        self._attempts = connect_attempts
        self._timeout = timeout
        self._find_timeout = find_timeout
        self._pair = pair
        self._devices: dict[str, BLEDevice] = {}

    async def discover(self, timeout: float) -> list[str]:
        """Scan for ESL adverts; remember the devices for the next connection."""
        try:
            found = await self._scanner.discover(timeout)
        except BleakError as err:
            raise LabelUnreachable(f"scan failed: {err}") from err
        self._devices.update((d.address, d) for d in found)
        return [d.address for d in found]

    async def _device(self, address: str) -> BLEDevice:
        """The BLEDevice for an address, from the last scan or a targeted one."""
        if address in self._devices:
            return self._devices[address]
        try:
            device = await self._scanner.find(address, self._find_timeout)
        except BleakError as err:
            raise LabelUnreachable(f"scan for {address} failed: {err}") from err
        if device is None:
            raise LabelUnreachable(f"{address} is not advertising")
        self._devices[address] = device
        return device

    @contextlib.asynccontextmanager
    async def session(self, label: Label) -> AsyncIterator[EslSession]:
        """Connect (with retries), yield a session, always disconnect."""
        device = await self._device(label.ble_address)
        try:
            client = await establish_connection(
                self._client_class,  # type: ignore[arg-type]  # any callable building a client will do
                device, label.ble_address, max_attempts=self._attempts, pair=self._pair,
            )
        except (BleakError, TimeoutError) as err:
            log.info("esl.connect.failed", address=label.ble_address, error=str(err))
            raise LabelUnreachable(f"{label.ble_address}: connection failed after retries: {err}") from err
        try:
            session = EslSession(client, label, self._transport_factory, self._timeout)
            await session.check_service()
            yield session
        finally:
            try:
                async with asyncio.timeout(self._timeout):
                    await client.disconnect()
            except (BleakError, TimeoutError) as err:
                log.debug("esl.disconnect.failed", address=label.ble_address, error=str(err))

    async def configure(self, label: Label, config: LabelConfig) -> LabelInfo:
        """Onboard a label (Configuring state) and end with Update Complete."""
        async with self.session(label) as s:
            return await s.onboard(config)

    async def info(self, label: Label) -> LabelInfo:
        """Read the information characteristics."""
        async with self.session(label) as s:
            info = await s.read_info()
            await s.update_complete()
            return info

    async def command(self, label: Label, command: Command) -> Response:
        """One command in its own session, closed by Update Complete."""
        async with self.session(label) as s:
            resp = await s.command(command)
            await s.update_complete()
        assert resp is not None
        return resp

    async def push_image(
        self, label: Label, display: int, image: bytes, *, image_index: int = 0, show: bool = True,
    ) -> DisplayState | None:
        """Upload to a slot over OTS, then Display Image, in one connection."""
        async with self.session(label) as s:
            await s.upload_image(image_index, image)
            resp = await s.command(DisplayImage(label.esl.esl_id, display, image_index)) if show else None
            await s.update_complete()
        assert resp is None or isinstance(resp, DisplayState)
        return resp

    async def read_sensor(self, label: Label, index: int) -> SensorReading:
        """Read Sensor Data, interpreted with the label's Sensor Information."""
        async with self.session(label) as s:
            sensors = parse_sensor_info(await s.read_char(uuids.SENSOR_INFORMATION))
            if not 0 <= index < len(sensors):
                raise LabelRejected(ErrorCode.INVALID_PARAMETERS, f"label has no sensor {index}")
            resp = await s.command(ReadSensorData(label.esl.esl_id, index))
            await s.update_complete()
        assert isinstance(resp, SensorValue)
        return interpret(sensors[index], resp.data)
