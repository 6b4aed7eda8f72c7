"""The host side of the PAwR layer: the LE event mask, subevent data in commands that fit, PAST with its timing, connecting through the train."""

from __future__ import annotations

import asyncio

import pytest
from bumble import hci
from bumble.device import Device, Peer
from bumble.gatt import Characteristic, Service
from bumble.host import Host
from bumble.snoop import Snooper

from devices.esl.bumble import hci as pawr_hci
from devices.esl.bumble.controller import PawrController
from devices.esl.bumble.host import PawrAdvertiser, PawrHost, PawrReceiver, PawrSync
from devices.esl.bumble.link import IndexedLink
from devices.esl.bumble.train import SubeventData, TrainParams
from devices.esl.errors import EslProtocolError
from tests.devices.esl.bumble.conftest import SMALL, until


class Capture(Snooper):
    """Keeps the packets a host sends to its controller."""

    def __init__(self) -> None:
        """Nothing captured."""
        self.sent: list[hci.HCI_Packet] = []

    def snoop(self, hci_packet: bytes, direction: Snooper.Direction) -> None:
        """Keep host-to-controller packets, parsed."""
        if direction == Snooper.Direction.HOST_TO_CONTROLLER:
            self.sent.append(hci.HCI_Packet.from_bytes(hci_packet))

    def le_masks(self) -> list[int]:
        """Every LE event mask sent."""
        return [int.from_bytes(p.le_event_mask, "little") for p in self.sent if isinstance(p, hci.HCI_LE_Set_Event_Mask_Command)]


PAWR_BITS = [36, 37, 38, 39]


async def _powered(link: IndexedLink, address: str, host_class: type[Host]) -> tuple[Device, PawrController, Capture]:
    """A device with `host_class` on a PawrController, its packets captured from power-on."""
    controller = PawrController(address, link=link)
    host = host_class(controller, controller)
    capture = Capture()
    host.snooper = capture
    device = Device(name=address, address=hci.Address(address), host=host)
    await device.power_on()
    return device, controller, capture


@pytest.mark.looptime
async def test_the_host_sends_an_le_event_mask_with_the_pawr_bits(link: IndexedLink) -> None:
    """PawrHost's reset enables LE events 0x25–0x28 (bits 36–39); Bumble's own Host leaves them off."""
    _, controller, capture = await _powered(link, "F0:00:00:00:EE:01", PawrHost)
    masks = capture.le_masks()
    assert len(masks) == 1 and all(masks[0] >> bit & 1 for bit in PAWR_BITS)
    assert all(controller.le_event_mask >> bit & 1 for bit in PAWR_BITS)

    _, _, stock = await _powered(link, "F0:00:00:00:EE:02", Host)
    assert not any(stock.le_masks()[0] >> bit & 1 for bit in PAWR_BITS)


class _BumbleMaskHost(PawrHost):
    """A PawrHost that sends Bumble's LE event mask unchanged, as Bumble's Host does."""

    async def send_sync_command(self, command, response_timeout=None):  # noqa: ANN001, ANN201
        """Skip PawrHost's mask change."""
        return await Host.send_sync_command(self, command, response_timeout)


@pytest.mark.looptime
async def test_without_the_mask_bits_the_ap_hears_no_data_requests(link: IndexedLink) -> None:
    """The emulator filters by the LE event mask as a real controller does: without bits 36–39 an AP hears nothing."""
    for host_class, heard in ((_BumbleMaskHost, False), (PawrHost, True)):
        device, _, _ = await _powered(link, f"F0:00:00:00:EE:1{int(heard)}", host_class)
        train = PawrAdvertiser(device, SMALL)
        requests: list[int] = []
        train.on_data_request = lambda start, count: requests.append(start)
        await train.start()
        await asyncio.sleep(0.5)
        assert bool(requests) is heard
        await train.stop()


