"""The emulating PAwR controller on the virtual clock: train timing, data requests, subevent delivery, response slots, loss, PAST and the indexed link."""

from __future__ import annotations

import asyncio

import pytest
from bumble import hci
from bumble.controller import Controller
from bumble.device import Device, Peer
from bumble.host import Host
from bumble.link import LocalLink

from devices.esl.bumble import hci as pawr_hci
from devices.esl.bumble.controller import PawrController, RadioModel, _response_reports
from devices.esl.bumble.host import PawrAdvertiser, PawrReceiver, PawrRefused, PawrReport
from devices.esl.bumble.link import IndexedLink
from devices.esl.bumble.train import SubeventData, TrainParams
from devices.esl.errors import EslProtocolError, LabelUnreachable
from tests.devices.esl.bumble.conftest import SMALL, Rig, until

INTERVAL = SMALL.interval_s  # 100 ms
SUB = SMALL.subevent_interval_s  # 25 ms


def emulated(rig: Rig):  # noqa: ANN201 - the controller's train object
    """The AP controller's running train."""
    return rig.ap_controller.trains[rig.train.advertising_handle]


def respond_with(tag, slot: int, data: bytes, delay: float = 0.0) -> list[bool]:  # noqa: ANN001
    """Make `tag` record and answer every packet in `slot` after `delay` seconds; returns the list of respond() results."""
    results: list[bool] = []

    def on_report(report: PawrReport) -> None:
        """Record, then answer later."""
        tag.reports.append((asyncio.get_running_loop().time(), report))

        async def answer() -> None:
            """Set the response after the delay."""
            await asyncio.sleep(delay)
            results.append(await tag.receiver.respond(report.event_counter, report.subevent, slot, data))

        asyncio.get_running_loop().create_task(answer())

    tag.receiver.on_report = on_report
    return results


@pytest.mark.looptime
async def test_events_follow_the_interval_and_data_requests_come_one_lead_ahead(rig_factory) -> None:  # noqa: ANN001
    """Event n's subevent s is at t0 + n x interval + s x subevent interval; its data request one subevent interval before."""
    rig = await rig_factory([[1]])
    train = emulated(rig)
    rig.requests.clear()
    tag = rig.tags[0]
    tag.reports.clear()
    await asyncio.sleep(1.0)

    assert train.request_lead_s == pytest.approx(SUB)
    assert len(rig.requests) >= 39
    for at, start, count in rig.requests:
        assert count == 1
        event = round((at + SUB - train.t0 - start * SUB) / INTERVAL)
        assert at == pytest.approx(train.t0 + event * INTERVAL + start * SUB - SUB, abs=2e-6)
    counters = [report.event_counter for _, report in tag.reports]
    assert counters == list(range(counters[0], counters[0] + len(counters))) and len(counters) == 10
    for at, report in tag.reports:
        assert at == pytest.approx(train.t0 + report.event_counter * INTERVAL + 1 * SUB, abs=2e-6)
        assert report.subevent == 1 and report.data == b"\x01" * 4


@pytest.mark.looptime
async def test_only_the_receivers_of_a_subevent_get_its_packet(rig_factory) -> None:  # noqa: ANN001
    """Each receiver gets the packets of the subevents it listens to, and no others."""
    rig = await rig_factory([[0], [1], [1, 2], []])
    for tag in rig.tags:
        tag.reports.clear()
    await asyncio.sleep(0.5)

    heard = [sorted({(r.subevent, r.data) for _, r in tag.reports}) for tag in rig.tags]
    assert heard == [[(0, b"\x00" * 4)], [(1, b"\x01" * 4)], [(1, b"\x01" * 4), (2, b"\x02" * 4)], []]
    assert [len(tag.reports) for tag in rig.tags] == [5, 5, 10, 0]


