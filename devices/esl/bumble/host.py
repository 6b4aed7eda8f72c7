"""The host side of our PAwR layer on a Bumble `Device`: the AP's train (`PawrAdvertiser`) and the tag's sync (`PawrReceiver`).

Bumble 0.0.236's host knows no PAwR events and never enables them: `Host.reset()` leaves LE
event mask bits 36–39 clear, so on a real controller an AP would get no Subevent Data Requests and
no Response Reports at all. `PawrHost` is Bumble's `Host` that adds those bits to every LE Set
Event Mask it sends, turns the PAwR events into host events, keeps the v2 subevent timing of PAST
Received that Bumble's host drops, and logs packets lazily (Bumble's host builds debug f-strings
for every packet). A device gets it as `Device(host=PawrHost(source, sink), ...)` or
`pawr_device(...)`; the same code drives a dongle (`hci.py`'s packets on the wire) or the virtual
`controller.PawrController`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bumble import core, hci
from bumble.device import (
    AdvertisingEventProperties,
    AdvertisingParameters,
    AdvertisingSet,
    Connection,
    ConnectionParametersPreferences,
    Device,
    DeviceConfiguration,
)
from bumble.host import Host
from bumble.snoop import Snooper
from bumble.transport.common import TransportSink, TransportSource

from devices.esl.bumble import hci as pawr_hci
from devices.esl.bumble.cancel import keeping_cancel
from devices.esl.bumble.train import SlotResponse, SubeventData, TrainParams
from devices.esl.errors import EslProtocolError, LabelTimeout, LabelUnreachable, TransportUnavailable

logger = logging.getLogger(__name__)

_MAX_COMMAND_PARAMETERS = 255
_MAX_ITEM_DATA = _MAX_COMMAND_PARAMETERS - 2 - 4  # one subevent alone in LE Set PA Subevent Data
_MAX_RESPONSE_DATA = _MAX_COMMAND_PARAMETERS - 8  # after LE Set PA Response Data's fixed fields
_PAST_MODE_SYNC_WITH_REPORTS = 0x02


class PawrRefused(TransportUnavailable):
    """The controller refused a PAwR command; `status` is its HCI error code (0x46 TOO_LATE, 0x47 TOO_EARLY…)."""

    def __init__(self, command: str, status: int) -> None:
        """Name the command and the status."""
        self.status = status
        super().__init__(f"{command} refused: {hci.HCI_Constant.error_name(status)} (0x{status:02X})")


class PawrHost(Host):
    """Bumble's Host with the PAwR LE event mask bits, the PAwR events as host events, and lazy packet logs."""

    EVENT_DATA_REQUEST = "pawr_subevent_data_request"  # (advertising_handle, subevent_start, count)
    EVENT_RESPONSE_REPORT = "pawr_response_report"  # (HCI_LE_Periodic_Advertising_Response_Report_Event)
    EVENT_REPORT = "pawr_report"  # (HCI_LE_Periodic_Advertising_Report_V2_Event)
    EVENT_SYNC_TRANSFER = "pawr_sync_transfer"  # (HCI_LE_Periodic_Advertising_Sync_Transfer_Received_V2_Event)
    EVENT_SYNC_ESTABLISHED = "pawr_sync_established"  # (HCI_LE_Periodic_Advertising_Sync_Established_V2_Event)
    EVENT_CONNECTION = "pawr_connection"  # (HCI_LE_Enhanced_Connection_Complete_V2_Event) made through a train

    async def send_sync_command(self, command: Any, response_timeout: float | None = None) -> Any:
        """Send a command; an LE Set Event Mask gets the PAwR bits 36–39 added (unless the controller is 4.0 or older)."""
        if isinstance(command, hci.HCI_LE_Set_Event_Mask_Command) and (
            self.local_version is None or self.local_version.hci_version > hci.HCI_VERSION_BLUETOOTH_CORE_4_0
        ):
            command = hci.HCI_LE_Set_Event_Mask_Command(le_event_mask=pawr_hci.with_pawr_events(command.le_event_mask))
        return await super().send_sync_command(command, response_timeout)

    # Packets, logged only when debug logging is on ------------------------------------------------
    def send_hci_packet(self, packet: hci.HCI_Packet) -> None:
        """A packet to the controller."""
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("host -> controller: %s", packet)
        raw = bytes(packet)
        if self.snooper:
            self.snooper.snoop(raw, Snooper.Direction.HOST_TO_CONTROLLER)
        if self.hci_sink:
            self.hci_sink.on_packet(raw)

    def on_hci_packet(self, packet: hci.HCI_Packet) -> None:
        """A packet from the controller, dispatched like Bumble's host does."""
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("controller -> host: %s", packet)
        if self.snooper:
            self.snooper.snoop(bytes(packet), Snooper.Direction.CONTROLLER_TO_HOST)
        if isinstance(packet, hci.HCI_Event):
            self.on_hci_event_packet(packet)
        elif isinstance(packet, hci.HCI_AclDataPacket):
            self.on_hci_acl_data_packet(packet)
        elif isinstance(packet, hci.HCI_IsoDataPacket):
            self.on_hci_iso_data_packet(packet)
        elif isinstance(packet, hci.HCI_SynchronousDataPacket):
            self.on_hci_sco_data_packet(packet)
        else:
            self.on_hci_command_packet(packet)  # type: ignore[arg-type]

    # PAwR events ------------------------------------------------------------------------------------
    def on_hci_le_periodic_advertising_subevent_data_request_event(
        self, event: pawr_hci.HCI_LE_Periodic_Advertising_Subevent_Data_Request_Event
    ) -> None:
        """The controller asks for subevent data."""
        self.emit(self.EVENT_DATA_REQUEST, event.advertising_handle, event.subevent_start, event.subevent_data_count)

    def on_hci_le_periodic_advertising_response_report_event(
        self, event: pawr_hci.HCI_LE_Periodic_Advertising_Response_Report_Event
    ) -> None:
        """What the response slots of one subevent held."""
        self.emit(self.EVENT_RESPONSE_REPORT, event)

    def on_hci_le_periodic_advertising_report_v2_event(self, event: pawr_hci.HCI_LE_Periodic_Advertising_Report_V2_Event) -> None:
        """A subevent packet received by a synchronised receiver."""
        self.emit(self.EVENT_REPORT, event)

    def on_hci_le_periodic_advertising_sync_transfer_received_v2_event(
        self, event: hci.HCI_LE_Periodic_Advertising_Sync_Transfer_Received_V2_Event
    ) -> None:
        """PAST received: Bumble's handling, then the event again with its subevent timing."""
        super().on_hci_le_periodic_advertising_sync_transfer_received_v2_event(event)
        self.emit(self.EVENT_SYNC_TRANSFER, event)

    def on_hci_le_periodic_advertising_sync_established_v2_event(
        self, event: hci.HCI_LE_Periodic_Advertising_Sync_Established_V2_Event
    ) -> None:
        """Sync by scanning established: Bumble's handling, then the event again with its subevent timing."""
        super().on_hci_le_periodic_advertising_sync_established_v2_event(event)
        self.emit(self.EVENT_SYNC_ESTABLISHED, event)

    def on_hci_le_enhanced_connection_complete_v2_event(self, event: hci.HCI_LE_Enhanced_Connection_Complete_V2_Event) -> None:
        """A connection: Bumble's handling, then, for one made through a train, the event again."""
        super().on_hci_le_enhanced_connection_complete_v2_event(event)
        if event.status == hci.HCI_SUCCESS and event.sync_handle != pawr_hci.NO_SYNC_HANDLE:
            self.emit(self.EVENT_CONNECTION, event)