@pytest.mark.looptime
async def test_subevent_data_goes_in_commands_of_at_most_255_octets(link: IndexedLink) -> None:
    """28 subevents of 48 octets need 7 commands of 4 subevents (2 + 4 x 52 octets); an item too long for any command is refused first."""
    device, _, capture = await _powered(link, "F0:00:00:00:EE:21", PawrHost)
    device.host.controller.accept_early = True
    train = PawrAdvertiser(device, TrainParams())
    await train.start()
    capture.sent.clear()
    await train.set_subevent_data([SubeventData(s, 0, 1, bytes([s]) * 48) for s in range(28)])
    commands = [p for p in capture.sent if isinstance(p, pawr_hci.HCI_LE_Set_Periodic_Advertising_Subevent_Data_Command)]
    assert [len(c.subevent) for c in commands] == [4] * 7
    assert all(len(c.parameters) <= 255 for c in commands)
    assert [s for c in commands for s in c.subevent] == list(range(28))
    capture.sent.clear()
    with pytest.raises(EslProtocolError):
        await train.set_subevent_data([SubeventData(0, 0, 0, b""), SubeventData(1, 0, 0, bytes(250))])
    assert capture.sent == []


@pytest.mark.looptime
async def test_past_gives_the_receiver_the_trains_subevent_timing_then_reports(make_device) -> None:
    """PAST Received v2's subevent layout reaches the receiver (Bumble's host drops it); reports follow in the subevent chosen."""
    ap, _ = await make_device("F0:00:00:00:EE:31")
    tag, _ = await make_device("F0:00:00:00:EE:32")
    train = PawrAdvertiser(ap, SMALL)
    train.on_data_request = lambda start, count: asyncio.get_running_loop().create_task(
        train.set_subevent_data([SubeventData(start, 0, 0, b"sub%d" % start)]))
    await train.start()
    bumble_saw: list[tuple] = []
    tag.on(Device.EVENT_PERIODIC_ADVERTISING_SYNC_TRANSFER, lambda sync, connection: bumble_saw.append((sync, connection)))
    syncs: list[PawrSync] = []
    receiver = PawrReceiver(tag, on_sync=syncs.append)
    await tag.start_advertising()
    connection = await ap.connect(tag.random_address)
    await receiver.start()  # also for the connection already open
    await train.transfer_sync(connection)
    await until(lambda: bool(syncs))

    sync = syncs[0]
    assert (sync.advertiser_address, sync.interval, sync.num_subevents, sync.subevent_interval,
            sync.response_slot_delay, sync.response_slot_spacing) == (ap.random_address, 80, 4, 20, 10, 8)
    assert sync.connection_handle == tag.find_connection_by_bd_addr(ap.random_address).handle
    assert len(bumble_saw) == 1 and not hasattr(bumble_saw[0][0], "num_subevents")
    reports = []
    receiver.on_report = reports.append
    await receiver.listen([2])
    await asyncio.sleep(0.45)
    assert [r.data for r in reports] == [b"sub2"] * 4
    assert [r.event_counter for r in reports] == list(range(reports[0].event_counter, reports[0].event_counter + 4))
    await train.stop()


@pytest.mark.looptime
async def test_past_is_ignored_unless_the_receiver_asked_for_it(make_device) -> None:
    """A controller ignores PAST by default (the spec's mode 0 after reset): a tag must call start()."""
    ap, _ = await make_device("F0:00:00:00:EE:41")
    tag, tag_controller = await make_device("F0:00:00:00:EE:42")
    train = PawrAdvertiser(ap, SMALL)
    await train.start()
    syncs: list[PawrSync] = []
    PawrReceiver(tag, on_sync=syncs.append)
    await tag.start_advertising()
    connection = await ap.connect(tag.random_address)
    await train.transfer_sync(connection)
    await asyncio.sleep(0.2)
    assert syncs == [] and tag_controller.pawr_syncs == {}


