"""The PAwR HCI packets: each one to bytes and back, against the byte layouts of Zephyr's hci_types.h.

The expected bytes are written by hand from Zephyr's structs (include/zephyr/bluetooth/hci_types.h:
bt_hci_cp_le_set_per_adv_param_v2, bt_hci_cp_le_set_pawr_subevent_data(_element),
bt_hci_cp_le_set_pawr_response_data, bt_hci_cp_le_set_pawr_sync_subevent,
bt_hci_cp_le_ext_create_conn_v2 + bt_hci_ext_conn_phy, bt_hci_evt_le_per_advertising_report_v2,
bt_hci_evt_le_past_received_v2, bt_hci_evt_le_per_adv_subevent_data_request,
bt_hci_evt_le_per_adv_response_report + bt_hci_evt_le_per_adv_response,
bt_hci_evt_le_enh_conn_complete_v2) and, for the return parameters Zephyr leaves out, Nordic's
sdc_hci_cmd_le.h (a handle after the status). Little-endian; H4 packet indicator first.
"""

from __future__ import annotations

import pytest
from bumble import hci

from devices.esl.bumble import hci as pawr_hci

ADDRESS = hci.Address("C0:11:22:33:44:55")  # random static; on air 55 44 33 22 11 C0
COMMANDS = [
    (
        pawr_hci.HCI_LE_Set_Periodic_Advertising_Parameters_V2_Command(
            advertising_handle=1, periodic_advertising_interval_min=1233, periodic_advertising_interval_max=1233,
            periodic_advertising_properties=0, num_subevents=28, subevent_interval=44, response_slot_delay=30,
            response_slot_spacing=6, num_response_slots=23),
        "01 8620 0c  01 d104 d104 0000 1c 2c 1e 06 17",
    ),
    (
        pawr_hci.HCI_LE_Set_Periodic_Advertising_Subevent_Data_Command(
            advertising_handle=1, subevent=[3, 5], response_slot_start=[0, 1], response_slot_count=[2, 1],
            subevent_data=[b"ab", b""]),
        "01 8220 0c  01 02  03 00 02 02 6162  05 01 01 00",
    ),
    (
        pawr_hci.HCI_LE_Set_Periodic_Advertising_Response_Data_Command(
            sync_handle=0x0100, request_event=0x1234, request_subevent=3, response_subevent=3, response_slot=7,
            response_data=b"ok"),
        "01 8320 0a  0001 3412 03 03 07 02 6f6b",
    ),
    (
        pawr_hci.HCI_LE_Set_Periodic_Sync_Subevent_Command(sync_handle=0x0100, periodic_advertising_properties=0, subevents=[1, 4]),
        "01 8420 07  0001 0000 02 01 04",
    ),
    (
        pawr_hci.HCI_LE_Extended_Create_Connection_V2_Command(
            advertising_handle=0, subevent=3, initiator_filter_policy=0, own_address_type=1, peer_address_type=1,
            peer_address=ADDRESS, initiating_phys=1, scan_intervals=[0x60], scan_windows=[0x60],
            connection_interval_mins=[0x18], connection_interval_maxs=[0x28], max_latencies=[0],
            supervision_timeouts=[0x48], min_ce_lengths=[0], max_ce_lengths=[0]),
        "01 8520 1c  00 03 00 01 01 554433221 1c0 01  6000 6000 1800 2800 0000 4800 0000 0000",
    ),
]
EVENTS = [
    (
        pawr_hci.HCI_LE_Periodic_Advertising_Report_V2_Event(
            sync_handle=0x0100, tx_power=0x7F, rssi=-50, cte_type=0xFF, periodic_event_counter=7, subevent=2,
            data_status=0, data=b"hi"),
        "04 3e 0d 25  0001 7f ce ff 0700 02 00 02 6869",
    ),
    (
        pawr_hci.HCI_LE_Periodic_Advertising_Subevent_Data_Request_Event(advertising_handle=1, subevent_start=3, subevent_data_count=2),
        "04 3e 04 27  01 03 02",
    ),
    (
        pawr_hci.HCI_LE_Periodic_Advertising_Response_Report_Event(
            advertising_handle=1, subevent=2, tx_status=0, tx_power=[0x7F, 0x7F], rssi=[-60, 0x7F], cte_type=[0xFF, 0xFF],
            response_slot=[0, 1], data_status=[0x00, 0xFF], data=[b"xy", b""]),
        "04 3e 13 28  01 02 00 02  7f c4 ff 00 00 02 7879  7f 7f ff 01 ff 00",
    ),
    (
        hci.HCI_LE_Periodic_Advertising_Sync_Transfer_Received_V2_Event(
            status=0, connection_handle=1, service_data=0, sync_handle=0x0100, advertising_sid=0,
            advertiser_address_type=1, advertiser_address=ADDRESS, advertiser_phy=1, periodic_advertising_interval=0x50,
            advertiser_clock_accuracy=0, num_subevents=4, subevent_interval=20, response_slot_delay=10,
            response_slot_spacing=8),
        "04 3e 18 26  00 0100 0000 0001 00 01 554433221 1c0 01 5000 00 04 14 0a 08",
    ),
    (
        hci.HCI_LE_Enhanced_Connection_Complete_V2_Event(
            status=0, connection_handle=2, role=1, peer_address_type=1, peer_address=ADDRESS,
            local_resolvable_private_address=hci.Address.ANY_RANDOM, peer_resolvable_private_address=hci.Address.ANY_RANDOM,
            connection_interval=0x18, peripheral_latency=0, supervision_timeout=0x48, central_clock_accuracy=0,
            advertising_handle=0xFF, sync_handle=0x0100),
        "04 3e 22 29  00 0200 01 01 554433221 1c0 000000000000 000000000000 1800 0000 4800 00 ff 0001",
    ),
]
RETURNS = [
    (0x2086, pawr_hci.HCI_StatusAndAdvertisingHandleReturnParameters(status=0, advertising_handle=1), "04 0e 05 01 8620 00 01"),
    (0x2082, pawr_hci.HCI_StatusAndAdvertisingHandleReturnParameters(status=0, advertising_handle=1), "04 0e 05 01 8220 00 01"),
    (0x2083, pawr_hci.HCI_StatusAndSyncHandleReturnParameters(status=0, sync_handle=0x0100), "04 0e 06 01 8320 00 0001"),
    (0x2084, pawr_hci.HCI_StatusAndSyncHandleReturnParameters(status=0, sync_handle=0x0100), "04 0e 06 01 8420 00 0001"),
]