@pytest.mark.looptime
async def test_responses_are_reported_in_their_slots_after_the_last_slot(rig_factory) -> None:  # noqa: ANN001
    """Responses set in time appear in their slots with the receiver's RSSI; silent slots are None; the report follows the last slot."""
    rig = await rig_factory([[2], [2]], radios=[RadioModel(rssi=-50), RadioModel(rssi=-70)], slots=4)
    respond_with(rig.tags[0], 0, b"zero")
    respond_with(rig.tags[1], 3, b"three")
    await asyncio.sleep(INTERVAL)
    rig.reports.clear()
    await asyncio.sleep(0.3)

    train = emulated(rig)
    ours = [(at, sent, slots) for at, subevent, sent, slots in rig.reports if subevent == 2]
    assert len(ours) == 3
    for at, sent, slots in ours:
        assert sent is True
        assert [(s.slot, s.data, s.rssi) for s in slots] == [(0, b"zero", -50), (1, None, None), (2, None, None), (3, b"three", -70)]
        event = round((at - train.t0 - 2 * SUB) / INTERVAL)
        assert at == pytest.approx(train.slot_time(event, 2, 4), abs=2e-6)
    others = [slots for _, subevent, _, slots in rig.reports if subevent != 2]
    assert others and all(s.data is None for slots in others for s in slots)


@pytest.mark.looptime
async def test_a_late_response_is_refused_and_not_heard(rig_factory) -> None:  # noqa: ANN001
    """A response set after its slot time gets TOO_LATE (respond() is False) and the slot stays silent."""
    rig = await rig_factory([[1], [1]], slots=2)
    on_time = respond_with(rig.tags[0], 0, b"early", delay=SMALL.slot_delay_s - 0.001)
    late = respond_with(rig.tags[1], 1, b"late", delay=SMALL.slot_delay_s + SMALL.slot_spacing_s + 0.0001)
    await asyncio.sleep(INTERVAL)
    rig.reports.clear()
    await asyncio.sleep(0.35)

    assert on_time and all(on_time) and late and not any(late)
    ours = [slots for _, subevent, _, slots in rig.reports if subevent == 1]
    assert ours and all([s.data for s in slots] == [b"early", None] for slots in ours)


@pytest.mark.looptime
async def test_two_responses_in_one_slot_collide(rig_factory) -> None:  # noqa: ANN001
    """Two receivers answering in the same slot: the AP hears neither (Data_Status 0xFF)."""
    rig = await rig_factory([[3], [3], [3]], slots=3)
    respond_with(rig.tags[0], 1, b"a")
    respond_with(rig.tags[1], 1, b"b")
    respond_with(rig.tags[2], 2, b"c")
    await asyncio.sleep(INTERVAL)
    rig.reports.clear()
    await asyncio.sleep(0.3)

    ours = [slots for _, subevent, _, slots in rig.reports if subevent == 3]
    assert ours and all([s.data for s in slots] == [None, None, b"c"] for slots in ours)


@pytest.mark.looptime
async def test_an_out_of_range_receiver_hears_nothing_is_not_heard_and_loses_sync(rig_factory) -> None:  # noqa: ANN001
    """Out of range: no packets, responses unheard, and sync lost after its timeout (10 s here)."""
    rig = await rig_factory([[0], [0]], slots=2)
    near, far = rig.tags
    lost: list[int] = []
    far.receiver.on_sync_lost = lambda sync: lost.append(sync.sync_handle)
    respond_with(near, 0, b"near")
    respond_with(far, 1, b"far")
    far.controller.radio.in_range = False
    await asyncio.sleep(INTERVAL)
    near.reports.clear()
    far.reports.clear()
    rig.reports.clear()
    await asyncio.sleep(1.0)

    assert len(near.reports) == 10 and far.reports == []
    ours = [slots for _, subevent, _, slots in rig.reports if subevent == 0]
    assert ours and all([s.data for s in slots] == [b"near", None] for slots in ours)
    assert lost == []
    await asyncio.sleep(9.5)
    assert len(lost) == 1 and far.receiver.sync is None and far.controller.pawr_syncs == {}
    assert near.receiver.sync is not None


@pytest.mark.looptime
async def test_packet_loss_is_seeded_and_in_proportion(rig_factory) -> None:  # noqa: ANN001
    """A 50 % lossy receiver hears about half of its packets, the same ones for the same seed."""
    patterns = []
    for _ in range(2):
        rig = await rig_factory([[1]], radios=[RadioModel(packet_loss=0.5)], seed=42)
        tag = rig.tags[0]
        tag.reports.clear()
        start = emulated(rig).event
        await asyncio.sleep(4.0)
        patterns.append([r.event_counter - start for _, r in tag.reports])
        await rig.train.stop()
    assert patterns[0] == patterns[1]
    assert 12 <= len(patterns[0]) <= 28


