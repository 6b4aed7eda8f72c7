"""The PAwR HCI packets Bumble 0.0.236 lacks, registered in Bumble's own command and event registries.

Periodic Advertising with Responses (Core 5.4) adds five commands and four LE meta events. Bumble
0.0.236 knows their opcodes and event codes but has no classes for most of them, so its host cannot
send them and cannot parse what a controller answers. Importing this module registers:

| packet | code | Core 5.4 Vol 4 Part E |
|---|---|---|
| `HCI_LE_Set_Periodic_Advertising_Subevent_Data_Command` | 0x2082 | §7.8.125 |
| `HCI_LE_Set_Periodic_Advertising_Response_Data_Command` | 0x2083 | §7.8.126 |
| `HCI_LE_Set_Periodic_Sync_Subevent_Command` | 0x2084 | §7.8.127 |
| `HCI_LE_Extended_Create_Connection_V2_Command` | 0x2085 | §7.8.66 (v2) |
| `HCI_LE_Set_Periodic_Advertising_Parameters_V2_Command` | 0x2086 | §7.8.61 (v2) |
| `HCI_LE_Periodic_Advertising_Report_V2_Event` | LE meta 0x25 | §7.7.65.15 (v2), replaces Bumble's, whose Data_Status is typed as a CTE type |
| `HCI_LE_Periodic_Advertising_Subevent_Data_Request_Event` | LE meta 0x27 | §7.7.65.36 |
| `HCI_LE_Periodic_Advertising_Response_Report_Event` | LE meta 0x28 | §7.7.65.37 |

Bumble's own classes already cover PAST (LE Periodic Advertising Set Info Transfer 0x205B, the sync
transfer parameters 0x205C/0x205D, PAST Received v2 0x26 with its subevent timing fields) and LE
Enhanced Connection Complete v2 (0x29); its *host* drops the v2 fields, which `host.PawrHost` restores.

Field layouts follow Zephyr's `include/zephyr/bluetooth/hci_types.h` (`bt_hci_cp_le_set_pawr_*`,
`bt_hci_evt_le_per_adv_*`) and the return parameters Nordic's SoftDevice Controller headers declare
(`sdc_hci_cmd_le.h`: a handle after the status for 0x2082–0x2084 and 0x2086); both agree with each
other. Nothing here depends on ESL: it could be offered to Bumble as it is.
"""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Sequence
from dataclasses import field
from typing import Self

from bumble import hci
from bumble.hci import metadata

# LE event mask bits (bit n enables LE meta subevent n + 1; Zephyr hci_types.h BT_EVT_MASK_LE_*).
LE_EVENT_MASK_PAWR_BITS = {
    hci.HCI_LE_PERIODIC_ADVERTISING_REPORT_V2_EVENT: 36,
    hci.HCI_LE_PERIODIC_ADVERTISING_SYNC_TRANSFER_RECEIVED_V2_EVENT: 37,
    hci.HCI_LE_PERIODIC_ADVERTISING_SUBEVENT_DATA_REQUEST_EVENT: 38,
    hci.HCI_LE_PERIODIC_ADVERTISING_RESPONSE_REPORT_EVENT: 39,
}
PAWR_LE_EVENT_MASK = sum(1 << bit for bit in LE_EVENT_MASK_PAWR_BITS.values())

# Error codes added for PAwR in Core 5.4 (Vol 1 Part F), newer than Bumble's HCI_ErrorCode table.
HCI_TOO_LATE_ERROR = 0x46
HCI_TOO_EARLY_ERROR = 0x47

# Data_Status values of PA Report v2 and Response Report entries (0xFF: nothing was received).
DATA_COMPLETE = 0x00
DATA_INCOMPLETE_MORE = 0x01
DATA_TRUNCATED = 0x02
DATA_RX_FAILED = 0xFF

NO_SUBEVENT = 0xFF  # PA Report v2 Subevent for a train without subevents
NO_ADVERTISING_HANDLE = 0xFF  # Extended Create Connection v2 that does not go through a train
NO_SYNC_HANDLE = 0xFFFF
NO_CTE = 0xFF
UNKNOWN_POWER = 0x7F  # Tx_Power / RSSI not available


class DataStatus(hci.SpecableEnum):
    """Data_Status of a periodic advertising report or a response entry."""

    COMPLETE = DATA_COMPLETE
    INCOMPLETE_MORE_TO_COME = DATA_INCOMPLETE_MORE
    TRUNCATED = DATA_TRUNCATED
    RX_FAILED = DATA_RX_FAILED


# -----------------------------------------------------------------------------
# Return parameters
# -----------------------------------------------------------------------------
@dataclasses.dataclass
class HCI_StatusAndAdvertisingHandleReturnParameters(hci.HCI_StatusReturnParameters):
    """Status then Advertising_Handle (0x2082, 0x2086)."""

    advertising_handle: int = field(metadata=metadata(1))


@dataclasses.dataclass
class HCI_StatusAndSyncHandleReturnParameters(hci.HCI_StatusReturnParameters):
    """Status then Sync_Handle (0x2083, 0x2084)."""

    sync_handle: int = field(metadata=metadata(2))