def _hex(text: str) -> bytes:
    """Bytes from spaced hex."""
    return bytes.fromhex(text.replace(" ", ""))


@pytest.mark.parametrize(("command", "layout"), COMMANDS, ids=lambda value: getattr(value, "name", "bytes"))
def test_commands_match_zephyrs_layout_and_parse_back(command: hci.HCI_Command, layout: str) -> None:
    """The command's bytes are Zephyr's struct; parsing them gives our class with the same fields."""
    assert bytes(command) == _hex(layout)
    parsed = hci.HCI_Packet.from_bytes(_hex(layout))
    assert type(parsed) is type(command)
    assert bytes(parsed) == _hex(layout)
    for name in ("advertising_handle", "subevent", "subevent_data", "sync_handle", "request_event", "response_data",
                 "subevents", "peer_address", "scan_intervals", "supervision_timeouts", "num_response_slots"):
        if hasattr(command, name):
            assert getattr(parsed, name) == getattr(command, name), name


@pytest.mark.parametrize(("event", "layout"), EVENTS, ids=lambda value: getattr(value, "name", "bytes"))
def test_events_match_zephyrs_layout_and_parse_back(event: hci.HCI_Event, layout: str) -> None:
    """The event's bytes are Zephyr's struct; parsing them gives the same class and fields."""
    assert bytes(event) == _hex(layout)
    parsed = hci.HCI_Packet.from_bytes(_hex(layout))
    assert type(parsed) is type(event)
    assert parsed.fields == event.fields
    for name, _ in (field for field in event.fields if isinstance(field, tuple)):
        assert getattr(parsed, name) == getattr(event, name), name