def pawr_device(
    source: TransportSource, sink: TransportSink, *, address: str | hci.Address, name: str | None = None,
    config: DeviceConfiguration | None = None,
) -> Device:
    """A Bumble device whose host is a `PawrHost` over an HCI source and sink (a transport, or a virtual controller)."""
    address = address if isinstance(address, hci.Address) else hci.Address(address)
    return Device(name=name, address=address, config=config, host=PawrHost(source, sink))


def _pawr_host(device: Device) -> PawrHost:
    """The device's host, which must be a `PawrHost`."""
    if not isinstance(device.host, PawrHost):
        raise TypeError("the device's host must be a devices.esl.bumble.host.PawrHost")
    return device.host


async def _sync_command(device: Device, command: hci.HCI_SyncCommand[Any]) -> Any:
    """Send a command; a refusal becomes `PawrRefused`."""
    try:
        return await device.send_sync_command(command)
    except hci.HCI_Error as err:
        raise PawrRefused(command.name, err.error_code) from err


# -----------------------------------------------------------------------------------------------------
# AP side
# -----------------------------------------------------------------------------------------------------
class PawrAdvertiser:
    """The AP's PAwR train on a Bumble device, implementing `train.Train` over HCI.

    `start()` creates a non-connectable, non-scannable extended advertising set, gives it LE Set
    PA Parameters v2 from `params` and enables periodic advertising. The controller's Subevent
    Data Requests call `on_data_request(start, count)`; its Response Reports call
    `on_response_report(subevent, sent, slots)` with one `SlotResponse` per slot the packet asked
    for (None where nothing was heard), matched to packets in the order they were given per subevent.
    """

    def __init__(self, device: Device, params: TrainParams | None = None, *, sid: int = 0,
                 own_address_type: hci.OwnAddressType = hci.OwnAddressType.RANDOM) -> None:
        """A stopped train for `device` (whose host must be a `PawrHost`)."""
        self.device = device
        self.params = params or TrainParams()
        self.sid = sid
        self.own_address_type = own_address_type
        self.on_data_request: Callable[[int, int], None] | None = None
        self.on_response_report: Callable[[int, bool, Sequence[SlotResponse]], None] | None = None
        self.advertising_set: AdvertisingSet | None = None
        self._host = _pawr_host(device)
        self._expected: dict[int, deque[tuple[int, int]]] = {}  # subevent -> (slot start, count) of packets given
        self._partial: dict[int, list[tuple[int, int, bytes, int]]] = {}  # subevent -> entries of a continued report

    @property
    def advertising_handle(self) -> int:
        """The controller's handle of the train's advertising set."""
        if self.advertising_set is None:
            raise TransportUnavailable("the PAwR train is not started")
        return self.advertising_set.advertising_handle

    async def start(self) -> None:
        """Create the advertising set and start the train (raises `PawrRefused` if the controller will not)."""
        if problems := self.params.problems():
            raise EslProtocolError("invalid PAwR train layout: " + "; ".join(problems))
        if self.advertising_set is not None:
            return
        properties = AdvertisingEventProperties(is_connectable=False, is_scannable=False)
        parameters = AdvertisingParameters(advertising_event_properties=properties, own_address_type=self.own_address_type,
                                           advertising_sid=self.sid)
        try:
            adv_set = await self.device.create_advertising_set(advertising_parameters=parameters)
        except hci.HCI_Error as err:
            raise PawrRefused("create advertising set", err.error_code) from err
        self.advertising_set = adv_set
        self._host.on(PawrHost.EVENT_DATA_REQUEST, self._on_data_request)
        self._host.on(PawrHost.EVENT_RESPONSE_REPORT, self._on_response_report)
        p = self.params
        await _sync_command(self.device, pawr_hci.HCI_LE_Set_Periodic_Advertising_Parameters_V2_Command(
            advertising_handle=adv_set.advertising_handle, periodic_advertising_interval_min=p.interval,
            periodic_advertising_interval_max=p.interval, periodic_advertising_properties=0,
            num_subevents=p.num_subevents, subevent_interval=p.subevent_interval,
            response_slot_delay=p.response_slot_delay, response_slot_spacing=p.response_slot_spacing,
            num_response_slots=p.num_response_slots,
        ))
        try:
            await adv_set.start_periodic()
        except hci.HCI_Error as err:
            raise PawrRefused("LE Set Periodic Advertising Enable", err.error_code) from err

    async def stop(self) -> None:
        """Stop the train and remove its advertising set."""
        if (adv_set := self.advertising_set) is None:
            return
        self._host.remove_listener(PawrHost.EVENT_DATA_REQUEST, self._on_data_request)
        self._host.remove_listener(PawrHost.EVENT_RESPONSE_REPORT, self._on_response_report)
        self.advertising_set = None
        self._expected.clear()
        self._partial.clear()
        try:
            await adv_set.stop_periodic()
            await adv_set.stop()
            await adv_set.remove()
        except hci.HCI_Error as err:
            raise PawrRefused("stop the PAwR train", err.error_code) from err

    async def set_subevent_data(self, items: Sequence[SubeventData]) -> None:
        """Give the controller data for the subevents it asked for, in as many commands as 255 octets need.

        Raises `PawrRefused` (e.g. TOO_EARLY, TOO_LATE) if the controller refuses a command; the
        items of commands sent before it stand. Data longer than one command can carry (249
        octets) raises `EslProtocolError` before anything is sent.
        """
        if too_long := [item.subevent for item in items if len(item.data) > _MAX_ITEM_DATA]:
            raise EslProtocolError(f"subevent data longer than {_MAX_ITEM_DATA} octets for subevents {too_long}")
        batch: list[SubeventData] = []
        size = 2
        for item in items:
            if batch and size + 4 + len(item.data) > _MAX_COMMAND_PARAMETERS:
                await self._send_batch(batch)
                batch, size = [], 2
            batch.append(item)
            size += 4 + len(item.data)
        if batch:
            await self._send_batch(batch)

    async def _send_batch(self, batch: list[SubeventData]) -> None:
        """One LE Set Periodic Advertising Subevent Data command; the slots asked for are remembered per subevent.

        Sent raw: a TOO_LATE answer is part of the protocol (the scheduler gives the data again at
        the next request), not a failure for Bumble's host to log as a warning every time.
        """
        command = pawr_hci.HCI_LE_Set_Periodic_Advertising_Subevent_Data_Command(
            advertising_handle=self.advertising_handle, subevent=[item.subevent for item in batch],
            response_slot_start=[item.response_slot_start for item in batch],
            response_slot_count=[item.response_slot_count for item in batch],
            subevent_data=[item.data for item in batch],
        )
        response = await self.device.send_sync_command_raw(command)
        status = response.return_parameters.status
        if status != hci.HCI_SUCCESS:
            raise PawrRefused(command.name, status)
        for item in batch:
            if item.response_slot_count:
                self._expected.setdefault(item.subevent, deque()).append((item.response_slot_start, item.response_slot_count))

    async def transfer_sync(self, connection: Connection, service_data: int = 0) -> None:
        """PAST: hand the train to the peer of `connection` (LE Periodic Advertising Set Info Transfer)."""
        if self.advertising_set is None:
            raise TransportUnavailable("the PAwR train is not started")
        try:
            await keeping_cancel(self.advertising_set.transfer_periodic_info(connection, service_data))
        except hci.HCI_Error as err:
            raise PawrRefused("LE Periodic Advertising Set Info Transfer", err.error_code) from err

    async def connect_through_train(self, address: str | hci.Address, subevent: int, *, timeout: float = 10.0) -> Connection:
        """Connect to a synchronised receiver through its subevent (LE Extended Create Connection v2).

        Raises `LabelUnreachable` when the receiver did not answer the connect request,
        `LabelTimeout` when nothing happened within `timeout`, `PawrRefused` when the controller
        would not try (another connection pending, no such subevent).
        """
        peer = address if isinstance(address, hci.Address) else hci.Address(address)
        device = self.device
        if device.is_le_connecting:
            raise PawrRefused("LE Extended Create Connection v2", hci.HCI_ErrorCode.COMMAND_DISALLOWED_ERROR)
        future: asyncio.Future[Connection] = asyncio.get_running_loop().create_future()

        def on_connection(connection: Connection) -> None:
            """Our connection completed."""
            if connection.peer_address == peer and connection.role == hci.Role.CENTRAL and not future.done():
                future.set_result(connection)

        def on_failure(error: core.ConnectionError) -> None:
            """Our connection failed."""
            if error.peer_address == peer and not future.done():
                future.set_exception(LabelUnreachable(f"{peer} did not answer the connect request in subevent {subevent}: {error}"))

        prefs = ConnectionParametersPreferences.default
        command = pawr_hci.HCI_LE_Extended_Create_Connection_V2_Command(
            advertising_handle=self.advertising_handle, subevent=subevent, initiator_filter_policy=0,
            own_address_type=self.own_address_type, peer_address_type=peer.address_type, peer_address=peer,
            initiating_phys=1, scan_intervals=[0x60], scan_windows=[0x60],
            connection_interval_mins=[int(prefs.connection_interval_min / 1.25)],
            connection_interval_maxs=[int(prefs.connection_interval_max / 1.25)],
            max_latencies=[prefs.max_latency], supervision_timeouts=[int(prefs.supervision_timeout / 10)],
            min_ce_lengths=[int(prefs.min_ce_length / 0.625)], max_ce_lengths=[int(prefs.max_ce_length / 0.625)],
        )
        device.on(Device.EVENT_CONNECTION, on_connection)
        device.on(Device.EVENT_CONNECTION_FAILURE, on_failure)
        device.connect_own_address_type = self.own_address_type
        device.le_connecting = True
        try:
            try:
                await keeping_cancel(device.send_async_command(command))
            except hci.HCI_Error as err:
                raise PawrRefused(command.name, err.error_code) from err
            future.add_done_callback(lambda f: f.cancelled() or f.exception())  # a late failure is not "never retrieved"
            try:
                async with asyncio.timeout(timeout):  # not wait_for: on 3.11 it loses a cancel that meets the result
                    return await asyncio.shield(future)
            except TimeoutError:
                await device.send_sync_command(hci.HCI_LE_Create_Connection_Cancel_Command())
                try:
                    return await future
                except LabelUnreachable as err:
                    raise LabelTimeout(f"no connection to {peer} through subevent {subevent} within {timeout} s") from err
            except asyncio.CancelledError:
                # The caller gave up (its own timeout, a stop): withdraw the request, or the controller
                # keeps it pending and refuses every later connect with Command Disallowed; a link made
                # just then is closed, not left to the label.
                if not future.done():
                    with contextlib.suppress(hci.HCI_Error, core.BaseBumbleError):
                        await device.send_sync_command(hci.HCI_LE_Create_Connection_Cancel_Command())
                if future.done() and not future.cancelled() and future.exception() is None:
                    with contextlib.suppress(hci.HCI_Error, core.BaseBumbleError):
                        await future.result().disconnect()
                raise
        finally:
            device.remove_listener(Device.EVENT_CONNECTION, on_connection)
            device.remove_listener(Device.EVENT_CONNECTION_FAILURE, on_failure)
            device.le_connecting = False
            device.connect_own_address_type = None

    def _on_data_request(self, handle: int, start: int, count: int) -> None:
        """A Subevent Data Request for this train."""
        if self.advertising_set is not None and handle == self.advertising_set.advertising_handle and self.on_data_request:
            self.on_data_request(start, count)

    def _on_response_report(self, event: pawr_hci.HCI_LE_Periodic_Advertising_Response_Report_Event) -> None:
        """A Response Report for this train: joined with its continuations, then matched to its packet."""
        if self.advertising_set is None or event.advertising_handle != self.advertising_set.advertising_handle:
            return
        subevent = event.subevent
        entries = self._partial.pop(subevent, []) + list(zip(event.response_slot, event.data_status, event.data, event.rssi))
        if entries and entries[-1][1] == pawr_hci.DATA_INCOMPLETE_MORE:
            self._partial[subevent] = entries  # continued in the next report for this subevent
            return
        heard: dict[int, SlotResponse] = {}
        pieces: dict[int, bytes] = {}
        for slot, status, data, rssi in entries:
            if status == pawr_hci.DATA_INCOMPLETE_MORE:
                pieces[slot] = pieces.get(slot, b"") + data
            elif status == pawr_hci.DATA_COMPLETE:
                heard[slot] = SlotResponse(slot, pieces.pop(slot, b"") + data, None if rssi == pawr_hci.UNKNOWN_POWER else rssi)
            else:
                pieces.pop(slot, None)
        queue = self._expected.get(subevent)
        if queue:
            start, count = queue.popleft()
            slots = range(start, start + count)
        else:
            logger.warning("pawr.response_report.unexpected subevent=%d", subevent)
            slots = range(0)
        responses = [heard.get(slot, SlotResponse(slot, None)) for slot in slots]
        responses += [response for slot, response in sorted(heard.items()) if slot not in slots]
        if self.on_response_report:
            self.on_response_report(subevent, event.tx_status == 0, responses)