# -----------------------------------------------------------------------------
# Commands
# -----------------------------------------------------------------------------
@hci.HCI_SyncCommand.sync_command(HCI_StatusAndAdvertisingHandleReturnParameters)
@dataclasses.dataclass
class HCI_LE_Set_Periodic_Advertising_Parameters_V2_Command(
    hci.HCI_SyncCommand[HCI_StatusAndAdvertisingHandleReturnParameters]
):
    """Core 5.4 §7.8.61 v2: the train's interval plus its subevent and response slot layout."""

    advertising_handle: int = field(metadata=metadata(1))
    periodic_advertising_interval_min: int = field(metadata=metadata(2))  # x 1.25 ms
    periodic_advertising_interval_max: int = field(metadata=metadata(2))  # x 1.25 ms
    periodic_advertising_properties: int = field(metadata=metadata(2))
    num_subevents: int = field(metadata=metadata(1))  # 0 (no PAwR) .. 128
    subevent_interval: int = field(metadata=metadata(1))  # x 1.25 ms, 6..255
    response_slot_delay: int = field(metadata=metadata(1))  # x 1.25 ms, 1..254
    response_slot_spacing: int = field(metadata=metadata(1))  # x 0.125 ms, 2..255
    num_response_slots: int = field(metadata=metadata(1))  # 1..255


@hci.HCI_SyncCommand.sync_command(HCI_StatusAndAdvertisingHandleReturnParameters)
@dataclasses.dataclass
class HCI_LE_Set_Periodic_Advertising_Subevent_Data_Command(
    hci.HCI_SyncCommand[HCI_StatusAndAdvertisingHandleReturnParameters]
):
    """Core 5.4 §7.8.125: data for one or more subevents, each with the response slots to listen to."""

    advertising_handle: int = field(metadata=metadata(1))
    subevent: Sequence[int] = field(metadata=metadata(1, list_begin=True))
    response_slot_start: Sequence[int] = field(metadata=metadata(1))
    response_slot_count: Sequence[int] = field(metadata=metadata(1))
    subevent_data: Sequence[bytes] = field(metadata=metadata("v", list_end=True))


@hci.HCI_SyncCommand.sync_command(HCI_StatusAndSyncHandleReturnParameters)
@dataclasses.dataclass
class HCI_LE_Set_Periodic_Advertising_Response_Data_Command(
    hci.HCI_SyncCommand[HCI_StatusAndSyncHandleReturnParameters]
):
    """Core 5.4 §7.8.126: a synced receiver's answer to one subevent packet, for one response slot."""

    sync_handle: int = field(metadata=metadata(2))
    request_event: int = field(metadata=metadata(2))  # periodic event counter of the packet answered
    request_subevent: int = field(metadata=metadata(1))
    response_subevent: int = field(metadata=metadata(1))
    response_slot: int = field(metadata=metadata(1))
    response_data: bytes = field(metadata=metadata("v"))


@hci.HCI_SyncCommand.sync_command(HCI_StatusAndSyncHandleReturnParameters)
@dataclasses.dataclass
class HCI_LE_Set_Periodic_Sync_Subevent_Command(
    hci.HCI_SyncCommand[HCI_StatusAndSyncHandleReturnParameters]
):
    """Core 5.4 §7.8.127: which subevents of the train a synced receiver listens to."""

    sync_handle: int = field(metadata=metadata(2))
    periodic_advertising_properties: int = field(metadata=metadata(2))
    subevents: Sequence[int] = field(metadata=metadata(1, list_begin=True, list_end=True))


