"""A Bumble virtual controller that runs PAwR trains, for tests and the demo (the emulation side of our PAwR layer).

Bumble 0.0.236's virtual `Controller` ignores the periodic interval, answers four PAwR commands
with nothing (the host hangs) and PAST with "unknown command". `PawrController` adds, on an
`link.IndexedLink`:

- the AP side: LE Set PA Parameters v2, PA enable, Set PA Subevent Data, PAST (Set Info Transfer),
  Extended Create Connection v2 through a train; the Subevent Data Request and Response Report
  events;
- the receiver side: PAST parameters, PAST Received v2, Set Periodic Sync Subevent, Set PA
  Response Data, PA Report v2, sync loss; a periodic sync created by scanning finds the train in
  the link's registry;
- a per-receiver radio (`RadioModel`: RSSI, loss probabilities, out of range), drawn from one
  seeded generator per AP controller, so runs are deterministic.

Timing, all on the loop clock (looptime's virtual clock in tests), for a train enabled at t:

| what | when |
|---|---|
| event n (Periodic Event Counter n mod 2^16) | t0 + n x interval, t0 = t + request lead |
| subevent s of event n | event start + s x subevent interval |
| response slot k of that subevent | subevent time + slot delay + k x slot spacing |
| Subevent Data Request for (n, s) | `request_lead_s` before the subevent (default one subevent interval: 55 ms with Silicon Labs' layout) |
| the AP's data must arrive | by `data_guard_s` (1.25 ms) before the subevent, else TOO_LATE (0x46) and the subevent goes empty |
| data for a subevent not asked for | TOO_EARLY (0x47), as Silicon Labs' controller answers, unless `accept_early` (then kept for its next occurrence); the first data after a request went unanswered is that request's late answer: TOO_LATE |
| a receiver's response | heard if set by its slot time; later ones get TOO_LATE and are not heard; two in one slot collide (Data_Status 0xFF) |
| Response Report for (n, s) | right after the last slot the packet asked for, every requested slot listed (0xFF when silent) |

A subevent the AP gives no data for is not transmitted, and its receivers hear nothing: a receiver
that hears nothing for its sync timeout loses sync (LE Periodic Advertising Sync Lost), as on air.
Whether a real controller sends an empty AUX_SYNC_SUBEVENT_IND when its host gave nothing is not
settled here (unverified on hardware); `empty_subevents=True` emulates one that does (receivers
get a report with no data and keep sync), so an AP that leaves idle subevents empty can be run
both ways.
Extended Create Connection v2 sends its connect request in the next occurrence of the subevent
instead of that subevent's data (the data's report then says not sent); the target must be synced
to the train, listen to that subevent and hear it, or the connection fails (0x3E).

Cost: one agenda timer per train; each subevent touches only the receivers listening to it; no
per-receiver timers; event bytes are packed directly and Bumble's eager debug f-strings are skipped.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import random
import struct
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from bumble import hci, ll
from bumble.controller import Connection, Controller
from bumble.core import PhysicalTransport
from bumble.device import Device

from devices.esl.bumble import hci as pawr_hci
from devices.esl.bumble.host import PawrHost
from devices.esl.bumble.link import IndexedLink
from devices.esl.bumble.train import TrainParams

logger = logging.getLogger(__name__)

_EPSILON_S = 2e-6  # the loop may fire a timer up to one clock resolution early (looptime: 1 us)
_META = hci.HCI_LE_META_EVENT
_LE_META_BIT = 1 << (_META - 1)
_REPORT_V1 = hci.HCI_LE_PERIODIC_ADVERTISING_REPORT_EVENT
_REPORT_V2 = hci.HCI_LE_PERIODIC_ADVERTISING_REPORT_V2_EVENT
_DATA_REQUEST = hci.HCI_LE_PERIODIC_ADVERTISING_SUBEVENT_DATA_REQUEST_EVENT
_RESPONSE_REPORT = hci.HCI_LE_PERIODIC_ADVERTISING_RESPONSE_REPORT_EVENT
_MAX_EVENT_PARAMETERS = 255
_MAX_REPORT_DATA = _MAX_EVENT_PARAMETERS - 11  # PA Report v2: 11 octets before the data
_MAX_SUBEVENT_DATA = 251
_PAWR_SYNC_HANDLE_BASE = 0x0100  # apart from Bumble's scan-created syncs (0x10 + SID)
_PAST_MODE_OFF = 0x00
_PAST_MODE_NO_REPORTS = 0x01
_SUCCESS = hci.HCI_ErrorCode.SUCCESS
_TOO_LATE = pawr_hci.HCI_TOO_LATE_ERROR
_TOO_EARLY = pawr_hci.HCI_TOO_EARLY_ERROR


@dataclass(slots=True)
class RadioModel:
    """How one receiver hears the trains and is heard by them; mutable, so a test can walk a label out of range."""

    rssi: int = -60  # dBm, both ways
    packet_loss: float = 0.0  # probability a subevent packet (or a connect request) is not received
    response_loss: float = 0.0  # probability a response is not heard by the AP
    in_range: bool = True  # False: hears nothing and is heard by nobody


@dataclass(frozen=True, slots=True)
class _Packet:
    """Data the AP's host gave for one occurrence of a subevent."""

    start: int
    count: int
    data: bytes


_EMPTY = _Packet(0, 0, b"")


@dataclass(eq=False, slots=True)
class _Sync:
    """One receiver controller's synchronisation to one train."""

    controller: PawrController
    handle: int
    train: EmulatedTrain
    timeout_s: float
    reports: bool
    last_rx: float
    subevents: tuple[int, ...] = ()


@dataclass(slots=True)
class _PastParameters:
    """LE Set (Default) Periodic Advertising Sync Transfer Parameters, as a receiver keeps them."""

    mode: int = _PAST_MODE_OFF  # the spec's default after reset: PAST ignored
    skip: int = 0
    timeout_s: float = 10.0