@pytest.mark.looptime
async def test_connect_through_the_train_then_read_over_gatt(rig_factory) -> None:  # noqa: ANN001
    """The AP connects to a synced, silent tag through its subevent; both ends see the connection and GATT works over it."""
    rig = await rig_factory([[2]])
    tag = rig.tags[0]
    value = Characteristic("0b2ca4c0-3c5a-4e1a-9f5b-8d2f6a1b0c01", Characteristic.Properties.READ, Characteristic.READABLE, b"on the shelf")
    tag.device.add_service(Service("0b2ca4c0-3c5a-4e1a-9f5b-8d2f6a1b0c00", [value]))
    assert not tag.device.is_advertising
    at_tag: list = []
    tag.device.on(Device.EVENT_CONNECTION, at_tag.append)

    connection = await rig.train.connect_through_train(tag.device.random_address, 2)
    await until(lambda: bool(at_tag))
    assert at_tag[0].self_address == tag.device.random_address and at_tag[0].peer_address == rig.ap.random_address
    peer = Peer(connection)
    await peer.discover_services()
    characteristics = await peer.discover_characteristics(uuids=[value.uuid])
    assert await characteristics[0].read_value() == b"on the shelf"
    assert tag.receiver.sync is not None  # still synchronised
    await connection.disconnect()


@pytest.mark.looptime
async def test_default_past_parameters_apply_only_to_connections_made_after_them(make_device) -> None:
    """As the spec says (and controllers do), new defaults leave an open connection as it was: start() sets that one too."""
    ap, _ = await make_device("F0:00:00:00:EE:51")
    tag, tag_controller = await make_device("F0:00:00:00:EE:52")
    train = PawrAdvertiser(ap, SMALL)
    await train.start()
    await tag.start_advertising()
    connection = await ap.connect(tag.random_address)
    await tag.send_sync_command(hci.HCI_LE_Set_Default_Periodic_Advertising_Sync_Transfer_Parameters_Command(
        mode=0x02, skip=0, sync_timeout=1000, cte_type=0))
    await train.transfer_sync(connection)
    await asyncio.sleep(0.1)
    assert tag_controller.pawr_syncs == {}
    syncs: list[PawrSync] = []
    await PawrReceiver(tag, on_sync=syncs.append).start()
    await train.transfer_sync(connection)
    await until(lambda: bool(syncs))
    await train.stop()


@pytest.mark.looptime
async def test_a_stock_bumble_host_gets_v1_events_it_enabled(link: IndexedLink, make_device) -> None:
    """A host that enabled only the v1 PAST and report events gets those (no event counter), as a controller sends them."""
    ap, _ = await make_device("F0:00:00:00:EE:61")
    tag, tag_controller, _ = await _powered(link, "F0:00:00:00:EE:62", Host)
    train = PawrAdvertiser(ap, SMALL)
    train.on_data_request = lambda start, count: asyncio.get_running_loop().create_task(
        train.set_subevent_data([SubeventData(start, 0, 0, b"v1")]))
    await train.start()
    synced: list = []
    tag.on(Device.EVENT_PERIODIC_ADVERTISING_SYNC_TRANSFER, lambda sync, connection: synced.append(sync))
    await tag.send_sync_command(hci.HCI_LE_Set_Default_Periodic_Advertising_Sync_Transfer_Parameters_Command(
        mode=0x02, skip=0, sync_timeout=1000, cte_type=0))
    await tag.start_advertising()
    connection = await ap.connect(tag.random_address)
    await train.transfer_sync(connection)
    await until(lambda: bool(synced))
    adverts: list = []
    synced[0].on(synced[0].EVENT_PERIODIC_ADVERTISEMENT, adverts.append)
    await tag.send_sync_command(pawr_hci.HCI_LE_Set_Periodic_Sync_Subevent_Command(
        sync_handle=synced[0].sync_handle, periodic_advertising_properties=0, subevents=[1]))
    await asyncio.sleep(0.35)
    assert 3 <= len(adverts) <= 4 and {advert.data_bytes for advert in adverts} == {b"v1"}
    await train.stop()


@pytest.mark.looptime
async def test_a_response_too_long_for_its_command_is_refused_before_sending(rig_factory) -> None:  # noqa: ANN001
    """247 octets fit LE Set PA Response Data; 248 raise EslProtocolError (Bumble would fail deep in its serializer)."""
    rig = await rig_factory([[0]])
    receiver = rig.tags[0].receiver
    with pytest.raises(EslProtocolError):
        await receiver.respond(0, 0, 0, bytes(248))
    assert await receiver.respond(emulated_event(rig) + 1, 0, 0, bytes(247)) is True


def emulated_event(rig) -> int:  # noqa: ANN001
    """The AP controller's current event counter."""
    return rig.ap_controller.trains[rig.train.advertising_handle].event