@pytest.mark.looptime
async def test_data_not_asked_for_is_too_early_and_late_data_too_late(rig_factory) -> None:  # noqa: ANN001
    """Silicon Labs' rule: data for a subevent not requested is TOO_EARLY; data after the deadline is TOO_LATE and the subevent goes empty."""
    rig = await rig_factory([[0]])
    train = emulated(rig)
    loop = asyncio.get_running_loop()
    await asyncio.sleep(train.subevent_time(train.event + 1, 0) + 0.001 - loop.time())  # just after subevent 0 went out
    with pytest.raises(PawrRefused) as early:
        await rig.train.set_subevent_data([SubeventData(0, 0, 0, b"x")])
    assert early.value.status == pawr_hci.HCI_TOO_EARLY_ERROR

    tag = rig.tags[0]
    refusals: list[int] = []

    def too_slow(start: int, count: int) -> None:
        """Answer a data request just after its deadline, or after its subevent."""

        async def answer() -> None:
            """Give the data late."""
            await asyncio.sleep(SUB - 0.001 if start % 2 else SUB + 0.001)  # the deadline is 1.25 ms before the subevent
            try:
                await rig.train.set_subevent_data([SubeventData(start, 0, 0, b"slow")])
            except PawrRefused as err:
                refusals.append(err.status)

        asyncio.get_running_loop().create_task(answer())

    rig.train.on_data_request = too_slow
    await asyncio.sleep(0.05)
    tag.reports.clear()
    refusals.clear()
    await asyncio.sleep(0.5)
    assert len(refusals) == 20 and set(refusals) == {pawr_hci.HCI_TOO_LATE_ERROR}
    assert tag.reports == []


@pytest.mark.looptime
async def test_accept_early_keeps_data_for_the_next_occurrence(rig_factory) -> None:  # noqa: ANN001
    """With accept_early, data given before the request goes out in the next occurrence and no request is made for it."""
    rig = await rig_factory([[2]], accept_early=True)
    rig.train.on_data_request = None
    tag = rig.tags[0]
    tag.reports.clear()
    await asyncio.sleep(0.001)
    await rig.train.set_subevent_data([SubeventData(2, 0, 0, b"pushed")])
    with pytest.raises(PawrRefused) as full:
        await rig.train.set_subevent_data([SubeventData(2, 0, 0, b"again")])
    assert full.value.status == hci.HCI_ErrorCode.MEMORY_CAPACITY_EXCEEDED_ERROR
    await asyncio.sleep(0.3)
    assert [r.data for _, r in tag.reports] == [b"pushed"]


@pytest.mark.looptime
async def test_long_responses_are_split_and_joined_again(rig_factory) -> None:  # noqa: ANN001
    """Four 100-octet responses need several Response Report events; the AP's host gets them whole, in one report."""
    rig = await rig_factory([[1]] * 4, slots=4)
    for slot, tag in enumerate(rig.tags):
        respond_with(tag, slot, bytes([slot]) * 100)
    await asyncio.sleep(INTERVAL)
    rig.reports.clear()
    await asyncio.sleep(0.2)

    ours = [slots for _, subevent, _, slots in rig.reports if subevent == 1]
    assert len(ours) == 2
    assert all([s.data for s in slots] == [bytes([k]) * 100 for k in range(4)] for slots in ours)


@pytest.mark.looptime
async def test_connecting_through_a_subevent_the_target_does_not_hear_fails(rig_factory) -> None:  # noqa: ANN001
    """Extended Create Connection v2 reaches only a receiver listening to that subevent and in range."""
    rig = await rig_factory([[1], [2]], radios=[RadioModel(), RadioModel(in_range=False)])
    with pytest.raises(LabelUnreachable):
        await rig.train.connect_through_train(rig.tags[0].device.random_address, 3)
    with pytest.raises(LabelUnreachable):
        await rig.train.connect_through_train(rig.tags[1].device.random_address, 2)
    connection = await rig.train.connect_through_train(rig.tags[0].device.random_address, 1)
    assert connection.peer_address == rig.tags[0].device.random_address