@hci.HCI_Command.command
class HCI_LE_Extended_Create_Connection_V2_Command(hci.HCI_LE_Extended_Create_Connection_Command):
    """Core 5.4 §7.8.66 v2: connect, optionally through a PAwR train's subevent (Advertising_Handle != 0xFF).

    The layout is v1's with Advertising_Handle and Subevent in front; like Bumble's v1 class, one
    block of eight 16-bit parameters follows for each PHY bit set in Initiating_PHYs. It subclasses
    v1 so that code reading a pending v1 connection (Bumble's controller) reads a v2 one the same way.
    """

    name = "HCI_LE_EXTENDED_CREATE_CONNECTION_V2_COMMAND"
    op_code = hci.HCI_LE_EXTENDED_CREATE_CONNECTION_V2_COMMAND
    _PHY_BLOCK = struct.Struct("<8H")
    _PHY_FIELDS = ("scan_intervals", "scan_windows", "connection_interval_mins", "connection_interval_maxs",
                   "max_latencies", "supervision_timeouts", "min_ce_lengths", "max_ce_lengths")

    def __init__(
        self, *, advertising_handle: int, subevent: int, initiator_filter_policy: int, own_address_type: int,
        peer_address_type: int, peer_address: hci.Address, initiating_phys: int, scan_intervals: Sequence[int],
        scan_windows: Sequence[int], connection_interval_mins: Sequence[int], connection_interval_maxs: Sequence[int],
        max_latencies: Sequence[int], supervision_timeouts: Sequence[int], min_ce_lengths: Sequence[int],
        max_ce_lengths: Sequence[int],
    ) -> None:
        """Keep the fields and build the parameter bytes."""
        hci.HCI_Command.__init__(self)
        self.advertising_handle = advertising_handle
        self.subevent = subevent
        self.initiator_filter_policy = initiator_filter_policy
        self.own_address_type = own_address_type
        self.peer_address_type = peer_address_type
        self.peer_address = peer_address
        self.initiating_phys = initiating_phys
        blocks = [scan_intervals, scan_windows, connection_interval_mins, connection_interval_maxs, max_latencies,
                  supervision_timeouts, min_ce_lengths, max_ce_lengths]
        for name, values in zip(self._PHY_FIELDS, blocks):
            setattr(self, name, list(values))
        phys = bin(initiating_phys).count("1")
        if any(len(values) != phys for values in blocks):
            raise hci.InvalidArgumentError("one parameter block per PHY in initiating_phys")
        self.parameters = (
            bytes([advertising_handle, subevent, initiator_filter_policy, own_address_type, peer_address_type])
            + bytes(peer_address) + bytes([initiating_phys])
            + b"".join(self._PHY_BLOCK.pack(*(values[i] for values in blocks)) for i in range(phys))
        )

    @classmethod
    def from_parameters(cls, parameters: bytes) -> Self:
        """Parse the parameter bytes."""
        phys = parameters[11]
        count = bin(phys).count("1")
        if len(parameters) != 12 + count * cls._PHY_BLOCK.size:
            raise hci.InvalidPacketError("LE Extended Create Connection v2: wrong length for its PHYs")
        rows = [cls._PHY_BLOCK.unpack_from(parameters, 12 + i * cls._PHY_BLOCK.size) for i in range(count)]
        columns = {name: [row[j] for row in rows] for j, name in enumerate(cls._PHY_FIELDS)}
        command = cls(
            advertising_handle=parameters[0], subevent=parameters[1], initiator_filter_policy=parameters[2],
            own_address_type=parameters[3], peer_address_type=parameters[4],
            peer_address=hci.Address.parse_address_preceded_by_type(parameters, 5)[1], initiating_phys=phys,
            **columns,
        )
        return command

    def __str__(self) -> str:
        """The fields, one per line, like Bumble's own commands."""
        names = ("advertising_handle", "subevent", "initiator_filter_policy", "own_address_type",
                 "peer_address_type", "peer_address", "initiating_phys", *self._PHY_FIELDS)
        return self.name + ":\n" + "\n".join(f"  {name}: {getattr(self, name)}" for name in names)


# -----------------------------------------------------------------------------
# Events
# -----------------------------------------------------------------------------
@hci.HCI_LE_Meta_Event.event
@dataclasses.dataclass
class HCI_LE_Periodic_Advertising_Report_V2_Event(hci.HCI_LE_Meta_Event):
    """Core 5.4 §7.7.65.15 v2: a periodic advertising packet with its event counter and subevent."""

    sync_handle: int = field(metadata=metadata(2))
    tx_power: int = field(metadata=metadata(-1))
    rssi: int = field(metadata=metadata(-1))
    cte_type: int = field(metadata=metadata(1))
    periodic_event_counter: int = field(metadata=metadata(2))
    subevent: int = field(metadata=metadata(1))
    data_status: int = field(metadata=DataStatus.type_metadata(1))
    data: bytes = field(metadata=metadata("v"))


@hci.HCI_LE_Meta_Event.event
@dataclasses.dataclass
class HCI_LE_Periodic_Advertising_Subevent_Data_Request_Event(hci.HCI_LE_Meta_Event):
    """Core 5.4 §7.7.65.36: the controller asks for data for subevents start .. start + count - 1."""

    advertising_handle: int = field(metadata=metadata(1))
    subevent_start: int = field(metadata=metadata(1))
    subevent_data_count: int = field(metadata=metadata(1))


@hci.HCI_LE_Meta_Event.event
@dataclasses.dataclass
class HCI_LE_Periodic_Advertising_Response_Report_Event(hci.HCI_LE_Meta_Event):
    """Core 5.4 §7.7.65.37: what was heard in the response slots of one subevent (no event counter)."""

    advertising_handle: int = field(metadata=metadata(1))
    subevent: int = field(metadata=metadata(1))
    tx_status: int = field(metadata=metadata(1))  # 0x00: the subevent packet was sent, 0x01: it was not
    tx_power: Sequence[int] = field(metadata=metadata(-1, list_begin=True))
    rssi: Sequence[int] = field(metadata=metadata(-1))
    cte_type: Sequence[int] = field(metadata=metadata(1))
    response_slot: Sequence[int] = field(metadata=metadata(1))
    data_status: Sequence[int] = field(metadata=metadata(1))
    data: Sequence[bytes] = field(metadata=metadata("v", list_end=True))


def with_pawr_events(le_event_mask: bytes) -> bytes:
    """An LE event mask (8 octets, little-endian) with the PAwR and PAST v2 event bits added."""
    return (int.from_bytes(le_event_mask, "little") | PAWR_LE_EVENT_MASK).to_bytes(8, "little")