class EmulatedTrain:
    """One running PAwR train of an AP's virtual controller: its agenda, pending data, receivers and responses."""

    def __init__(self, controller: PawrController, handle: int, params: TrainParams, address: hci.Address, sid: int) -> None:
        """A stopped train with the layout LE Set PA Parameters v2 gave."""
        self.controller = controller
        self.handle = handle
        self.params = params
        self.address = address
        self.sid = sid
        self.running = False
        self.t0 = 0.0
        self.event = -1  # the latest event whose actions are on the agenda
        self._interval_s = params.interval_s
        self._sub_s = params.subevent_interval_s
        self._delay_s = params.slot_delay_s
        self._spacing_s = params.slot_spacing_s
        lead = self._sub_s if controller.request_lead_s is None else controller.request_lead_s
        self._lead_s = min(lead, self._interval_s - controller.data_guard_s)
        self._listeners: list[dict[_Sync, None]] = [{} for _ in range(params.num_subevents)]
        self.syncs: dict[_Sync, None] = {}
        self._pending: dict[int, _Packet] = {}  # subevent -> data for its next occurrence
        self._requested: dict[int, int] = {}  # subevent -> event it was asked for, until transmitted
        self._unanswered: set[int] = set()  # subevents whose last request went out unanswered
        self._open: set[tuple[int, int]] = set()  # (event, subevent) whose slots the AP listens to
        self._responses: dict[tuple[int, int], dict[int, list[tuple[bytes, int]]]] = {}
        self._connects: dict[int, pawr_hci.HCI_LE_Extended_Create_Connection_V2_Command] = {}
        self._agenda: list[tuple[float, int, Callable[..., None], tuple[Any, ...]]] = []
        self._seq = itertools.count()
        self._timer: asyncio.TimerHandle | None = None
        self._in_run = False

    # Timing ---------------------------------------------------------------------------------
    def subevent_time(self, event: int, subevent: int) -> float:
        """Loop time of subevent `subevent` in event `event`."""
        return self.t0 + event * self._interval_s + subevent * self._sub_s

    def slot_time(self, event: int, subevent: int, slot: int) -> float:
        """Loop time of response slot `slot` after that subevent."""
        return self.subevent_time(event, subevent) + self._delay_s + slot * self._spacing_s

    @property
    def request_lead_s(self) -> float:
        """How long before its subevent each Subevent Data Request is issued."""
        return self._lead_s

    def _absolute_event(self, counter: int) -> int:
        """The event a 16-bit Periodic Event Counter names, taken nearest the current one."""
        delta = (counter - self.event) & 0xFFFF
        return self.event + (delta - 0x10000 if delta >= 0x8000 else delta)

    # Lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        """Start event 0 one request lead from now, so its first data request can be answered."""
        if self.running:
            return
        self.running = True
        self.t0 = self.controller.loop.time() + self._lead_s
        self.event = -1
        self._at(self.t0 - self._lead_s, self._setup, 0)

    def stop(self) -> None:
        """Stop transmitting; every receiver loses sync after its timeout."""
        if not self.running:
            return
        self.running = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._agenda.clear()
        self._pending.clear()
        self._requested.clear()
        self._unanswered.clear()
        self._open.clear()
        self._responses.clear()
        for command in self._connects.values():
            self.controller._train_connection_failed(command, hci.HCI_ErrorCode.OPERATION_CANCELLED_BY_HOST_ERROR)
        self._connects.clear()
        loop = self.controller.loop
        for sync in list(self.syncs):
            loop.call_later(sync.timeout_s, sync.controller._lose_sync, sync)

    # Agenda ---------------------------------------------------------------------------------
    def _at(self, when: float, action: Callable[..., None], *args: Any) -> None:
        """Run `action(*args)` at loop time `when` (ties in the order given)."""
        heapq.heappush(self._agenda, (when, next(self._seq), action, args))
        if not self._in_run and (self._timer is None or when < self._timer.when()):
            self._arm()

    def _arm(self) -> None:
        """Point the one timer at the earliest action."""
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self.controller.loop.call_at(self._agenda[0][0], self._run)

    def _run(self) -> None:
        """Run every action that is due, then wait for the next."""
        self._timer = None
        self._in_run = True
        try:
            now = self.controller.loop.time() + _EPSILON_S
            while self.running and self._agenda and self._agenda[0][0] <= now:
                _, _, action, args = heapq.heappop(self._agenda)
                action(*args)
        finally:
            self._in_run = False
        if self.running and self._agenda:
            self._arm()

    def _setup(self, event: int) -> None:
        """Put event `event`'s data requests and transmissions on the agenda, and the next event's setup.

        If the clock jumped past whole events (a stalled loop, or a virtual clock switched back to
        real time), those events are skipped, as a controller would, instead of being caught up.
        """
        behind = int((self.controller.loop.time() - self.subevent_time(event, 0) + self._lead_s) // self._interval_s)
        if behind > 1:
            event += behind
        self.event = event
        for subevent in range(self.params.num_subevents):
            at = self.subevent_time(event, subevent)
            self._at(at - self._lead_s, self._request, event, subevent)
            self._at(at, self._transmit, event, subevent)
        self._at(self.subevent_time(event + 1, 0) - self._lead_s, self._setup, event + 1)

    # AP side --------------------------------------------------------------------------------
    def _request(self, event: int, subevent: int) -> None:
        """Ask the AP's host for this occurrence's data (unless it gave it early)."""
        if subevent in self._pending or subevent in self._connects:
            return
        self._requested[subevent] = event
        self._unanswered.discard(subevent)
        self.controller._send_le_event(_DATA_REQUEST, bytes((self.handle, subevent, 1)))

    def accept_data(self, items: list[tuple[int, int, int, bytes]]) -> int:
        """Take (subevent, slot start, slot count, data) items for their next occurrences; an HCI status (all or none)."""
        deadline = self.controller.loop.time() + self.controller.data_guard_s
        for subevent, start, count, data in items:
            if subevent >= self.params.num_subevents or start + count > self.params.num_response_slots:
                return hci.HCI_ErrorCode.INVALID_HCI_COMMAND_PARAMETERS_ERROR
            if len(data) > _MAX_SUBEVENT_DATA:
                return hci.HCI_ErrorCode.PACKET_TOO_LONG_ERROR
            if subevent in self._pending:
                return hci.HCI_ErrorCode.MEMORY_CAPACITY_EXCEEDED_ERROR
            if (asked := self._requested.get(subevent)) is not None:
                if deadline > self.subevent_time(asked, subevent):
                    return _TOO_LATE
            elif subevent in self._unanswered:
                self._unanswered.discard(subevent)
                return _TOO_LATE  # the answer to a request whose subevent has gone by
            elif not self.controller.accept_early:
                return _TOO_EARLY
        for subevent, start, count, data in items:
            self._pending[subevent] = _Packet(start, count, bytes(data))
            self._requested.pop(subevent, None)
        return _SUCCESS

    def _transmit(self, event: int, subevent: int) -> None:
        """Send this subevent's packet (or connect request) to the receivers listening to it."""
        if self._requested.pop(subevent, None) is not None:
            self._unanswered.add(subevent)
        packet = self._pending.pop(subevent, None)
        now = self.controller.loop.time()
        if (command := self._connects.pop(subevent, None)) is not None:
            self.controller._connect_through(train=self, command=command, subevent=subevent)
            if packet is not None and packet.count:
                self._open.add((event, subevent))
                self._at(self.slot_time(event, subevent, packet.start + packet.count), self._report, event, subevent, packet, False)
            packet = None
        elif packet is None and self.controller.empty_subevents:
            packet = _EMPTY
        listeners = self._listeners[subevent]
        if packet is None or not packet.count:
            self._responses.pop((event, subevent), None)  # no slots listened to: responses go unheard
        if packet is None:
            self._expire(listeners, now)
            return
        rng = self.controller.rng
        data = packet.data
        counter = event & 0xFFFF
        lost: list[_Sync] = []
        headers: dict[tuple[int, int], bytes] = {}
        for sync in listeners:
            radio = sync.controller.radio
            if not radio.in_range or (radio.packet_loss and rng.random() < radio.packet_loss):
                if now - sync.last_rx > sync.timeout_s:
                    lost.append(sync)
                continue
            sync.last_rx = now
            if sync.reports:
                sync.controller._deliver_report(sync.handle, radio.rssi, counter, subevent, data, headers)
        for sync in lost:
            sync.controller._lose_sync(sync)
        if packet.count:
            self._open.add((event, subevent))
            self._at(self.slot_time(event, subevent, packet.start + packet.count), self._report, event, subevent, packet, True)

    def _expire(self, listeners: dict[_Sync, None], now: float) -> None:
        """Receivers of a silent subevent that have heard nothing for their timeout lose sync."""
        lost = [sync for sync in listeners if now - sync.last_rx > sync.timeout_s]
        for sync in lost:
            sync.controller._lose_sync(sync)

    def add_response(self, sync: _Sync, counter: int, subevent: int, slot: int, data: bytes) -> int:
        """A receiver's response for (event, subevent, slot): kept if in time, an HCI status for its host."""
        event = self._absolute_event(counter)
        if subevent >= self.params.num_subevents or slot >= self.params.num_response_slots:
            return hci.HCI_ErrorCode.INVALID_HCI_COMMAND_PARAMETERS_ERROR
        if self.controller.loop.time() > self.slot_time(event, subevent, slot):
            return _TOO_LATE
        if event <= self.event and (event, subevent) not in self._open and self.subevent_time(event, subevent) <= self.controller.loop.time():
            return _SUCCESS  # the AP is not listening in that subevent: sent into the void
        radio = sync.controller.radio
        if not radio.in_range or (radio.response_loss and self.controller.rng.random() < radio.response_loss):
            return _SUCCESS
        self._responses.setdefault((event, subevent), {}).setdefault(slot, []).append((bytes(data), radio.rssi))
        return _SUCCESS

    def _report(self, event: int, subevent: int, packet: _Packet, sent: bool) -> None:
        """Tell the AP's host what each requested slot held (0xFF: silent or a collision)."""
        self._open.discard((event, subevent))
        heard = self._responses.pop((event, subevent), {})
        entries = []
        for slot in range(packet.start, packet.start + packet.count):
            got = heard.get(slot)
            if got is not None and len(got) == 1:
                entries.append((got[0][1], slot, pawr_hci.DATA_COMPLETE, got[0][0]))
            else:
                entries.append((pawr_hci.UNKNOWN_POWER, slot, pawr_hci.DATA_RX_FAILED, b""))
        for params in _response_reports(self.handle, subevent, 0 if sent else 1, entries):
            self.controller._send_le_event(_RESPONSE_REPORT, params)

    # Receivers ------------------------------------------------------------------------------
    def add_sync(self, sync: _Sync) -> None:
        """A receiver synchronised to this train (listening to no subevent yet)."""
        self.syncs[sync] = None

    def remove_sync(self, sync: _Sync) -> None:
        """A receiver that lost or ended its sync."""
        self.syncs.pop(sync, None)
        for subevent in sync.subevents:
            self._listeners[subevent].pop(sync, None)
        sync.subevents = ()

    def listen(self, sync: _Sync, subevents: tuple[int, ...]) -> int:
        """Which subevents `sync` receives from now on; an HCI status."""
        if any(subevent >= self.params.num_subevents for subevent in subevents):
            return hci.HCI_ErrorCode.INVALID_HCI_COMMAND_PARAMETERS_ERROR
        for subevent in sync.subevents:
            self._listeners[subevent].pop(sync, None)
        sync.subevents = tuple(dict.fromkeys(subevents))
        for subevent in sync.subevents:
            self._listeners[subevent][sync] = None
        return _SUCCESS

    def connect_at_next(self, subevent: int, command: pawr_hci.HCI_LE_Extended_Create_Connection_V2_Command) -> int:
        """Send a connect request in the next occurrence of `subevent`; an HCI status."""
        if subevent >= self.params.num_subevents:
            return hci.HCI_ErrorCode.INVALID_HCI_COMMAND_PARAMETERS_ERROR
        if subevent in self._connects:
            return hci.HCI_ErrorCode.COMMAND_DISALLOWED_ERROR
        self._connects[subevent] = command
        return _SUCCESS

    def cancel_connect(self, command: pawr_hci.HCI_LE_Extended_Create_Connection_V2_Command) -> None:
        """Withdraw a pending connect request (Create Connection Cancel)."""
        self._connects = {subevent: pending for subevent, pending in self._connects.items() if pending is not command}


def _response_reports(handle: int, subevent: int, tx_status: int, entries: list[tuple[int, int, int, bytes]]) -> list[bytes]:
    """Response Report parameters for (rssi, slot, status, data) entries, split to fit 255 octets.

    A response that does not fit is cut with Data_Status 0x01 (incomplete, more to come) and
    continued in the next event; six octets are always left for that cut, so every event but the
    last ends in an incomplete entry (how a host tells a continued report from a new one).
    """
    reports: list[bytes] = []
    body: list[bytes] = []
    room = _MAX_EVENT_PARAMETERS - 1 - 4  # subevent code, then handle, subevent, tx status, count
    for rssi, slot, status, data in entries:
        while True:
            if 6 + len(data) <= room - 6:
                body.append(struct.pack("<bbBBBB", pawr_hci.UNKNOWN_POWER, rssi, pawr_hci.NO_CTE, slot, status, len(data)) + data)
                room -= 6 + len(data)
                break
            cut = max(room - 6, 0)
            body.append(struct.pack("<bbBBBB", pawr_hci.UNKNOWN_POWER, rssi, pawr_hci.NO_CTE, slot, pawr_hci.DATA_INCOMPLETE_MORE, cut) + data[:cut])
            data = data[cut:]
            reports.append(bytes((handle, subevent, tx_status, len(body))) + b"".join(body))
            body, room = [], _MAX_EVENT_PARAMETERS - 1 - 4
    reports.append(bytes((handle, subevent, tx_status, len(body))) + b"".join(body))
    return reports


class PawrController(Controller):
    """Bumble's virtual controller plus PAwR trains, PAST and Extended Create Connection v2 (see the module docstring)."""

    hci_version = hci.HCI_VERSION_BLUETOOTH_CORE_5_4
    lmp_version = hci.HCI_VERSION_BLUETOOTH_CORE_5_4
    le_features = (
        Controller.le_features
        | hci.LeFeatureMask.PERIODIC_ADVERTISING_SYNC_TRANSFER_SENDER
        | hci.LeFeatureMask.PERIODIC_ADVERTISING_SYNC_TRANSFER_RECIPIENT
        | hci.LeFeatureMask.PERIODIC_ADVERTISING_WITH_RESPONSES_ADVERTISER
        | hci.LeFeatureMask.PERIODIC_ADVERTISING_WITH_RESPONSES_SCANNER
    )
    supported_commands = Controller.supported_commands | {
        hci.HCI_LE_SET_EXTENDED_ADVERTISING_PARAMETERS_COMMAND,
        hci.HCI_LE_SET_PERIODIC_ADVERTISING_PARAMETERS_COMMAND,
        hci.HCI_LE_SET_PERIODIC_ADVERTISING_ENABLE_COMMAND,
        hci.HCI_LE_PERIODIC_ADVERTISING_CREATE_SYNC_COMMAND,
        hci.HCI_LE_PERIODIC_ADVERTISING_TERMINATE_SYNC_COMMAND,
        hci.HCI_LE_PERIODIC_ADVERTISING_SET_INFO_TRANSFER_COMMAND,
        hci.HCI_LE_SET_PERIODIC_ADVERTISING_SYNC_TRANSFER_PARAMETERS_COMMAND,
        hci.HCI_LE_SET_DEFAULT_PERIODIC_ADVERTISING_SYNC_TRANSFER_PARAMETERS_COMMAND,
        hci.HCI_LE_SET_PERIODIC_ADVERTISING_SUBEVENT_DATA_COMMAND,
        hci.HCI_LE_SET_PERIODIC_ADVERTISING_RESPONSE_DATA_COMMAND,
        hci.HCI_LE_SET_PERIODIC_SYNC_SUBEVENT_COMMAND,
        hci.HCI_LE_EXTENDED_CREATE_CONNECTION_V2_COMMAND,
        hci.HCI_LE_SET_PERIODIC_ADVERTISING_PARAMETERS_V2_COMMAND,
    }

    def __init__(
        self,
        name: str,
        *,
        link: IndexedLink,
        public_address: str | hci.Address | None = None,
        radio: RadioModel | None = None,
        seed: int = 0,
        request_lead_s: float | None = None,
        data_guard_s: float = 1.25e-3,
        accept_early: bool = False,
        empty_subevents: bool = False,
    ) -> None:
        """A controller on `link`; `radio` is how it hears trains, `seed` draws the losses of its own trains.

        `request_lead_s`, `data_guard_s`, `accept_early` and `empty_subevents` set how its trains
        treat their host (module docstring); they matter only for an AP's controller.
        """
        self.radio = radio or RadioModel()
        self.rng = random.Random(seed)
        self.request_lead_s = request_lead_s
        self.data_guard_s = data_guard_s
        self.accept_early = accept_early
        self.empty_subevents = empty_subevents
        self.trains: dict[int, EmulatedTrain] = {}  # by advertising handle
        self._train_params: dict[int, TrainParams] = {}
        self.pawr_syncs: dict[int, _Sync] = {}
        self._past_default = _PastParameters()
        self._past_by_connection: dict[int, _PastParameters] = {}
        self._create_sync_timeouts: dict[tuple[hci.Address, int], float] = {}
        self._pending_train_connect: tuple[EmulatedTrain, pawr_hci.HCI_LE_Extended_Create_Connection_V2_Command] | None = None
        self.loop = asyncio.get_running_loop()
        super().__init__(name, link=link, public_address=public_address)

    @property
    def is_listening(self) -> bool:
        """Scanning, initiating or creating a periodic sync: the link hands it advertising PDUs."""
        return self.le_scan_enable or self.pending_le_connection is not None or bool(self.pending_periodic_advertising_syncs)

    def _update_listener(self) -> None:
        """Tell an indexing link whether this controller wants advertising PDUs now."""
        if isinstance(self.link, IndexedLink):
            self.link.update_listener(self)

    # HCI plumbing without Bumble's eager debug strings ----------------------------------------
    def on_hci_packet(self, packet: hci.HCI_Packet) -> None:
        """Dispatch a host packet (logging it only when debug logging is on)."""
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("[%s] host -> controller: %s", self.name, packet)
        if isinstance(packet, hci.HCI_Command):
            self.on_hci_command_packet(packet)
        elif isinstance(packet, hci.HCI_AclDataPacket):
            self.on_hci_acl_data_packet(packet)
        else:
            super().on_hci_packet(packet)

    def send_hci_packet(self, packet: hci.HCI_Packet) -> None:
        """Queue a packet to the host (logging it only when debug logging is on)."""
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("[%s] controller -> host: %s", self.name, packet)
        if self.host:
            self.loop.call_soon(self.host.on_packet, bytes(packet))

    def _le_event_enabled(self, code: int) -> bool:
        """Whether the host's event masks let LE meta subevent `code` through (a real controller filters; Bumble's does not)."""
        return bool(self.event_mask & _LE_META_BIT) and bool(self.le_event_mask >> (code - 1) & 1)

    def _send_le_event(self, code: int, params: bytes) -> None:
        """Send LE meta subevent `code` with `params`, if the masks allow it."""
        if self.host and self._le_event_enabled(code):
            self.loop.call_soon(self.host.on_packet, bytes((hci.HCI_EVENT_PACKET, _META, len(params) + 1, code)) + params)

    def _send_le_event_object(self, event: hci.HCI_LE_Meta_Event) -> None:
        """Send a Bumble LE meta event object, if the masks allow it."""
        if self._le_event_enabled(event.subevent_code):
            self.send_hci_packet(event)

    def on_hci_reset_command(self, command: hci.HCI_Reset_Command) -> hci.HCI_StatusReturnParameters:
        """Reset: stop this controller's trains and forget its PAwR syncs and PAST settings."""
        for train in list(self.trains.values()):
            self._forget_train(train)
        for sync in list(self.pawr_syncs.values()):
            sync.train.remove_sync(sync)
        self.pawr_syncs.clear()
        self._past_default = _PastParameters()
        self._past_by_connection.clear()
        return super().on_hci_reset_command(command)

    # Listening state --------------------------------------------------------------------------
    def on_hci_le_set_scan_enable_command(self, command: hci.HCI_LE_Set_Scan_Enable_Command) -> hci.HCI_StatusReturnParameters:
        """Scan enable, then tell the link."""
        result = super().on_hci_le_set_scan_enable_command(command)
        self._update_listener()
        return result

    def on_hci_le_set_extended_scan_enable_command(self, command: hci.HCI_LE_Set_Extended_Scan_Enable_Command) -> hci.HCI_StatusReturnParameters:
        """Extended scan enable, then tell the link."""
        result = super().on_hci_le_set_extended_scan_enable_command(command)
        self._update_listener()
        return result

    def on_hci_le_create_connection_command(self, command: hci.HCI_LE_Create_Connection_Command) -> None:
        """Initiate, then tell the link."""
        super().on_hci_le_create_connection_command(command)
        self._update_listener()

    def on_hci_le_extended_create_connection_command(self, command: hci.HCI_LE_Extended_Create_Connection_Command) -> None:
        """Initiate (extended), then tell the link."""
        super().on_hci_le_extended_create_connection_command(command)
        self._update_listener()

    def create_le_connection(self, peer_address: hci.Address) -> None:
        """Connect to an advertiser heard, then tell the link the initiator is done."""
        key = self.pending_le_connection.peer_address if self.pending_le_connection is not None else peer_address
        before = self.le_connections.get(key)
        super().create_le_connection(peer_address)
        if (connection := self.le_connections.get(key)) is not None and connection is not before:
            self._connection_made(connection)
        self._update_listener()

    def on_le_connect_ind(self, packet: ll.ConnectInd) -> None:
        """A central connected to one of our advertisers."""
        before = self.le_connections.get(packet.initiator_address)
        super().on_le_connect_ind(packet)
        if (connection := self.le_connections.get(packet.initiator_address)) is not None and connection is not before:
            self._connection_made(connection)

    def _connection_made(self, connection: Connection) -> None:
        """A new LE connection takes the default PAST parameters of this moment (later defaults do not change it)."""
        self._past_by_connection[connection.handle] = replace(self._past_default)

    def on_le_disconnected(self, connection: Connection, reason: int) -> None:
        """A connection ended: forget its PAST parameters (its handle will be reused)."""
        self._past_by_connection.pop(connection.handle, None)
        super().on_le_disconnected(connection, reason)

    def on_hci_le_create_connection_cancel_command(self, command: hci.HCI_LE_Create_Connection_Cancel_Command) -> hci.HCI_StatusReturnParameters:
        """Cancel a pending connection and report it (Bumble's controller leaves the host waiting)."""
        if self._pending_train_connect is not None:
            train, pending = self._pending_train_connect
            train.cancel_connect(pending)
            self._train_connection_failed(pending, hci.HCI_ErrorCode.UNKNOWN_CONNECTION_IDENTIFIER_ERROR)
            return hci.HCI_StatusReturnParameters(_SUCCESS)
        if (pending := self.pending_le_connection) is None:
            return hci.HCI_StatusReturnParameters(hci.HCI_ErrorCode.COMMAND_DISALLOWED_ERROR)
        self.pending_le_connection = None
        self._update_listener()
        self._send_connection_complete(
            hci.HCI_ErrorCode.UNKNOWN_CONNECTION_IDENTIFIER_ERROR, 0, hci.Role.CENTRAL, pending.peer_address,
            pending.peer_address.address_type, 0, 0, 0, pawr_hci.NO_ADVERTISING_HANDLE, pawr_hci.NO_SYNC_HANDLE,
        )
        return hci.HCI_StatusReturnParameters(_SUCCESS)

    def on_hci_le_set_advertising_set_random_address_command(
        self, command: hci.HCI_LE_Set_Advertising_Set_Random_Address_Command
    ) -> hci.HCI_StatusReturnParameters:
        """An advertising set's own address: index it so CONNECT_IND and ACL to it arrive."""
        result = super().on_hci_le_set_advertising_set_random_address_command(command)
        if isinstance(self.link, IndexedLink):
            self.link.index(self, command.random_address)
        return result

    # AP side: the train -----------------------------------------------------------------------
    def on_hci_le_set_periodic_advertising_parameters_v2_command(
        self, command: pawr_hci.HCI_LE_Set_Periodic_Advertising_Parameters_V2_Command
    ) -> pawr_hci.HCI_StatusAndAdvertisingHandleReturnParameters:
        """The train's interval and layout (Core 5.4 §7.8.61 v2); the interval used is the minimum asked for."""
        handle = command.advertising_handle

        def answer(status: int) -> pawr_hci.HCI_StatusAndAdvertisingHandleReturnParameters:
            """The return parameters with `status`."""
            return pawr_hci.HCI_StatusAndAdvertisingHandleReturnParameters(status=status, advertising_handle=handle)

        if handle not in self.advertising_sets:
            return answer(hci.HCI_ErrorCode.UNKNOWN_ADVERTISING_IDENTIFIER_ERROR)
        if (train := self.trains.get(handle)) is not None and train.running:
            return answer(hci.HCI_ErrorCode.COMMAND_DISALLOWED_ERROR)
        params = TrainParams(
            interval=command.periodic_advertising_interval_min, num_subevents=command.num_subevents,
            subevent_interval=command.subevent_interval, response_slot_delay=command.response_slot_delay,
            response_slot_spacing=command.response_slot_spacing, num_response_slots=command.num_response_slots,
        )
        if command.periodic_advertising_interval_min > command.periodic_advertising_interval_max or (
            command.num_subevents and params.problems()
        ):
            return answer(hci.HCI_ErrorCode.INVALID_HCI_COMMAND_PARAMETERS_ERROR)
        if command.num_subevents:
            self._train_params[handle] = params
        else:
            self._train_params.pop(handle, None)
        return answer(_SUCCESS)

    def on_hci_le_set_periodic_advertising_enable_command(
        self, command: hci.HCI_LE_Set_Periodic_Advertising_Enable_Command
    ) -> hci.HCI_StatusReturnParameters:
        """Start or stop a PAwR train; plain periodic advertising is left to Bumble."""
        handle = command.advertising_handle
        if (params := self._train_params.get(handle)) is None:
            return super().on_hci_le_set_periodic_advertising_enable_command(command)
        if (adv_set := self.advertising_sets.get(handle)) is None or adv_set.address is None:
            return hci.HCI_StatusReturnParameters(hci.HCI_ErrorCode.UNKNOWN_ADVERTISING_IDENTIFIER_ERROR)
        if command.enable & 0x01:
            train = self.trains.get(handle)
            if train is None or train.params != params:
                if train is not None:
                    self._forget_train(train)
                sid = adv_set.parameters.advertising_sid if adv_set.parameters else 0
                train = EmulatedTrain(self, handle, params, adv_set.address, sid)
                self.trains[handle] = train
            if not train.running:
                train.start()
                if isinstance(self.link, IndexedLink):
                    self.link.add_train(train)
        elif (train := self.trains.get(handle)) is not None:
            self._forget_train(train)
        return hci.HCI_StatusReturnParameters(_SUCCESS)

    def _forget_train(self, train: EmulatedTrain) -> None:
        """Stop a train and take it off the link's registry."""
        train.stop()
        self.trains.pop(train.handle, None)
        if isinstance(self.link, IndexedLink):
            self.link.remove_train(train)

    def on_hci_le_remove_advertising_set_command(self, command: hci.HCI_LE_Remove_Advertising_Set_Command) -> hci.HCI_StatusReturnParameters:
        """Removing a set stops its train."""
        if (train := self.trains.get(command.advertising_handle)) is not None:
            self._forget_train(train)
        self._train_params.pop(command.advertising_handle, None)
        return super().on_hci_le_remove_advertising_set_command(command)

    def on_hci_le_set_periodic_advertising_subevent_data_command(
        self, command: pawr_hci.HCI_LE_Set_Periodic_Advertising_Subevent_Data_Command
    ) -> pawr_hci.HCI_StatusAndAdvertisingHandleReturnParameters:
        """Data for subevents the controller asked for (Core 5.4 §7.8.125)."""
        handle = command.advertising_handle
        if (train := self.trains.get(handle)) is None or not train.running:
            status = hci.HCI_ErrorCode.UNKNOWN_ADVERTISING_IDENTIFIER_ERROR
        else:
            status = train.accept_data(list(zip(command.subevent, command.response_slot_start,
                                                command.response_slot_count, command.subevent_data)))
        return pawr_hci.HCI_StatusAndAdvertisingHandleReturnParameters(status=status, advertising_handle=handle)

    def on_hci_le_periodic_advertising_set_info_transfer_command(
        self, command: hci.HCI_LE_Periodic_Advertising_Set_Info_Transfer_Command
    ) -> hci.HCI_StatusAndConnectionHandleReturnParameters:
        """PAST: hand the train's timing to the peer of an LE connection (its LL_PERIODIC_SYNC_IND)."""
        handle = command.connection_handle

        def answer(status: int) -> hci.HCI_StatusAndConnectionHandleReturnParameters:
            """The return parameters with `status`."""
            return hci.HCI_StatusAndConnectionHandleReturnParameters(status=status, connection_handle=handle)

        if (connection := self.find_le_connection_by_handle(handle)) is None:
            return answer(hci.HCI_ErrorCode.UNKNOWN_CONNECTION_IDENTIFIER_ERROR)
        if (train := self.trains.get(command.advertising_handle)) is None or not train.running:
            return answer(hci.HCI_ErrorCode.UNKNOWN_ADVERTISING_IDENTIFIER_ERROR)
        peer = self.link.find_le_controller(connection.peer_address)
        if isinstance(peer, PawrController):
            self.loop.call_soon(peer._on_past, connection.self_address, train, command.service_data)
        return answer(_SUCCESS)

    # AP side: connecting through the train ------------------------------------------------------
    def on_hci_le_extended_create_connection_v2_command(self, command: pawr_hci.HCI_LE_Extended_Create_Connection_V2_Command) -> None:
        """Connect through a train's subevent (Advertising_Handle != 0xFF), or as v1 otherwise."""
        if command.advertising_handle == pawr_hci.NO_ADVERTISING_HANDLE:
            self.on_hci_le_extended_create_connection_command(command)
            return
        train = self.trains.get(command.advertising_handle)
        if self.pending_le_connection is not None or self._pending_train_connect is not None:
            status: int = hci.HCI_ErrorCode.COMMAND_DISALLOWED_ERROR
        elif train is None or not train.running:
            status = hci.HCI_ErrorCode.UNKNOWN_ADVERTISING_IDENTIFIER_ERROR
        else:
            status = train.connect_at_next(command.subevent, command)
        if status == _SUCCESS:
            assert train is not None
            self._pending_train_connect = (train, command)
            status = hci.HCI_COMMAND_STATUS_PENDING
        self._send_hci_command_status(status, command.op_code)

    def _connect_through(self, train: EmulatedTrain, command: pawr_hci.HCI_LE_Extended_Create_Connection_V2_Command, subevent: int) -> None:
        """The connect request goes out in `subevent`: connect if the target hears it there."""
        self._pending_train_connect = None
        target = self.link.find_le_controller(command.peer_address)
        sync = target._sync_to(train) if isinstance(target, PawrController) else None
        if sync is None or subevent not in sync.subevents or not _hears(target.radio, self.rng):
            self._train_connection_failed(command, hci.HCI_ErrorCode.CONNECTION_FAILED_TO_BE_ESTABLISHED_ERROR)
            return
        assert isinstance(target, PawrController)
        own = self.public_address if command.own_address_type == hci.OwnAddressType.PUBLIC else self.random_address
        interval = command.connection_interval_mins[0]
        latency = command.max_latencies[0]
        timeout = command.supervision_timeouts[0]
        connection = Connection(
            controller=self, handle=self.allocate_connection_handle(), role=hci.Role.CENTRAL, self_address=own,
            peer_address=command.peer_address, link=self.link, transport=PhysicalTransport.LE,
            link_type=hci.HCI_Connection_Complete_Event.LinkType.ACL,
        )
        self.le_connections[command.peer_address] = connection
        self._connection_made(connection)
        target._accept_train_connection(own, command.peer_address, sync, interval, latency, timeout)
        self._send_connection_complete(
            _SUCCESS, connection.handle, hci.Role.CENTRAL, command.peer_address, command.peer_address_type,
            interval, latency, timeout, train.handle, pawr_hci.NO_SYNC_HANDLE,
        )

    def _train_connection_failed(self, command: pawr_hci.HCI_LE_Extended_Create_Connection_V2_Command, status: int) -> None:
        """Tell the host a connection through the train did not happen."""
        self._pending_train_connect = None
        self._send_connection_complete(
            status, 0, hci.Role.CENTRAL, command.peer_address, command.peer_address_type, 0, 0, 0,
            command.advertising_handle, pawr_hci.NO_SYNC_HANDLE,
        )

    def _send_connection_complete(
        self, status: int, handle: int, role: int, peer: hci.Address, peer_type: int, interval: int, latency: int,
        timeout: int, advertising_handle: int, sync_handle: int,
    ) -> None:
        """LE Enhanced Connection Complete v2 if the host enabled it, else the newest version it did."""
        common = dict(status=status, connection_handle=handle, role=role, peer_address_type=peer_type,
                      peer_address=peer, connection_interval=interval, peripheral_latency=latency,
                      supervision_timeout=timeout, central_clock_accuracy=0)
        rpas = dict(local_resolvable_private_address=hci.Address.ANY_RANDOM, peer_resolvable_private_address=hci.Address.ANY_RANDOM)
        if self._le_event_enabled(hci.HCI_LE_ENHANCED_CONNECTION_COMPLETE_V2_EVENT):
            self.send_hci_packet(hci.HCI_LE_Enhanced_Connection_Complete_V2_Event(
                **common, **rpas, advertising_handle=advertising_handle, sync_handle=sync_handle))
        elif self._le_event_enabled(hci.HCI_LE_ENHANCED_CONNECTION_COMPLETE_EVENT):
            self.send_hci_packet(hci.HCI_LE_Enhanced_Connection_Complete_Event(**common, **rpas))
        else:
            self._send_le_event_object(hci.HCI_LE_Connection_Complete_Event(**common))

    # Receiver side ------------------------------------------------------------------------------
    def _sync_to(self, train: EmulatedTrain) -> _Sync | None:
        """This controller's sync to `train`, if any."""
        return next((sync for sync in self.pawr_syncs.values() if sync.train is train), None)

    def _new_sync(self, train: EmulatedTrain, timeout_s: float, reports: bool) -> _Sync:
        """Allocate a sync handle and join `train`."""
        handle = next(h for h in itertools.count(_PAWR_SYNC_HANDLE_BASE) if h not in self.pawr_syncs)
        sync = _Sync(self, handle, train, timeout_s, reports, self.loop.time())
        self.pawr_syncs[handle] = sync
        train.add_sync(sync)
        return sync

    def on_hci_le_set_default_periodic_advertising_sync_transfer_parameters_command(
        self, command: hci.HCI_LE_Set_Default_Periodic_Advertising_Sync_Transfer_Parameters_Command
    ) -> hci.HCI_StatusReturnParameters:
        """How PAST is received on connections made from now on (Core 5.4 §7.8.92)."""
        self._past_default = _PastParameters(command.mode, command.skip, command.sync_timeout * 0.01)
        return hci.HCI_StatusReturnParameters(_SUCCESS)

    def on_hci_le_set_periodic_advertising_sync_transfer_parameters_command(
        self, command: hci.HCI_LE_Set_Periodic_Advertising_Sync_Transfer_Parameters_Command
    ) -> hci.HCI_StatusAndConnectionHandleReturnParameters:
        """How PAST is received on one connection (Core 5.4 §7.8.91)."""
        handle = command.connection_handle
        if self.find_le_connection_by_handle(handle) is None:
            status: int = hci.HCI_ErrorCode.UNKNOWN_CONNECTION_IDENTIFIER_ERROR
        else:
            self._past_by_connection[handle] = _PastParameters(command.mode, command.skip, command.sync_timeout * 0.01)
            status = _SUCCESS
        return hci.HCI_StatusAndConnectionHandleReturnParameters(status=status, connection_handle=handle)

    def _on_past(self, sender: hci.Address, train: EmulatedTrain, service_data: int) -> None:
        """An LL_PERIODIC_SYNC_IND arrived over the connection with `sender`: synchronise and tell the host."""
        if (connection := self.le_connections.get(sender)) is None or not train.running:
            return
        params = self._past_by_connection.get(connection.handle, _PastParameters())
        if params.mode == _PAST_MODE_OFF or self._sync_to(train) is not None:
            return  # PAST not wanted, or already synchronised to this train: ignored, as the spec says
        sync = self._new_sync(train, params.timeout_s, params.mode != _PAST_MODE_NO_REPORTS)
        common = dict(
            status=_SUCCESS, connection_handle=connection.handle, service_data=service_data, sync_handle=sync.handle,
            advertising_sid=train.sid, advertiser_address_type=train.address.address_type,
            advertiser_address=train.address, advertiser_phy=hci.Phy.LE_1M,
            periodic_advertising_interval=train.params.interval, advertiser_clock_accuracy=0,
        )
        if self._le_event_enabled(hci.HCI_LE_PERIODIC_ADVERTISING_SYNC_TRANSFER_RECEIVED_V2_EVENT):
            self.send_hci_packet(hci.HCI_LE_Periodic_Advertising_Sync_Transfer_Received_V2_Event(
                **common, num_subevents=train.params.num_subevents, subevent_interval=train.params.subevent_interval,
                response_slot_delay=train.params.response_slot_delay, response_slot_spacing=train.params.response_slot_spacing,
            ))
        else:
            self._send_le_event_object(hci.HCI_LE_Periodic_Advertising_Sync_Transfer_Received_Event(**common))

    def on_hci_le_periodic_advertising_create_sync_command(self, command: hci.HCI_LE_Periodic_Advertising_Create_Sync_Command) -> None:
        """Create a sync by scanning; a PAwR train found in the link's registry is joined with its timing."""
        super().on_hci_le_periodic_advertising_create_sync_command(command)
        self._create_sync_timeouts[(command.advertiser_address, command.advertising_sid)] = command.sync_timeout * 0.01
        self._update_listener()

    def on_advertising_pdu(self, pdu: ll.AdvInd | ll.AdvExtInd) -> None:
        """An advertising PDU heard: join a PAwR train a pending sync waits for, then Bumble's handling."""
        if isinstance(pdu, ll.AdvExtInd) and isinstance(self.link, IndexedLink):
            key = (pdu.advertiser_address, pdu.sid)
            train = self.link.trains.get((bytes(pdu.advertiser_address), pdu.sid))
            if train is not None and train.running and (handle := self.pending_periodic_advertising_syncs.pop(key, None)):
                self._join_by_scan(train, handle, self._create_sync_timeouts.pop(key, 10.0))
                self._update_listener()
        super().on_advertising_pdu(pdu)

    def _join_by_scan(self, train: EmulatedTrain, handle: int, timeout_s: float) -> None:
        """Synchronised by scanning: LE Periodic Advertising Sync Established v2 with the train's layout."""
        if self._sync_to(train) is not None:
            return
        sync = _Sync(self, handle, train, timeout_s, True, self.loop.time())
        self.pawr_syncs[handle] = sync
        train.add_sync(sync)
        common = dict(
            status=_SUCCESS, sync_handle=handle, advertising_sid=train.sid, advertiser_address_type=train.address.address_type,
            advertiser_address=train.address, advertiser_phy=hci.Phy.LE_1M,
            periodic_advertising_interval=train.params.interval, advertiser_clock_accuracy=0,
        )
        if self._le_event_enabled(hci.HCI_LE_PERIODIC_ADVERTISING_SYNC_ESTABLISHED_V2_EVENT):
            self.send_hci_packet(hci.HCI_LE_Periodic_Advertising_Sync_Established_V2_Event(
                **common, num_subevents=train.params.num_subevents, subevent_interval=train.params.subevent_interval,
                response_slot_delay=train.params.response_slot_delay, response_slot_spacing=train.params.response_slot_spacing,
            ))
        else:
            self._send_le_event_object(hci.HCI_LE_Periodic_Advertising_Sync_Established_Event(**common))

    def on_hci_le_set_periodic_sync_subevent_command(
        self, command: pawr_hci.HCI_LE_Set_Periodic_Sync_Subevent_Command
    ) -> pawr_hci.HCI_StatusAndSyncHandleReturnParameters:
        """Which subevents of the train this receiver listens to (Core 5.4 §7.8.127)."""
        handle = command.sync_handle
        if (sync := self.pawr_syncs.get(handle)) is None:
            status: int = hci.HCI_ErrorCode.UNKNOWN_ADVERTISING_IDENTIFIER_ERROR
        else:
            status = sync.train.listen(sync, tuple(command.subevents))
        return pawr_hci.HCI_StatusAndSyncHandleReturnParameters(status=status, sync_handle=handle)

    def on_hci_le_set_periodic_advertising_response_data_command(
        self, command: pawr_hci.HCI_LE_Set_Periodic_Advertising_Response_Data_Command
    ) -> pawr_hci.HCI_StatusAndSyncHandleReturnParameters:
        """A response for one slot (Core 5.4 §7.8.126): TOO_LATE once the slot has passed."""
        handle = command.sync_handle
        if (sync := self.pawr_syncs.get(handle)) is None:
            status: int = hci.HCI_ErrorCode.UNKNOWN_ADVERTISING_IDENTIFIER_ERROR
        elif len(command.response_data) > _MAX_SUBEVENT_DATA:
            status = hci.HCI_ErrorCode.PACKET_TOO_LONG_ERROR
        else:
            status = sync.train.add_response(sync, command.request_event, command.response_subevent,
                                             command.response_slot, command.response_data)
        return pawr_hci.HCI_StatusAndSyncHandleReturnParameters(status=status, sync_handle=handle)

    def on_hci_le_periodic_advertising_terminate_sync_command(
        self, command: hci.HCI_LE_Periodic_Advertising_Terminate_Sync_Command
    ) -> hci.HCI_StatusReturnParameters:
        """End a PAwR sync (or a plain one, as Bumble does)."""
        if (sync := self.pawr_syncs.pop(command.sync_handle, None)) is not None:
            sync.train.remove_sync(sync)
            return hci.HCI_StatusReturnParameters(_SUCCESS)
        return super().on_hci_le_periodic_advertising_terminate_sync_command(command)

    def _deliver_report(self, handle: int, rssi: int, counter: int, subevent: int, data: bytes, headers: dict[tuple[int, int], bytes]) -> None:
        """A subevent packet received: PA Report v2 (or v1 if that is all the host enabled), split if long."""
        if not self.host:
            return
        if len(data) <= _MAX_REPORT_DATA and self._le_event_enabled(_REPORT_V2):
            header = headers.get((handle, rssi))
            if header is None:
                header = headers[(handle, rssi)] = struct.pack("<HbbB", handle, pawr_hci.UNKNOWN_POWER, rssi, pawr_hci.NO_CTE)
            params = header + struct.pack("<HBBB", counter, subevent, pawr_hci.DATA_COMPLETE, len(data)) + data
            self.loop.call_soon(self.host.on_packet, bytes((hci.HCI_EVENT_PACKET, _META, len(params) + 1, _REPORT_V2)) + params)
            return
        v2 = self._le_event_enabled(_REPORT_V2)
        room = _MAX_REPORT_DATA if v2 else _MAX_REPORT_DATA + 3
        chunks = [data[i:i + room] for i in range(0, len(data), room)] or [b""]
        for index, chunk in enumerate(chunks):
            status = pawr_hci.DATA_COMPLETE if index == len(chunks) - 1 else pawr_hci.DATA_INCOMPLETE_MORE
            head = struct.pack("<HbbB", handle, pawr_hci.UNKNOWN_POWER, rssi, pawr_hci.NO_CTE)
            if v2:
                self._send_le_event(_REPORT_V2, head + struct.pack("<HBBB", counter, subevent, status, len(chunk)) + chunk)
            else:
                self._send_le_event(_REPORT_V1, head + struct.pack("<BB", status, len(chunk)) + chunk)

    def _lose_sync(self, sync: _Sync) -> None:
        """The receiver heard its train for too long not: LE Periodic Advertising Sync Lost."""
        if self.pawr_syncs.get(sync.handle) is not sync:
            return
        del self.pawr_syncs[sync.handle]
        sync.train.remove_sync(sync)
        self._send_le_event(hci.HCI_LE_PERIODIC_ADVERTISING_SYNC_LOST_EVENT, struct.pack("<H", sync.handle))

    def _accept_train_connection(self, central: hci.Address, own: hci.Address, sync: _Sync, interval: int, latency: int, timeout: int) -> None:
        """A connect request heard in this receiver's subevent: the peripheral end of the new connection."""
        connection = Connection(
            controller=self, handle=self.allocate_connection_handle(), role=hci.Role.PERIPHERAL, self_address=own,
            peer_address=central, link=self.link, transport=PhysicalTransport.LE,
            link_type=hci.HCI_Connection_Complete_Event.LinkType.ACL,
        )
        self.le_connections[central] = connection
        self._connection_made(connection)
        self._send_connection_complete(
            _SUCCESS, connection.handle, hci.Role.PERIPHERAL, central, central.address_type, interval, latency,
            timeout, pawr_hci.NO_ADVERTISING_HANDLE, sync.handle,
        )


def _hears(radio: RadioModel, rng: random.Random) -> bool:
    """Whether a receiver with `radio` hears one packet (one draw only when it can miss)."""
    return radio.in_range and not (radio.packet_loss and rng.random() < radio.packet_loss)


def virtual_device(
    link: IndexedLink,
    address: str | hci.Address,
    *,
    name: str | None = None,
    radio: RadioModel | None = None,
    seed: int = 0,
    **controller_options: Any,
) -> tuple[Device, PawrController]:
    """A Bumble device on a `PawrController` on `link`, with the PAwR host (call `await device.power_on()`)."""
    address = address if isinstance(address, hci.Address) else hci.Address(address)
    controller = PawrController(name or str(address), link=link, radio=radio, seed=seed, **controller_options)
    host = PawrHost(controller, controller)
    return Device(name=name or str(address), address=address, host=host), controller