# -----------------------------------------------------------------------------------------------------
# Tag side
# -----------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class PawrSync:
    """A PAwR train this device is synchronised to, with the v2 subevent timing Bumble's host drops."""

    sync_handle: int
    advertiser_address: hci.Address
    sid: int
    connection_handle: int | None  # the connection PAST came over; None when synchronised by scanning
    interval: int  # x 1.25 ms
    num_subevents: int
    subevent_interval: int  # x 1.25 ms
    response_slot_delay: int  # x 1.25 ms
    response_slot_spacing: int  # x 0.125 ms


@dataclass(frozen=True, slots=True)
class PawrReport:
    """One subevent packet received (LE Periodic Advertising Report v2), reassembled if it came in pieces."""

    sync_handle: int
    event_counter: int
    subevent: int
    data: bytes
    rssi: int | None


class PawrReceiver:
    """The tag side of PAwR on a Bumble device: PAST in, subevent selection, reports out, responses back.

    `start()` asks the controller to accept PAST with reports (the spec's default after reset is to
    ignore it). Callbacks: `on_sync(PawrSync)` when a train is handed over (or found by
    scanning), `on_report(PawrReport)` per packet of a subevent listened to, `on_sync_lost(PawrSync)`.
    """

    def __init__(self, device: Device, *, on_report: Callable[[PawrReport], None] | None = None,
                 on_sync: Callable[[PawrSync], None] | None = None,
                 on_sync_lost: Callable[[PawrSync], None] | None = None) -> None:
        """A receiver for `device` (whose host must be a `PawrHost`)."""
        self.device = device
        self.on_report = on_report
        self.on_sync = on_sync
        self.on_sync_lost = on_sync_lost
        self.syncs: dict[int, PawrSync] = {}
        self._host = _pawr_host(device)
        self._pieces: dict[int, bytes] = {}  # sync handle -> report data so far
        self._started = False

    @property
    def sync(self) -> PawrSync | None:
        """The train synchronised to most recently (a tag follows one)."""
        return next(reversed(self.syncs.values()), None)

    async def start(self, *, sync_timeout_s: float = 10.0, skip: int = 0) -> None:
        """Accept PAST with reports, on future connections and on the ones open now."""
        if not self._started:
            self._started = True
            self._host.on(PawrHost.EVENT_SYNC_TRANSFER, self._on_sync_transfer)
            self._host.on(PawrHost.EVENT_SYNC_ESTABLISHED, self._on_sync_established)
            self._host.on(PawrHost.EVENT_REPORT, self._on_report)
            self._host.on(PawrHost.EVENT_CONNECTION, self._on_train_connection)
            self._host.on("periodic_advertising_sync_loss", self._on_sync_loss)
        timeout = max(0x000A, min(0x4000, round(sync_timeout_s * 100)))
        await _sync_command(self.device, hci.HCI_LE_Set_Default_Periodic_Advertising_Sync_Transfer_Parameters_Command(
            mode=_PAST_MODE_SYNC_WITH_REPORTS, skip=skip, sync_timeout=timeout, cte_type=0))
        for connection in list(self.device.connections.values()):
            if connection.transport == core.PhysicalTransport.LE:
                await _sync_command(self.device, hci.HCI_LE_Set_Periodic_Advertising_Sync_Transfer_Parameters_Command(
                    connection_handle=connection.handle, mode=_PAST_MODE_SYNC_WITH_REPORTS, skip=skip,
                    sync_timeout=timeout, cte_type=0))

    async def stop(self) -> None:
        """Stop listening for PAwR events and end every sync."""
        if self._started:
            self._started = False
            self._host.remove_listener(PawrHost.EVENT_SYNC_TRANSFER, self._on_sync_transfer)
            self._host.remove_listener(PawrHost.EVENT_SYNC_ESTABLISHED, self._on_sync_established)
            self._host.remove_listener(PawrHost.EVENT_REPORT, self._on_report)
            self._host.remove_listener(PawrHost.EVENT_CONNECTION, self._on_train_connection)
            self._host.remove_listener("periodic_advertising_sync_loss", self._on_sync_loss)
        for handle in list(self.syncs):
            del self.syncs[handle]
            self._forget_bumble_sync(handle)
            # the controller may have lost it meanwhile: its "unknown identifier" is no failure here
            await self.device.send_sync_command_raw(hci.HCI_LE_Periodic_Advertising_Terminate_Sync_Command(sync_handle=handle))

    def _handle(self, sync_handle: int | None) -> int:
        """The sync handle to act on: the one given, else the current sync's."""
        if sync_handle is not None:
            return sync_handle
        if (sync := self.sync) is None:
            raise TransportUnavailable("not synchronised to a PAwR train")
        return sync.sync_handle

    async def listen(self, subevents: Sequence[int], *, sync_handle: int | None = None) -> None:
        """Receive these subevents of the train from now on (LE Set Periodic Sync Subevent)."""
        await _sync_command(self.device, pawr_hci.HCI_LE_Set_Periodic_Sync_Subevent_Command(
            sync_handle=self._handle(sync_handle), periodic_advertising_properties=0, subevents=list(subevents)))

    async def respond(self, request_event: int, request_subevent: int, response_slot: int, data: bytes, *,
                      sync_handle: int | None = None) -> bool:
        """Answer packet (event, subevent) in `response_slot`; False when the controller says the slot has passed (TOO_LATE)."""
        if len(data) > _MAX_RESPONSE_DATA:
            raise EslProtocolError(f"response data longer than {_MAX_RESPONSE_DATA} octets")
        command = pawr_hci.HCI_LE_Set_Periodic_Advertising_Response_Data_Command(
            sync_handle=self._handle(sync_handle), request_event=request_event & 0xFFFF, request_subevent=request_subevent,
            response_subevent=request_subevent, response_slot=response_slot, response_data=data)
        response = await self.device.send_sync_command_raw(command)
        status = response.return_parameters.status
        if status == pawr_hci.HCI_TOO_LATE_ERROR:
            return False
        if status != hci.HCI_SUCCESS:
            raise PawrRefused(command.name, status)
        return True

    def _on_sync_transfer(self, event: hci.HCI_LE_Periodic_Advertising_Sync_Transfer_Received_V2_Event) -> None:
        """PAST received, with its subevent timing."""
        if event.status == hci.HCI_SUCCESS:
            self._synced(event, event.connection_handle)

    def _on_sync_established(self, event: hci.HCI_LE_Periodic_Advertising_Sync_Established_V2_Event) -> None:
        """Synchronised by scanning, with the subevent timing."""
        if event.status == hci.HCI_SUCCESS and event.num_subevents:
            self._synced(event, None)

    def _synced(self, event: Any, connection_handle: int | None) -> None:
        """Record a new sync and say so."""
        sync = PawrSync(event.sync_handle, event.advertiser_address, event.advertising_sid, connection_handle,
                        event.periodic_advertising_interval, event.num_subevents, event.subevent_interval,
                        event.response_slot_delay, event.response_slot_spacing)
        self.syncs.pop(sync.sync_handle, None)
        self.syncs[sync.sync_handle] = sync
        if self.on_sync:
            self.on_sync(sync)

    def _on_report(self, event: pawr_hci.HCI_LE_Periodic_Advertising_Report_V2_Event) -> None:
        """A PA Report v2: pieces joined, complete packets handed on."""
        handle = event.sync_handle
        if handle not in self.syncs:
            return
        status = event.data_status
        if status == pawr_hci.DATA_INCOMPLETE_MORE:
            self._pieces[handle] = self._pieces.get(handle, b"") + event.data
            return
        data = self._pieces.pop(handle, b"") + event.data
        if status == pawr_hci.DATA_COMPLETE and self.on_report:
            rssi = None if event.rssi == pawr_hci.UNKNOWN_POWER else event.rssi
            self.on_report(PawrReport(handle, event.periodic_event_counter, event.subevent, data, rssi))

    def _on_sync_loss(self, sync_handle: int) -> None:
        """The controller lost a train."""
        self._pieces.pop(sync_handle, None)
        if (sync := self.syncs.pop(sync_handle, None)) is None:
            return
        self._forget_bumble_sync(sync_handle)
        if self.on_sync_lost:
            self.on_sync_lost(sync)

    def _forget_bumble_sync(self, sync_handle: int) -> None:
        """Drop Bumble's own record of a sync, so a later sync with the same handle is not confused with it."""
        self.device.periodic_advertising_syncs = [
            sync for sync in self.device.periodic_advertising_syncs if sync.sync_handle != sync_handle
        ]

    def _on_train_connection(self, event: hci.HCI_LE_Enhanced_Connection_Complete_V2_Event) -> None:
        """An AP connected through our subevent: finish Bumble's peripheral connection (it waits for an advertising set)."""
        if event.role != hci.Role.PERIPHERAL or (connection := self.device.lookup_connection(event.connection_handle)) is None:
            return
        random = self.device.random_address
        connection.self_address = random if random not in (hci.Address.ANY_RANDOM, hci.Address.ANY) else self.device.public_address
        self.device.emit(Device.EVENT_CONNECTION, connection)
