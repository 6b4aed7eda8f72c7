"""A virtual radio link indexed by address, so a store of thousands of virtual devices stays cheap.

Bumble's `LocalLink` hands every advertising PDU (CONNECT_IND included) to every controller and
finds a connection's peer by walking all controllers: with 3,000 virtual labels GATT cycles fell
to 11–16/s (esl-radio.md §1). `IndexedLink` keeps

- an address index (public, random and advertising-set addresses -> controller), so ACL data,
  LL control PDUs and CONNECT_IND reach their one target;
- the set of *listening* controllers (scanning, initiating or creating a periodic sync), the only
  ones an advertising PDU is handed to;
- the running PAwR trains by (advertiser address, SID), so a receiver creating a sync by scanning
  finds the train's timing.

It carries `controller.PawrController`s, which report when they start or stop listening; a stock
Bumble `Controller` on it is always treated as listening (it does not say). ACL data is sent from
the connection's own address (Bumble's link uses the controller's random address, which is wrong
for a connection made from an advertising set with its own address). Delivery is asynchronous
(`call_soon`), like LocalLink.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from bumble import core, hci, ll
from bumble import link as bumble_link

if TYPE_CHECKING:
    from bumble.controller import Controller

    from devices.esl.bumble.controller import EmulatedTrain


class IndexedLink(bumble_link.LocalLink):
    """LocalLink with an address index, a listener set and a PAwR train registry."""

    def __init__(self) -> None:
        """An empty link."""
        super().__init__()
        self._by_address: dict[bytes, Controller] = {}
        self._addresses: dict[Controller, set[bytes]] = {}
        self._listeners: dict[Controller, None] = {}  # insertion-ordered, so delivery order is deterministic
        self.trains: dict[tuple[bytes, int], EmulatedTrain] = {}

    # Index ------------------------------------------------------------------------------------
    def add_controller(self, controller: Controller) -> None:
        """Add a controller and index its current addresses."""
        self.controllers.add(controller)
        self._addresses.setdefault(controller, set())
        self.index(controller, controller.public_address)
        self.index(controller, controller.random_address)
        self.update_listener(controller)

    def remove_controller(self, controller: Controller) -> None:
        """Forget a controller and every address and train it owned."""
        self.controllers.discard(controller)
        self._listeners.pop(controller, None)
        for key in self._addresses.pop(controller, set()):
            if self._by_address.get(key) is controller:
                del self._by_address[key]
        for key in [k for k, train in self.trains.items() if train.controller is controller]:
            del self.trains[key]

    def index(self, controller: Controller, address: hci.Address | None) -> None:
        """Route `address` to `controller` (the all-zero address is never indexed)."""
        if address is None:
            return
        key = bytes(address)
        if key == bytes(6):
            return
        self._by_address[key] = controller
        self._addresses.setdefault(controller, set()).add(key)

    def on_address_changed(self, controller: Controller) -> None:
        """Bumble calls this when a controller's random address is set."""
        self.index(controller, controller.random_address)

    def update_listener(self, controller: Controller) -> None:
        """Re-read whether `controller` wants advertising PDUs."""
        if getattr(controller, "is_listening", True):
            self._listeners[controller] = None
        else:
            self._listeners.pop(controller, None)

    @property
    def listener_count(self) -> int:
        """How many controllers advertising PDUs are handed to now."""
        return len(self._listeners)

    def find_le_controller(self, address: hci.Address) -> Controller | None:
        """The controller that owns `address`, by index."""
        return self._by_address.get(bytes(address))

    def find_classic_controller(self, address: hci.Address) -> Controller | None:
        """The controller with this public address, by index."""
        return self._by_address.get(bytes(address))

    # Trains -------------------------------------------------------------------------------------
    def add_train(self, train: EmulatedTrain) -> None:
        """A train started: findable by its advertiser address and SID."""
        self.trains[(bytes(train.address), train.sid)] = train

    def remove_train(self, train: EmulatedTrain) -> None:
        """A train stopped."""
        key = (bytes(train.address), train.sid)
        if self.trains.get(key) is train:
            del self.trains[key]

    # Delivery -----------------------------------------------------------------------------------
    def send_acl_data(self, sender_controller: Controller, destination_address: hci.Address,
                      transport: core.PhysicalTransport, data: bytes) -> None:
        """ACL data to the controller owning `destination_address`, from the connection's own address."""
        if transport != core.PhysicalTransport.LE:
            super().send_acl_data(sender_controller, destination_address, transport, data)
            return
        if (receiver := self.find_le_controller(destination_address)) is None:
            return
        connection = sender_controller.le_connections.get(destination_address)
        source = connection.self_address if connection is not None else sender_controller.random_address
        asyncio.get_running_loop().call_soon(receiver.on_link_acl_data, source, transport, data)

    def send_advertising_pdu(self, sender_controller: Controller, packet: ll.AdvertisingPdu) -> None:
        """CONNECT_IND to its advertiser only; other advertising PDUs to listening controllers only."""
        loop = asyncio.get_running_loop()
        if isinstance(packet, ll.ConnectInd):
            if (target := self.find_le_controller(packet.advertiser_address)) is not None:
                loop.call_soon(target.on_ll_advertising_pdu, packet)
            return
        for controller in self._listeners:
            if controller is not sender_controller:
                loop.call_soon(controller.on_ll_advertising_pdu, packet)

    def send_ll_control_pdu(self, sender_address: hci.Address, receiver_address: hci.Address,
                            packet: ll.ControlPdu) -> None:
        """An LL control PDU to the controller owning `receiver_address`."""
        if (receiver := self.find_le_controller(receiver_address)) is None:
            raise core.InvalidArgumentError(f"no controller for address {receiver_address}")
        asyncio.get_running_loop().call_soon(receiver.on_ll_control_pdu, sender_address, packet)