@pytest.mark.looptime
async def test_a_connect_request_takes_the_subevent_of_its_data(rig_factory) -> None:  # noqa: ANN001
    """The subevent carrying a connect request sends no data: its report says not sent, its other listeners hear nothing that event."""
    rig = await rig_factory([[1], [1]], slots=1)
    bystander = rig.tags[1]
    await asyncio.sleep(0.25)
    bystander.reports.clear()
    rig.reports.clear()
    await asyncio.sleep(0.25)
    await rig.train.connect_through_train(rig.tags[0].device.random_address, 1)
    await asyncio.sleep(0.25)
    counters = [r.event_counter for _, r in bystander.reports]
    missed = set(range(counters[0], counters[-1] + 1)) - set(counters)
    assert len(missed) == 1
    reports = [sent for _, subevent, sent, _ in rig.reports if subevent == 1]
    assert reports.count(False) <= 1  # a report says "not sent" if the AP had already given data for it


@pytest.mark.looptime
async def test_a_sync_created_by_scanning_finds_the_train_in_the_link(rig_factory, make_device) -> None:  # noqa: ANN001
    """A receiver that creates a periodic sync by scanning joins the PAwR train with its subevent layout."""
    rig = await rig_factory([])
    device, _ = await make_device("F0:00:00:00:BB:01", name="scanner")
    receiver = PawrReceiver(device)
    await receiver.start()
    await device.start_scanning()
    await device.create_periodic_advertising_sync(rig.ap.random_address, sid=0)
    await until(lambda: receiver.sync is not None, timeout=5)
    sync = receiver.sync
    assert (sync.num_subevents, sync.subevent_interval, sync.response_slot_delay, sync.connection_handle) == (4, 20, 10, None)
    got: list[PawrReport] = []
    receiver.on_report = got.append
    await receiver.listen([3])
    await asyncio.sleep(0.3)
    assert {(r.subevent, r.data) for r in got} == {(3, b"\x03" * 4)}


@pytest.mark.looptime
async def test_pawr_commands_get_their_return_parameters(make_device) -> None:
    """Every PAwR command is answered with status and the handle Core 5.4 returns (Bumble's controller answers none of them)."""
    ap, controller = await make_device("F0:00:00:00:AA:02")
    train = PawrAdvertiser(ap, SMALL)
    await train.start()
    handle = train.advertising_handle
    assert controller.trains[handle].running
    result = await ap.send_sync_command(pawr_hci.HCI_LE_Set_Periodic_Advertising_Subevent_Data_Command(
        advertising_handle=handle, subevent=[], response_slot_start=[], response_slot_count=[], subevent_data=[]))
    assert isinstance(result, pawr_hci.HCI_StatusAndAdvertisingHandleReturnParameters) and result.advertising_handle == handle
    response = await ap.send_sync_command_raw(pawr_hci.HCI_LE_Set_Periodic_Sync_Subevent_Command(
        sync_handle=0x0123, periodic_advertising_properties=0, subevents=[1]))
    assert response.return_parameters.status == hci.HCI_ErrorCode.UNKNOWN_ADVERTISING_IDENTIFIER_ERROR
    response = await ap.send_sync_command_raw(pawr_hci.HCI_LE_Set_Periodic_Advertising_Response_Data_Command(
        sync_handle=0x0123, request_event=0, request_subevent=0, response_subevent=0, response_slot=0, response_data=b""))
    assert response.return_parameters.status == hci.HCI_ErrorCode.UNKNOWN_ADVERTISING_IDENTIFIER_ERROR
    response = await ap.send_sync_command_raw(pawr_hci.HCI_LE_Set_Periodic_Advertising_Parameters_V2_Command(
        advertising_handle=handle, periodic_advertising_interval_min=80, periodic_advertising_interval_max=80,
        periodic_advertising_properties=0, num_subevents=4, subevent_interval=30, response_slot_delay=10,
        response_slot_spacing=8, num_response_slots=4))
    assert response.return_parameters.status == hci.HCI_ErrorCode.COMMAND_DISALLOWED_ERROR  # the train is running
    await train.stop()
    response = await ap.send_sync_command_raw(pawr_hci.HCI_LE_Set_Periodic_Advertising_Parameters_V2_Command(
        advertising_handle=0x33, periodic_advertising_interval_min=80, periodic_advertising_interval_max=80,
        periodic_advertising_properties=0, num_subevents=4, subevent_interval=20, response_slot_delay=10,
        response_slot_spacing=8, num_response_slots=4))
    assert response.return_parameters.status == hci.HCI_ErrorCode.UNKNOWN_ADVERTISING_IDENTIFIER_ERROR
    assert response.return_parameters.advertising_handle == 0x33 if hasattr(response.return_parameters, "advertising_handle") else True
    with pytest.raises(EslProtocolError):
        await PawrAdvertiser(ap, TrainParams(interval=80, num_subevents=4, subevent_interval=30)).start()


