"""A simulated shelf label as a Bumble device: the ESL service and OTS as a real GATT server on a virtual radio.

`VirtualTag` puts the shared tag core (`devices.esl.tag_core.TagCore`) behind Bumble's host on a
virtual controller, so the AP reaches it over real HCI, L2CAP, SMP and ATT encodings:

- the ESL service (esl.md §1): ESL Address, both key materials and Current Absolute Time
  (write), Display/Image/Sensor/LED Information (read), the ESL Control Point (write, write
  without response, notify);
- the Object Transfer Service (esl.md §9): OTS Feature, Object Name/Type/Size/ID/Properties
  (read), OACP and OLCP (write, indicate), the object transfer channel as an LE credit-based
  L2CAP channel on PSM 0x0025;
- with `encrypted` (the default, as NCS) every ESL and OTS attribute needs an encrypted link,
  so the AP pairs first: LE Secure Connections, Just Works (a shelf label has no display for a
  passkey while unassociated, nor buttons), bonded; Unassociate and Factory Reset drop the bond;
- connectable extended advertising with the ESL service UUID while Unassociated or
  Unsynchronized (NCS: 450–500 ms, 720–800 × 0.625 ms), nothing while Synchronized;
- faults: out of range (off the link: nothing heard either way, links dropped with Connection
  Timeout), a seeded chance that a connection fails right after it is made
  (`core.connect_failure_rate`) or drops at any ATT request (`link_drop_rate`), and the core's
  mute/corrupt/retry knobs.

The controller is handed in. On a stock Bumble `Controller` the tag is connected-mode only. On
the emulating `PawrController` it follows the AP's train as a real tag does: its `PawrReceiver`
takes PAST (or finds the train by scanning, for a preconfigured label of the virtual store),
listens to its group's subevent, decrypts each packet with the AP sync key, runs it through the
core (`handle_sync_packet`) and answers in its response slot under its response key.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Coroutine
from typing import Any

from bumble import att, core, gatt, hci, l2cap, ll, pairing
from bumble.controller import Controller
from bumble.device import AdvertisingEventProperties, AdvertisingParameters, AdvertisingSet, Connection, Device
from bumble.host import Host
from bumble.keys import MemoryKeyStore
from bumble.link import LocalLink
from bumble.transport.common import AsyncPipeSink

from devices.esl import ots, uuids
from devices.esl.bumble.controller import PawrController, RadioModel
from devices.esl.codec import EslAddress
from devices.esl.bumble.host import PawrHost, PawrReceiver, PawrReport, PawrSync
from devices.esl.ead import EadKey, Randomizer
from devices.esl.errors import EslProtocolError, LabelUnreachable, TransportUnavailable
from devices.esl.radio import KeyMaterial
from devices.esl.sync_packet import open_payload, seal_payload
from devices.esl.fridge import Fridge
from devices.esl.tag_core import (
    MODELS, OBJECT_METADATA, OTS_FEATURE, REFERENCE, AttError, EslState, LabelModel, SyncResponse, TagCore,
    TagEnvironment, TagQuirks, TagWorld,
)

ADVERTISING_INTERVAL_MS = 500.0  # NCS peripheral_esl: 720-800 x 0.625 ms
SYNC_TIMEOUT_S = 20.0  # NCS peripheral_esl subscribes to PAST with a 2000 x 10 ms sync timeout (esl.md §8.1)
OTS_CHANNEL_MTU = 256  # SDU size the tag takes on the object transfer channel
OTS_CHANNEL_MPS = 247  # one LE data PDU with Data Length Extension
OTS_CHANNEL_CREDITS = 32
_NOTIFY = gatt.Characteristic.Properties.NOTIFY
_INDICATE = gatt.Characteristic.Properties.INDICATE
_READ = gatt.Characteristic.Properties.READ
_WRITE = gatt.Characteristic.Properties.WRITE
_WRITE_NO_RESPONSE = gatt.Characteristic.Properties.WRITE_WITHOUT_RESPONSE
_CCCD_IMPROPERLY_CONFIGURED = 0xFD  # ATT error of the OTS spec: indications for OACP/OLCP not enabled
_ESL_WRITES = (uuids.ESL_ADDRESS, uuids.AP_SYNC_KEY_MATERIAL, uuids.ESL_RESPONSE_KEY_MATERIAL,
               uuids.ESL_CURRENT_ABSOLUTE_TIME)
_ESL_READS = (uuids.DISPLAY_INFORMATION, uuids.IMAGE_INFORMATION, uuids.SENSOR_INFORMATION, uuids.LED_INFORMATION)


class PeripheralController(Controller):
    """A stock Bumble controller that never scans or initiates, so an indexed link hands it no adverts.

    Enough for a tag reached over connections; the emulating PAwR controller replaces it where tags
    must also hear a train.
    """

    is_listening = False


def advertising_data(name: str = "ESL") -> bytes:
    """The AD structures an unassociated or unsynchronized tag advertises: flags, the ESL service UUID, a name."""
    return bytes(core.AdvertisingData([
        (core.AdvertisingData.FLAGS, bytes((core.AdvertisingData.LE_GENERAL_DISCOVERABLE_MODE_FLAG
                                            | core.AdvertisingData.BR_EDR_NOT_SUPPORTED_FLAG,))),
        (core.AdvertisingData.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS, bytes(core.UUID(uuids.ESL_SERVICE))),
        (core.AdvertisingData.SHORTENED_LOCAL_NAME, name.encode()),
    ]))


def tag_pairing_config(_connection: Connection) -> pairing.PairingConfig:
    """LE Secure Connections, Just Works, bonding: what a label without display or keys can offer."""
    return pairing.PairingConfig(
        sc=True, mitm=False, bonding=True,
        delegate=pairing.PairingDelegate(io_capability=pairing.PairingDelegate.IoCapability.NO_OUTPUT_NO_INPUT),
    )


class VirtualTag:
    """One simulated shelf label on a virtual Bumble controller: the tag core behind a GATT server, OTS and a CoC."""

    def __init__(
        self, controller: Controller, tag_core: TagCore, *, encrypted: bool = True,
        advertising_interval_ms: float = ADVERTISING_INTERVAL_MS, link_drop_rate: float = 0.0,
    ) -> None:
        """Build the device on `controller` (already on its link); `start` powers it on."""
        self.core = tag_core
        self.controller = controller
        self.link = controller.link
        self.encrypted = encrypted
        self.link_drop_rate = link_drop_rate
        self._interval_ms = advertising_interval_ms
        pawr = isinstance(controller, PawrController)
        host = PawrHost(controller, controller) if pawr else Host(controller, AsyncPipeSink(controller))
        self.device = Device(name=f"ESL {tag_core.model.name}", address=hci.Address(tag_core.address), host=host)
        # On the emulating PAwR controller the tag follows the AP's train like a real one (PAST in, its
        # group's subevent, answers in response slots); on a stock controller it is connected-mode only.
        self.receiver = PawrReceiver(self.device, on_report=self._on_report, on_sync=self._on_sync,
                                     on_sync_lost=lambda _sync: self._lost_train()) if pawr else None
        self._randomizer = Randomizer()
        self._following = asyncio.Event()  # set while the controller follows the AP's train
        self.device.keystore = MemoryKeyStore()
        self.device.pairing_config_factory = tag_pairing_config
        self._characteristics: dict[str, gatt.Characteristic[bytes]] = {}
        self.device.add_services([self._esl_service(), self._ots_service()])
        self.device.create_l2cap_server(
            spec=l2cap.LeCreditBasedChannelSpec(psm=ots.OTS_PSM, mtu=OTS_CHANNEL_MTU, mps=OTS_CHANNEL_MPS,
                                                max_credits=OTS_CHANNEL_CREDITS),
            handler=self._on_channel,
        )
        self.device.on(Device.EVENT_CONNECTION, self._on_connection)
        self._advertising: AdvertisingSet | None = None
        self._deadline: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._settling = 0
        self._settle_lock = asyncio.Lock()
        self._settled = asyncio.Event()
        self._settled.set()
        self._started = False

    @classmethod
    def create(
        cls, link: LocalLink, address: str, model: str | LabelModel = "2.9-bwr", *, world: TagWorld | None = None,
        seed: int = 0, fridge: Fridge | None = None, battery_v: float = 3.0, quirks: TagQuirks = REFERENCE,
        past_required: bool = True, radio: RadioModel | None = None, **options: Any,
    ) -> VirtualTag:
        """A tag with its own controller on `link`, on the loop's clock unless `world` is given.

        With `radio` the controller is the emulating `PawrController` (the tag takes part in PAwR,
        with that loss and RSSI model), else a stock `PeripheralController` (connected mode only).
        `past_required` (the default): onboarding ends Synchronized only once the AP's train was handed
        over (`on_synchronized`); a tag onboarded without it is Unsynchronized and keeps advertising.
        """
        controller: Controller = (PeripheralController(address, link=link) if radio is None
                                  else PawrController(address, link=link, radio=radio, seed=seed))
        world = world or TagEnvironment(asyncio.get_running_loop().time)
        tag_core = TagCore(world, address, MODELS[model] if isinstance(model, str) else model,
                           rng=random.Random(f"{seed}/{address}"), fridge=fridge, battery_v=battery_v,
                           quirks=quirks, past_required=past_required)
        return cls(controller, tag_core, **options)

    # --- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Power on (HCI reset and set-up over the virtual transport) and advertise if the tag needs an AP."""
        await self.device.power_on()
        if self.receiver is not None:
            await self.receiver.start(sync_timeout_s=SYNC_TIMEOUT_S)
        self._advertising = await self.device.create_advertising_set(
            advertising_parameters=AdvertisingParameters(
                advertising_event_properties=AdvertisingEventProperties(
                    is_connectable=True, is_scannable=False, is_legacy=False),
                primary_advertising_interval_min=self._interval_ms,
                primary_advertising_interval_max=self._interval_ms,
            ),
            advertising_data=advertising_data(), auto_start=False,
        )
        self._started = True
        self._resettle()
        await self.settled()

    async def close(self) -> None:
        """Drop any link, stop advertising and timers, leave the link."""
        self._started = False
        self._drop_links(hci.HCI_REMOTE_USER_TERMINATED_CONNECTION_ERROR)
        if self._deadline is not None:
            self._deadline.cancel()
        for task in list(self._tasks):
            task.cancel()
        self._settling = 0
        self._settled.set()
        if self._advertising is not None and self._advertising.enabled:
            await self._advertising.stop()
        if self.controller in self.link.controllers:
            self.link.remove_controller(self.controller)

    @property
    def address(self) -> hci.Address:
        """The tag's BLE address (random static)."""
        return self.device.random_address

    @property
    def advertising(self) -> bool:
        """True while the tag's connectable ESL adverts are on the air."""
        return self._advertising is not None and self._advertising.enabled

    async def settled(self) -> None:
        """Wait until advertising matches the tag's state (after a connection ended or a state change)."""
        await self._settled.wait()

    @property
    def in_range(self) -> bool:
        """False while the AP can neither hear the tag nor reach it."""
        return self.core.in_range

    def set_in_range(self, in_range: bool) -> None:
        """Move the tag out of the AP's range (links time out, nothing is heard) or back into it."""
        if in_range == self.core.in_range:
            return
        self.core.in_range = in_range
        if isinstance(self.controller, PawrController):
            self.controller.radio.in_range = in_range  # nor does it hear the train, or answer in its slots
        if in_range:
            self.link.add_controller(self.controller)
        else:
            self._drop_links(hci.HCI_CONNECTION_TIMEOUT_ERROR)
            self.link.remove_controller(self.controller)
        self._resettle()

    # --- PAwR hooks (the tag's receiver calls these; tests may call them directly) ------------

    def on_synchronized(self) -> None:
        """PAST delivered the AP's train: see `TagCore.on_synchronized`."""
        self.core.on_synchronized()
        self._resettle()

    def on_sync_lost(self) -> None:
        """The controller lost the train: the tag advertises again."""
        self.core.on_sync_lost()
        self._resettle()

    def handle_sync_packet(self, payload: bytes) -> SyncResponse | None:
        """One decrypted sync packet (Group_ID then commands): see `TagCore.handle_sync_packet`."""
        before = self.core.state
        response = self.core.handle_sync_packet(payload)
        if self.core.state is not before:
            self._resettle()
        return response

    # --- PAwR over the emulated controller ------------------------------------------------------

    def preconfigure(self, esl: EslAddress, ap_sync_key: KeyMaterial, response_key: KeyMaterial) -> None:
        """Hold what onboarding would have written (a label the AP configured before this run); not yet synchronized."""
        core = self.core
        core.esl_address = esl
        core.ap_sync_key, core.response_key = ap_sync_key.encode(), response_key.encode()
        core.set_absolute_time(0)
        core.state = EslState.UNSYNCHRONIZED
        core._unsynced_at = core.now()

    async def find_train(self, advertiser: hci.Address, sid: int) -> None:
        """Synchronize by scanning for the AP's train (a preconfigured label finding it again; PAST does it when onboarding)."""
        await self.device.create_periodic_advertising_sync(advertiser, sid, sync_timeout=SYNC_TIMEOUT_S)
        await self.following()

    async def following(self) -> None:
        """Wait until the controller follows the AP's train."""
        await self._following.wait()

    def _lost_train(self) -> None:
        """The controller lost the train."""
        self._following.clear()
        self.on_sync_lost()

    def _on_sync(self, sync: PawrSync) -> None:
        """PAST (or a sync by scanning) arrived: synchronized, listening to the group's subevent only."""
        self._following.set()
        self.on_synchronized()
        if self.core.esl_address is not None and self.receiver is not None:
            self._spawn(self._listen(sync, self.core.esl_address.group_id))

    async def _listen(self, sync: PawrSync, group: int) -> None:
        """Ask the controller for one subevent (the tag's group) of the train."""
        assert self.receiver is not None
        try:
            await self.receiver.listen([group], sync_handle=sync.sync_handle)
        except TransportUnavailable:  # the sync went again before the command got through
            self.on_sync_lost()

    def _on_report(self, report: PawrReport) -> None:
        """One subevent packet: decrypt with the AP sync key, run it, answer in the slot under the response key."""
        sync_key, response_key = self.core.ap_sync_key, self.core.response_key
        if sync_key is None or response_key is None or self.receiver is None:
            return
        try:
            payload = open_payload(EadKey(_material(sync_key)), report.data)
        except EslProtocolError:
            return  # another train's packet, a damaged one or a forged one: a tag ignores it
        response = self.handle_sync_packet(payload)
        if response is None:
            return
        data = seal_payload(EadKey(_material(response_key)), self._randomizer.next(), response.payload)
        self._spawn(self._respond(report, response.slot, data))

    async def _respond(self, report: PawrReport, slot: int, data: bytes) -> None:
        """Hand the answer to the controller for its slot (too late: nothing is sent, the AP will ask again)."""
        assert self.receiver is not None
        with contextlib.suppress(TransportUnavailable):
            await self.receiver.respond(report.event_counter, report.subevent, slot, data, sync_handle=report.sync_handle)

    # --- GATT server --------------------------------------------------------------------------

    def _permissions(self, read: bool, write: bool) -> gatt.Attribute.Permissions:
        """Readable/writeable, with encryption required when the tag asks for it."""
        p = gatt.Attribute.Permissions(0)
        if read:
            p |= gatt.Attribute.Permissions.READABLE
            if self.encrypted:
                p |= gatt.Attribute.Permissions.READ_REQUIRES_ENCRYPTION
        if write:
            p |= gatt.Attribute.Permissions.WRITEABLE
            if self.encrypted:
                p |= gatt.Attribute.Permissions.WRITE_REQUIRES_ENCRYPTION
        return p

    def _characteristic(self, uuid: str, properties: gatt.Characteristic.Properties) -> gatt.Characteristic[bytes]:
        """A characteristic whose reads and writes go to the tag core."""
        readable = bool(properties & _READ)
        writeable = bool(properties & (_WRITE | _WRITE_NO_RESPONSE))
        value = gatt.CharacteristicValue(
            read=(lambda connection, u=uuid: self._read(connection, u)) if readable else None,
            write=(lambda connection, data, u=uuid: self._write(connection, u, data)) if writeable else None,
        )
        characteristic: gatt.Characteristic[bytes] = gatt.Characteristic(
            core.UUID(uuid), properties, self._permissions(readable, writeable), value)
        self._characteristics[uuid] = characteristic
        return characteristic

    def _esl_service(self) -> gatt.Service:
        """The ESL service (0x1857)."""
        return gatt.Service(core.UUID(uuids.ESL_SERVICE), [
            *(self._characteristic(u, _WRITE) for u in _ESL_WRITES),
            *(self._characteristic(u, _READ) for u in _ESL_READS),
            self._characteristic(uuids.ESL_CONTROL_POINT, _WRITE | _WRITE_NO_RESPONSE | _NOTIFY),
        ])

    def _ots_service(self) -> gatt.Service:
        """The Object Transfer Service (0x1825) over the image slots."""
        return gatt.Service(core.UUID(uuids.OTS_SERVICE), [
            *(self._characteristic(u, _READ) for u in (OTS_FEATURE, *OBJECT_METADATA)),
            self._characteristic(uuids.OTS_OACP, _WRITE | _INDICATE),
            self._characteristic(uuids.OTS_OLCP, _WRITE | _INDICATE),
        ])

    def _flaky(self) -> None:
        """With the seeded `link_drop_rate`, the link drops instead of this request being answered."""
        if self.link_drop_rate and self.core.rng.random() < self.link_drop_rate:
            self._drop_links(hci.HCI_CONNECTION_TIMEOUT_ERROR)
            raise att.ATT_Error(att.ATT_UNLIKELY_ERROR_ERROR, message=f"{self.core.address}: link dropped")

    def _read(self, connection: Connection, uuid: str) -> bytes:
        """A read request, answered by the core."""
        self._flaky()
        try:
            return self.core.read(uuid)
        except AttError as err:
            raise att.ATT_Error(err.code, message=str(err)) from err

    def _write(self, connection: Connection, uuid: str, data: bytes) -> None:
        """A write: the core's answer goes back as a notification (control point) or an indication (OTS)."""
        self._flaky()
        characteristic = self._characteristics[uuid]
        indicate = uuid in (uuids.OTS_OACP, uuids.OTS_OLCP)
        if indicate and not self.device.gatt_server.read_cccd(connection, characteristic)[0] & 0x02:
            raise att.ATT_Error(_CCCD_IMPROPERLY_CONFIGURED, message="indications are not enabled")
        before = self.core.state
        try:
            reply = self.core.write(uuid, bytes(data))
        except AttError as err:
            raise att.ATT_Error(err.code, message=str(err)) from err
        if reply is not None:  # sent after the Write Response, as NCS does
            send = self.device.indicate_subscriber if indicate else self.device.notify_subscriber
            self._spawn(send(connection, characteristic, reply))
        if self.core.state is not before:
            self._resettle()

    # --- object transfer channel ------------------------------------------------------------

    def _on_channel(self, channel: l2cap.LeCreditBasedChannel) -> None:
        """The AP opened the object transfer channel: bytes go to the core, closing commits the object."""
        if self.encrypted and not channel.connection.encryption:
            self._spawn(channel.disconnect())
            return

        def receive(data: bytes) -> None:
            """Take one SDU; data the core refuses closes the channel."""
            try:
                self.core.channel_receive(bytes(data))
            except LabelUnreachable:
                if channel.state is l2cap.LeCreditBasedChannel.State.CONNECTED:
                    self._spawn(channel.disconnect())

        channel.sink = receive
        channel.on(channel.EVENT_CLOSE, self.core.channel_close)

    # --- connections and advertising -------------------------------------------------------

    def _on_connection(self, connection: Connection) -> None:
        """An AP connected: Configuring or Updating, unless the seeded connect failure strikes."""
        if self.core.rng.random() < self.core.connect_failure_rate:
            connection.on(connection.EVENT_DISCONNECTION, lambda _reason: self._resettle())
            self._drop_links(hci.HCI_CONNECTION_FAILED_TO_BE_ESTABLISHED_ERROR)
            return
        self.core.on_connect()
        connection.on(connection.EVENT_DISCONNECTION, lambda _reason: self._on_disconnection())

    def _on_disconnection(self) -> None:
        """The link is gone: the core settles its state, advertising follows."""
        self.core.on_disconnect()
        self._resettle()

    def _drop_links(self, reason: int) -> None:
        """End every link of this tag at once, as the radio would (both sides get Disconnection Complete)."""
        for connection in list(self.controller.le_connections.values()):
            connection.send_ll_control_pdu(ll.TerminateInd(reason))
            self.controller.on_le_disconnected(connection, reason)

    def _resettle(self) -> None:
        """Bring advertising, the bond and the state timer in line with the core, in a task; `settled` waits for it."""
        self._settling += 1
        self._settled.clear()
        self._spawn(self._settle())

    async def _settle(self) -> None:
        """Make advertising, the bond and the state timer match the core's state now."""
        try:
            async with self._settle_lock:
                if not self._started or self._advertising is None:
                    return
                self.core.advance()
                if self.core.state is EslState.UNASSOCIATED and self.device.keystore is not None:
                    for name, _keys in await self.device.keystore.get_all():
                        await self.device.keystore.delete(name)
                wanted = self.core.advertising and not self.device.connections
                if wanted and not self._advertising.enabled:
                    await self._advertising.start()
                elif not wanted and self._advertising.enabled:
                    await self._advertising.stop()
                self._arm_deadline()
        finally:
            self._settling -= 1
            if not self._settling:
                self._settled.set()

    def _arm_deadline(self) -> None:
        """Wake when the sync timers will change the state by themselves (to advertise again)."""
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        deadline = self.core.state_deadline()
        if deadline is not None:
            delay = max(0.0, deadline - self.core.now())
            self._deadline = asyncio.get_running_loop().call_later(delay, lambda: self._resettle())

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run a callback's follow-up as a named, referenced task."""
        task = asyncio.get_running_loop().create_task(coro, name=f"esl-tag {self.core.address}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _material(raw: bytes) -> KeyMaterial:
    """The 24 octets written to a key characteristic (key, then IV) as key material."""
    return KeyMaterial(raw[:16], raw[16:24])


async def start_tags(link: LocalLink, count: int, *, prefix: str = "C4", **options: Any) -> list[VirtualTag]:
    """`count` started virtual tags on `link` with consecutive random static addresses `C4:00:00:00:xx:xx`.

    Made and powered on one at a time: a Bumble device takes about a millisecond of CPU to build.
    """
    tags = []
    for n in range(count):
        tag = VirtualTag.create(link, f"{prefix}:00:00:00:{n >> 8:02X}:{n & 0xFF:02X}", **options)
        await tag.start()
        tags.append(tag)
    return tags