def test_report_v2_is_ours_with_data_status_as_a_data_status() -> None:
    """Bumble's own PA Report v2 class types Data_Status as a CTE type; ours replaces it in the registry."""
    parsed = hci.HCI_Packet.from_bytes(_hex("04 3e 0d 25 0001 7f ce ff 0700 02 01 02 6869"))
    assert isinstance(parsed, pawr_hci.HCI_LE_Periodic_Advertising_Report_V2_Event)
    assert parsed.data_status == pawr_hci.DataStatus.INCOMPLETE_MORE_TO_COME


@pytest.mark.parametrize(("op_code", "parameters", "layout"), RETURNS, ids=lambda value: hex(value) if isinstance(value, int) else "")
def test_return_parameters_carry_the_handle_after_the_status(op_code: int, parameters: hci.HCI_ReturnParameters, layout: str) -> None:
    """Command Complete of 0x2082/0x2086 carries the advertising handle, of 0x2083/0x2084 the sync handle (Nordic's SDC)."""
    event = hci.HCI_Command_Complete_Event(num_hci_command_packets=1, command_opcode=op_code, return_parameters=parameters)
    assert bytes(event) == _hex(layout)
    parsed = hci.HCI_Packet.from_bytes(_hex(layout))
    assert type(parsed.return_parameters) is type(parameters)
    assert parsed.return_parameters == parameters


def test_a_refusal_parses_as_a_bare_status() -> None:
    """TOO_EARLY (0x47, newer than Bumble's error table) comes back as a status the host can read."""
    parsed = hci.HCI_Packet.from_bytes(_hex("04 0e 05 01 8220 47 01"))
    assert parsed.return_parameters.status == pawr_hci.HCI_TOO_EARLY_ERROR


def test_the_pawr_mask_sets_exactly_bits_36_to_39() -> None:
    """LE meta subevents 0x25–0x28 are LE event mask bits 36–39; nothing else is touched."""
    assert pawr_hci.PAWR_LE_EVENT_MASK == sum(1 << bit for bit in (36, 37, 38, 39))
    assert pawr_hci.with_pawr_events(bytes(8)) == (0xF0_0000_0000).to_bytes(8, "little")
    base = hci.HCI_LE_Set_Event_Mask_Command.mask([hci.HCI_LE_CONNECTION_COMPLETE_EVENT, hci.HCI_LE_ENHANCED_CONNECTION_COMPLETE_V2_EVENT])
    assert int.from_bytes(pawr_hci.with_pawr_events(base), "little") == int.from_bytes(base, "little") | 0xF0_0000_0000


def test_create_connection_v2_refuses_blocks_that_do_not_match_its_phys() -> None:
    """One block of eight parameters per PHY bit; a wrong length is an invalid packet."""
    with pytest.raises(hci.InvalidPacketError):
        hci.HCI_Packet.from_bytes(_hex("01 8520 0c 00 03 00 01 01 554433221 1c0 01"))
    with pytest.raises(hci.InvalidArgumentError):
        pawr_hci.HCI_LE_Extended_Create_Connection_V2_Command(
            advertising_handle=0, subevent=0, initiator_filter_policy=0, own_address_type=1, peer_address_type=1,
            peer_address=ADDRESS, initiating_phys=0b101, scan_intervals=[1], scan_windows=[1],
            connection_interval_mins=[1], connection_interval_maxs=[1], max_latencies=[0], supervision_timeouts=[1],
            min_ce_lengths=[0], max_ce_lengths=[0])