@pytest.mark.looptime
async def test_a_stopped_train_loses_its_receivers_after_their_timeout(rig_factory) -> None:  # noqa: ANN001
    """When the AP stops the train, receivers hear nothing more and lose sync after their timeout."""
    rig = await rig_factory([[0]])
    tag = rig.tags[0]
    lost: list[int] = []
    tag.receiver.on_sync_lost = lambda sync: lost.append(sync.sync_handle)
    await rig.train.stop()
    tag.reports.clear()
    await asyncio.sleep(9.9)
    assert lost == [] and tag.reports == []
    await asyncio.sleep(0.2)
    assert len(lost) == 1


# The indexed link ------------------------------------------------------------------------------------
@pytest.mark.looptime
async def test_the_indexed_link_hands_advertising_only_to_listeners_and_connect_ind_to_its_target(make_device, link: IndexedLink) -> None:
    """Idle controllers get no advertising PDUs; the connection still works, ACL included."""
    idle = [await make_device(f"F0:00:00:00:CC:{i:02X}") for i in range(5)]
    seen: list[int] = [0] * len(idle)
    for index, (_, controller) in enumerate(idle):
        original = controller.on_ll_advertising_pdu
        controller.on_ll_advertising_pdu = lambda pdu, index=index, original=original: (  # type: ignore[method-assign]
            seen.__setitem__(index, seen[index] + 1), original(pdu))
    central, _ = await make_device("F0:00:00:00:CC:A0")
    peripheral, _ = await make_device("F0:00:00:00:CC:A1")
    await peripheral.start_advertising()
    assert link.listener_count == 0
    connection = await asyncio.wait_for(central.connect(peripheral.random_address), 10)
    assert link.listener_count == 0
    remote = await asyncio.wait_for(connection.get_remote_le_features(), 5)
    assert remote
    assert seen == [0] * len(idle)


@pytest.mark.looptime
async def test_bumble_local_link_hands_every_controller_every_advertising_pdu() -> None:
    """The cost the index removes: on LocalLink every idle controller handles every advertising PDU."""
    link = LocalLink()
    idle = [Controller(f"idle{i}", link=link) for i in range(3)]
    seen = [0] * len(idle)
    for index, controller in enumerate(idle):
        original = controller.on_ll_advertising_pdu
        controller.on_ll_advertising_pdu = lambda pdu, index=index, original=original: (  # type: ignore[method-assign]
            seen.__setitem__(index, seen[index] + 1), original(pdu))
    controller = Controller("adv", link=link)
    device = Device(name="adv", address=hci.Address("F0:00:00:00:DD:01"), host=Host(controller, controller))
    await device.power_on()
    await device.start_advertising()
    await asyncio.sleep(3)
    assert min(seen) >= 2


def test_pawr_controller_declares_pawr_and_past_features() -> None:
    """Hosts read the PAwR and PAST feature bits from the controller."""
    features = PawrController.le_features
    for feature in (hci.LeFeatureMask.PERIODIC_ADVERTISING_WITH_RESPONSES_ADVERTISER,
                    hci.LeFeatureMask.PERIODIC_ADVERTISING_WITH_RESPONSES_SCANNER,
                    hci.LeFeatureMask.PERIODIC_ADVERTISING_SYNC_TRANSFER_SENDER,
                    hci.LeFeatureMask.PERIODIC_ADVERTISING_SYNC_TRANSFER_RECIPIENT):
        assert features & feature


