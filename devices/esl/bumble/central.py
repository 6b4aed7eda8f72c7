"""The ESL access point's connected-mode client on a Bumble device (central role): scan, connect, onboard, upload.

The counterpart of `gatt_ap.EslSession` over Bumble instead of bleak, so one host stack also
reaches the labels over ACL: extended scanning for the ESL service UUID, connection with bounded
retries, LE Secure Connections pairing (Just Works; a stored bond is re-used by encrypting, and
a label that forgot it is paired again), discovery of the ESL service and OTS, and the link
operations `client.EslClient` needs: GATT reads, writes and subscriptions, and the object bytes
over an LE credit-based L2CAP channel on PSM 0x0025 (onboarding, commands and the OTS upload
are `EslClient`'s, the same as over bleak). Every step is bounded in time and races the link: a
label that drops the link fails the step at once with `LabelUnreachable`, one that stays silent
with `LabelTimeout`. Bumble's errors are mapped here, once, to `devices.esl.errors`.

`EslCentral.session` connects to an advertising label; `EslCentral.attach` wraps a link made
some other way (through the AP's PAwR train), which is how PAST and images reach a synchronized one.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import random
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import structlog
from bumble import att, core, hci, l2cap, pairing
from bumble.controller import Controller
from bumble.device import Advertisement, Connection, Device, Peer
from bumble.gatt_client import CharacteristicProxy
from bumble.host import Host
from bumble.keys import MemoryKeyStore
from bumble.link import LocalLink
from bumble.transport.common import AsyncPipeSink

from devices.backoff import Backoff
from devices.esl import ots, uuids
from devices.esl.bumble.cancel import keeping_cancel, raise_if_cancelled
from devices.esl.client import EslClient
from devices.esl.errors import EslProtocolError, LabelTimeout, LabelUnreachable, ObjectTransferError
from devices.esl.radio import Label, LabelConfig, LabelInfo

log = structlog.get_logger(__name__)
T = TypeVar("T")

ATT_MTU = 247  # what the AP asks for: key material (24 octets) and OTS values fit one write
COC_MTU = 256
COC_MPS = 247
CONNECT_BACKOFF = Backoff(initial=0.25, maximum=2.0)
_ESL = core.UUID(uuids.ESL_SERVICE)
_OTS = core.UUID(uuids.OTS_SERVICE)
_SERVICE_LISTS = (core.AdvertisingData.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
                  core.AdvertisingData.INCOMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS)


def ap_pairing_config(_connection: Connection) -> pairing.PairingConfig:
    """LE Secure Connections, bonding, Just Works: a label has no way to show or take a passkey."""
    return pairing.PairingConfig(
        sc=True, mitm=False, bonding=True,
        delegate=pairing.PairingDelegate(io_capability=pairing.PairingDelegate.IoCapability.NO_OUTPUT_NO_INPUT),
    )


def advertises_esl(advertisement: Advertisement) -> bool:
    """True for a connectable advert that lists the ESL service (an unassociated or unsynchronized label)."""
    if not advertisement.is_connectable:
        return False
    return any(_ESL in (advertisement.data.get(kind) or []) for kind in _SERVICE_LISTS)


def att_error_name(err: att.ATT_Error) -> str:
    """`ATT error 0x0F INSUFFICIENT_ENCRYPTION`: the code and, where the ATT spec names it, its name."""
    code = int(err.error_code)
    try:
        return f"ATT error 0x{code:02X} {att.ErrorCode(code).name}"
    except ValueError:
        return f"ATT error 0x{code:02X}"


async def _disconnect(connection: Connection) -> None:
    """Close a link made just as its caller gave up (a link already gone is fine)."""
    with contextlib.suppress(core.BaseBumbleError):
        await connection.disconnect()


#: One channel opening at a time per Bumble device: Bumble counts signalling identifiers per link
#: but keeps pending LE credit-based connection requests by identifier alone, so two links opening
#: a channel at once collide ("too many concurrent connection requests", or an answer matched to
#: the other link's request). Opening takes one round trip; the transfers still run side by side.
_COC_OPENING: weakref.WeakKeyDictionary[Device, asyncio.Lock] = weakref.WeakKeyDictionary()


class EslClientSession(EslClient):
    """One open, encrypted ACL link to a label with its ESL service and OTS discovered: `EslClient` over Bumble."""

    def __init__(self, connection: Connection, label: Label, timeout: float) -> None:
        """Wrap a connected (and, where the label wants it, encrypted) link; `open` discovers."""
        super().__init__(label)
        self.connection = connection
        self._timeout = timeout
        self._peer = Peer(connection)
        self._chars: dict[core.UUID, CharacteristicProxy[bytes]] = {}
        self._gone: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
        connection.on(connection.EVENT_DISCONNECTION, self._on_disconnection)
        if connection.device.connections.get(connection.handle) is not connection:
            self._gone.set_result(None)  # gone before this session could hear why

    @property
    def connected(self) -> bool:
        """True until the link drops or is closed."""
        return not self._gone.done()

    def _reason(self) -> str:
        """` (reason 0x08)`: the HCI reason the link ended with, when this session saw it end."""
        reason = self._gone.result()
        return "" if reason is None else f" (reason 0x{reason:02X})"

    def _on_disconnection(self, reason: int) -> None:
        """Note the link's end: every step waiting on it fails now."""
        if not self._gone.done():
            self._gone.set_result(reason)

    async def bounded(self, what: str, awaitable: Awaitable[T]) -> T:
        """Run one step bounded by the timeout and by the link; map Bumble's errors to ours."""
        address = self.label.ble_address
        if self._gone.done():
            if inspect.iscoroutine(awaitable):
                awaitable.close()
            raise LabelUnreachable(f"{address}: {what}: the link is down{self._reason()}")
        task = asyncio.ensure_future(awaitable)
        task.add_done_callback(lambda t: t.cancelled() or t.exception())
        try:
            done, _ = await asyncio.wait((task, self._gone), timeout=self._timeout,
                                         return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not task.done():
                task.cancel()
        if task in done and not task.cancelled():
            try:
                return task.result()
            except att.ATT_Error as err:
                raise EslProtocolError(f"{address}: {what}: the label refused it, {att_error_name(err)}") from err
            except core.TimeoutError as err:
                raise LabelTimeout(f"{address}: {what} timed out in the host stack") from err
            except core.BaseBumbleError as err:
                raise LabelUnreachable(f"{address}: {what} failed: {err}") from err
            except asyncio.InvalidStateError as err:  # Bumble answering a request it had already given up on
                raise LabelUnreachable(f"{address}: {what} failed in the host stack: {err!r}") from err
        if self._gone.done():
            raise LabelUnreachable(f"{address}: {what}: the link dropped{self._reason()}")
        raise LabelTimeout(f"{address}: {what} timed out after {self._timeout} s")

    async def open(self) -> None:
        """Raise the ATT MTU and discover the ESL service and OTS with their characteristics."""
        await self.bounded("MTU exchange", self._peer.request_mtu(ATT_MTU))
        services = await self.bounded("service discovery", self._peer.discover_services([_ESL, _OTS]))
        if not any(s.uuid == _ESL for s in services):
            raise EslProtocolError(f"{self.label.ble_address} has no ESL service")
        for service in services:
            for char in await self.bounded("characteristic discovery", service.discover_characteristics()):
                self._chars[char.uuid] = char

    def _char(self, uuid: str) -> CharacteristicProxy[bytes]:
        """The discovered characteristic, or the protocol error of a label that lacks it."""
        try:
            return self._chars[core.UUID(uuid)]
        except KeyError as err:
            raise EslProtocolError(f"{self.label.ble_address} has no characteristic {uuid}") from err

    def _read(self, uuid: str) -> Awaitable[bytes]:
        """Bumble's read (long reads as needed)."""
        return self._char(uuid).read_value()

    def _write(self, uuid: str, value: bytes) -> Awaitable[None]:
        """Bumble's Write Request."""
        return self._char(uuid).write_value(value, with_response=True)

    def _subscribe(self, uuid: str, on_value: Callable[[bytes], None]) -> Awaitable[None]:
        """Notifications for the control point, indications for the OTS control points."""
        return self._char(uuid).subscribe(on_value, prefer_notify=uuid == uuids.ESL_CONTROL_POINT)

    async def send_object(self, data: bytes) -> None:
        """Open the object transfer channel, send the bytes SDU by SDU within the credits, close it."""
        spec = l2cap.LeCreditBasedChannelSpec(psm=ots.OTS_PSM, mtu=COC_MTU, mps=COC_MPS)
        async with _COC_OPENING.setdefault(self.connection.device, asyncio.Lock()):
            channel = await self.bounded("open the object transfer channel", self.connection.create_l2cap_channel(spec))
        closed = asyncio.Event()
        channel.on(channel.EVENT_CLOSE, closed.set)
        try:
            for pos in range(0, len(data), channel.peer_mtu):
                if closed.is_set():
                    raise ObjectTransferError(f"{self.label.ble_address}: the label closed the transfer channel")
                channel.write(data[pos:pos + channel.peer_mtu])
                await self.bounded("object transfer", channel.drain())
        finally:
            if not closed.is_set() and channel.state is l2cap.LeCreditBasedChannel.State.CONNECTED:
                await self.bounded("close the object transfer channel", channel.disconnect())

    async def close(self) -> None:
        """Disconnect (bounded; a link already gone is fine)."""
        if self._gone.done():
            return
        try:
            async with asyncio.timeout(self._timeout):
                await self.connection.disconnect()
        except (core.BaseBumbleError, TimeoutError) as err:
            log.debug("esl.disconnect.failed", address=self.label.ble_address, error=str(err))


class EslCentral:
    """The AP's connected-mode side on one Bumble device: finds, connects to, pairs with and serves labels."""

    def __init__(
        self, device: Device, *, timeout: float = 10.0, connect_timeout: float = 5.0, connect_attempts: int = 3,
        encrypt: bool = True, seed: int = 0,
    ) -> None:
        """Take a powered-on Bumble device (a virtual controller or a dongle); keep bonds in memory."""
        self.device = device
        self._timeout = timeout
        self._connect_timeout = connect_timeout
        self._attempts = connect_attempts
        self._encrypt = encrypt
        self._rng = random.Random(seed)
        if device.keystore is None:
            device.keystore = MemoryKeyStore()
        device.pairing_config_factory = ap_pairing_config

    @classmethod
    async def create(cls, link: LocalLink, address: str = "F0:E5:00:00:00:01", **options: Any) -> EslCentral:
        """An AP on its own stock Bumble controller on a virtual link, powered on."""
        controller = Controller("esl-ap", link=link)
        device = Device(name="store-edge AP", address=hci.Address(address),
                        host=Host(controller, AsyncPipeSink(controller)))
        await device.power_on()
        return cls(device, **options)

    async def discover(self, timeout: float) -> list[str]:
        """Scan (extended, passive) for `timeout` seconds; the addresses of labels advertising the ESL service."""
        found: dict[str, None] = {}

        def on_advertisement(advertisement: Advertisement) -> None:
            """Keep each ESL advertiser once, in the order heard."""
            if advertises_esl(advertisement):
                found.setdefault(str(advertisement.address), None)

        self.device.on(Device.EVENT_ADVERTISEMENT, on_advertisement)
        try:
            await self.device.start_scanning(legacy=False, active=False, filter_duplicates=True)
            await asyncio.sleep(timeout)
        except core.BaseBumbleError as err:
            raise LabelUnreachable(f"scan failed: {err}") from err
        finally:
            self.device.remove_listener(Device.EVENT_ADVERTISEMENT, on_advertisement)
            with contextlib.suppress(core.BaseBumbleError):
                await self.device.stop_scanning()
        return list(found)

    async def _connect_once(self, label: Label) -> Connection:
        """One connection attempt; the label must be advertising."""
        try:  # a bonded label is first looked for by scanning (address resolution): Bumble bounds only the connect
            async with asyncio.timeout(2 * self._connect_timeout + 1):
                return await keeping_cancel(self.device.connect(hci.Address(label.ble_address), timeout=self._connect_timeout),
                                            on_late_result=_disconnect)
        except (core.BaseBumbleError, TimeoutError) as err:
            raise LabelUnreachable(f"{label.ble_address}: no connection: {str(err) or type(err).__name__}") from err

    async def _secure(self, connection: Connection, label: Label) -> None:
        """Encrypt with the stored bond, or pair (LE Secure Connections) when there is none or the label forgot it."""
        session = EslClientSession(connection, label, self._timeout)
        assert self.device.keystore is not None
        if await self.device.keystore.get(str(connection.peer_address)) is not None:
            try:
                await session.bounded("encryption with the bond", connection.encrypt())
                return
            except LabelUnreachable:
                if not session.connected:
                    raise
                log.info("esl.bond.forgotten", address=label.ble_address)
                await self.device.keystore.delete(str(connection.peer_address))
        await session.bounded("pairing", connection.pair())

    async def connect(self, label: Label) -> EslClientSession:
        """Connect (retrying with back-off), encrypt and discover; the caller closes the session."""
        error: LabelUnreachable | LabelTimeout | None = None
        for attempt in range(self._attempts):
            raise_if_cancelled()
            if attempt:
                await asyncio.sleep(CONNECT_BACKOFF.delay(attempt - 1, self._rng))
            try:
                connection = await self._connect_once(label)
                return await self.attach(connection, label)
            except (LabelUnreachable, LabelTimeout) as err:
                log.info("esl.connect.failed", address=label.ble_address, attempt=attempt + 1, error=str(err))
                error = err
        assert error is not None
        raise LabelUnreachable(f"{label.ble_address}: connection failed after {self._attempts} attempts: {error}") \
            from error

    async def attach(self, connection: Connection, label: Label) -> EslClientSession:
        """A session over a new link (made here, or through the PAwR train): encrypt, discover; else close and raise."""
        session = EslClientSession(connection, label, self._timeout)
        try:
            if self._encrypt and not connection.encryption:
                await self._secure(connection, label)
            await session.open()
        except BaseException:
            await session.close()
            raise
        return session

    @contextlib.asynccontextmanager
    async def session(self, label: Label) -> AsyncIterator[EslClientSession]:
        """Connect, yield a session, always disconnect."""
        session = await self.connect(label)
        try:
            yield session
        finally:
            await session.close()

    async def configure(self, label: Label, config: LabelConfig) -> LabelInfo:
        """Onboard a label in one connection (esl.md §7 Configuring); PAST is the train's business."""
        async with self.session(label) as s:
            return await s.onboard(config)