@pytest.mark.looptime
async def test_a_connection_to_an_advertising_set_with_its_own_address_carries_acl_both_ways(make_device) -> None:
    """CONNECT_IND reaches a set's own random address, and ACL is sent from the connection's address (Bumble's link uses the controller's)."""
    central, _ = await make_device("F0:00:00:00:CC:B0")
    peripheral, _ = await make_device("F0:00:00:00:CC:B1")
    own = hci.Address("F0:00:00:00:CC:B2")
    await peripheral.create_advertising_set(random_address=own)
    connection = await asyncio.wait_for(central.connect(own), 10)
    assert connection.peer_address == own
    features = await asyncio.wait_for(connection.get_remote_le_features(), 5)
    assert features
    peer = Peer(connection)
    await asyncio.wait_for(peer.discover_services(), 5)
    assert peer.services


def test_the_emulators_packed_reports_are_the_same_bytes_as_bumbles_objects() -> None:
    """The controller packs Response Reports by hand (hot path); they parse as our event, split where 255 octets end."""
    entries = [(-60, slot, pawr_hci.DATA_COMPLETE, bytes([slot]) * 100) for slot in range(4)]
    reports = _response_reports(1, 2, 0, entries)
    assert len(reports) == 2 and all(len(params) + 1 <= 255 for params in reports)
    events = [hci.HCI_Packet.from_bytes(bytes((4, 0x3E, len(params) + 1, 0x28)) + params) for params in reports]
    assert events[0].data_status[-1] == pawr_hci.DATA_INCOMPLETE_MORE
    assert events[1].data_status[-1] == pawr_hci.DATA_COMPLETE
    joined: dict[int, bytes] = {}
    for event in events:
        for slot, data in zip(event.response_slot, event.data):
            joined[slot] = joined.get(slot, b"") + data
    assert joined == {slot: bytes([slot]) * 100 for slot in range(4)}
    single = _response_reports(1, 2, 1, [(-60, 0, pawr_hci.DATA_COMPLETE, b"xy"), (0x7F, 1, 0xFF, b"")])
    expected = pawr_hci.HCI_LE_Periodic_Advertising_Response_Report_Event(
        advertising_handle=1, subevent=2, tx_status=1, tx_power=[0x7F, 0x7F], rssi=[-60, 0x7F], cte_type=[0xFF, 0xFF],
        response_slot=[0, 1], data_status=[0, 0xFF], data=[b"xy", b""])
    assert bytes((4, 0x3E, len(single[0]) + 1, 0x28)) + single[0] == bytes(expected)


@pytest.mark.looptime
async def test_empty_subevents_keep_an_idle_train_heard(rig_factory) -> None:  # noqa: ANN001
    """With empty_subevents, a subevent the AP leaves empty goes out with no data: receivers keep sync; without, they lose it."""
    for empty, kept in ((True, True), (False, False)):
        rig = await rig_factory([[0]], empty_subevents=empty)
        rig.train.on_data_request = None
        tag = rig.tags[0]
        await asyncio.sleep(INTERVAL)
        tag.reports.clear()
        await asyncio.sleep(10.5)
        assert (tag.receiver.sync is not None) is kept
        assert {r.data for _, r in tag.reports} == ({b""} if empty else set())
        await rig.train.stop()


@pytest.mark.looptime
async def test_a_receiver_whose_responses_are_lost_still_hears_the_train(rig_factory) -> None:  # noqa: ANN001
    """response_loss is one way: the receiver gets every packet, the AP hears none of its answers."""
    rig = await rig_factory([[2], [2]], radios=[RadioModel(response_loss=1.0), RadioModel()], slots=2)
    respond_with(rig.tags[0], 0, b"lost")
    respond_with(rig.tags[1], 1, b"heard")
    await asyncio.sleep(INTERVAL)
    rig.tags[0].reports.clear()
    rig.reports.clear()
    await asyncio.sleep(0.5)
    assert len(rig.tags[0].reports) == 5
    ours = [slots for _, subevent, _, slots in rig.reports if subevent == 2]
    assert len(ours) == 5 and all([s.data for s in slots] == [None, b"heard"] for slots in ours)
