"""A fleet of simulated ESL tags behind the bleak client seam, running the real protocol.

Each `SimulatedLabel` is the shared tag core (`tag_core.TagCore`: the production codec, answers as
an NCS-like tag would) living in a `SimulatedFleet`, which hands the driver a bleak-compatible
client class, a scanner and an in-memory object transport. Its Update Complete, broadcast
Unassociate and broadcast Factory Reset answers are the `STRICT` ones this simulator always gave;
the Bumble virtual tag answers as the reference tags do. Time is an injected clock; timed
commands, LED patterns and sync timers are evaluated lazily when a label is touched, so thousands
of labels cost no background work.
"""

from __future__ import annotations

import asyncio
import contextvars
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bleak.backends.device import BLEDevice
from bleak.exc import BleakError

from devices.esl import ots, uuids
from devices.esl.codec import EslAddress
from devices.esl.errors import LabelUnreachable
from devices.esl.fridge import Fridge
from devices.esl.tag_core import MODELS, STRICT, AttError, EslState, LabelModel, LedRun, TagCore, TagQuirks
from devices.esl.transport import MemoryTransport

__all__ = [
    "MODELS", "EslState", "FakeBleakClient", "FleetScanner", "LabelModel", "LedRun", "RadioTiming",
    "SimulatedFleet", "SimulatedLabel",
]

MIN_SLEEP_S = 0.01
_radio_clock: contextvars.ContextVar[float] = contextvars.ContextVar("esl_sim_radio_clock", default=0.0)


@dataclass(frozen=True, slots=True)
class RadioTiming:
    """Simulated air time: connection setup, one GATT round trip, CoC throughput; all scaled by `time_scale`."""

    connect_s: float = 2.0
    gatt_op_s: float = 0.03
    throughput_bytes_per_s: float = 10_000.0
    time_scale: float = 1.0


class SimulatedLabel(TagCore):
    """One tag of the fleet: the shared tag core, the fleet's clock and sync train, bleak-style errors."""

    def __init__(
        self, fleet: SimulatedFleet, address: str, model: LabelModel, *, fridge: Fridge | None = None,
        battery_v: float = 3.0, rng: random.Random, quirks: TagQuirks = STRICT,
    ) -> None:
        """Create an unassociated tag living in `fleet`."""
        super().__init__(fleet, address, model, rng=rng, fridge=fridge, battery_v=battery_v, quirks=quirks)
        self.fleet = fleet
        self.connect_attempts = 0

    def last_sync_heard(self) -> float:
        """While the fleet's sync train runs every synchronized label hears it; after it stops, its last packet."""
        stopped = self.fleet.train_stopped_at
        return self.now() if stopped is None else max(self._sync_heard_at, stopped)

    def read(self, uuid: str) -> bytes:
        """Value of a readable characteristic; a refusal is the BleakError bleak raises for an ATT error."""
        try:
            return super().read(uuid)
        except AttError as err:
            raise BleakError(str(err)) from err

    def write(self, uuid: str, data: bytes) -> bytes | None:
        """Handle a characteristic write; a refusal is the BleakError bleak raises for an ATT error."""
        try:
            return super().write(uuid, data)
        except AttError as err:
            raise BleakError(str(err)) from err


class _Channel:
    """The receiving end of one object transfer: paces bytes at the simulated throughput."""

    def __init__(self, label: SimulatedLabel) -> None:
        """Bind to a label."""
        self._label = label

    async def receive(self, data: bytes) -> None:
        """Spend the air time, then deliver."""
        await self._label.fleet.spend(len(data) / self._label.fleet.timing.throughput_bytes_per_s)
        self._label.channel_receive(data)

    def close(self) -> None:
        """Commit the object."""
        self._label.channel_close()


@dataclass(frozen=True, slots=True)
class SimCharacteristic:
    """The `sender` handed to notification callbacks (bleak passes a BleakGATTCharacteristic)."""

    uuid: str


class _Services:
    """The part of BleakGATTServiceCollection the driver uses."""

    _SERVICES = frozenset((uuids.ESL_SERVICE, uuids.OTS_SERVICE))

    def get_service(self, specifier: str) -> str | None:
        """The service UUID when present."""
        return specifier if str(specifier).lower() in self._SERVICES else None


class FakeBleakClient:
    """A BleakClient look-alike connected to one simulated label (connect, read, write, notify)."""

    def __init__(self, fleet: SimulatedFleet, device: BLEDevice | str, disconnected_callback: Any = None,
                 **_kwargs: Any) -> None:
        """Bind to the label behind `device`; extra bleak/bleak-retry-connector kwargs are accepted."""
        self._fleet = fleet
        self.address = device if isinstance(device, str) else device.address
        self._disconnected_callback = disconnected_callback
        self._label: SimulatedLabel | None = None
        self._callbacks: dict[str, Callable[[Any, bytearray], Any]] = {}

    @property
    def is_connected(self) -> bool:
        """True between a successful connect and disconnect."""
        return self._label is not None

    @property
    def services(self) -> _Services | None:
        """Discovered services (after connect)."""
        return _Services() if self._label is not None else None

    async def connect(self, **_kwargs: Any) -> None:
        """Spend the connection setup time; fail for out-of-range, busy or (randomly) flaky labels."""
        label = self._fleet.label(self.address)
        label.connect_attempts += 1
        await self._fleet.spend(self._fleet.timing.connect_s)
        if not label.in_range:
            raise BleakError(f"simulated: {self.address} out of range (connection timed out)")
        if label.connected:
            raise BleakError(f"simulated: {self.address} is already connected")
        if label.rng.random() < label.connect_failure_rate:
            raise BleakError(f"simulated: {self.address} connection failed (flaky)")
        label.on_connect()
        self._label = label

    async def disconnect(self) -> bool:
        """Drop the link."""
        if self._label is not None:
            label, self._label = self._label, None
            self._callbacks.clear()
            label.on_disconnect()
        return True

    def _require(self) -> SimulatedLabel:
        """The connected label or the error bleak raises when not connected."""
        if self._label is None:
            raise BleakError("Not connected")
        return self._label

    async def read_gatt_char(self, char_specifier: Any, **_kwargs: Any) -> bytearray:
        """One read round trip."""
        label = self._require()
        await self._fleet.spend(self._fleet.timing.gatt_op_s)
        return bytearray(label.read(str(getattr(char_specifier, "uuid", char_specifier)).lower()))

    async def write_gatt_char(self, char_specifier: Any, data: bytes, response: bool | None = None) -> None:
        """One write round trip; a response, if any, arrives as a notification shortly after."""
        label = self._require()
        uuid = str(getattr(char_specifier, "uuid", char_specifier)).lower()
        await self._fleet.spend(self._fleet.timing.gatt_op_s)
        callback = self._callbacks.get(uuid)
        if callback is None and uuid in (uuids.OTS_OACP, uuids.OTS_OLCP):
            raise BleakError("ATT error 0xFD: Client Characteristic Configuration Descriptor improperly configured")
        reply = label.write(uuid, bytes(data))
        if reply is not None and callback is not None:
            asyncio.get_running_loop().call_soon(callback, SimCharacteristic(uuid), bytearray(reply))

    async def start_notify(self, char_specifier: Any, callback: Callable[[Any, bytearray], Any],
                           **_kwargs: Any) -> None:
        """Subscribe to notifications/indications."""
        self._require()
        self._callbacks[str(getattr(char_specifier, "uuid", char_specifier)).lower()] = callback

    async def stop_notify(self, char_specifier: Any) -> None:
        """Unsubscribe."""
        self._callbacks.pop(str(getattr(char_specifier, "uuid", char_specifier)).lower(), None)


class FleetScanner:
    """The scanner seam: labels advertise the ESL service while unassociated or unsynchronized."""

    def __init__(self, fleet: SimulatedFleet) -> None:
        """Scan this fleet."""
        self._fleet = fleet

    async def discover(self, timeout: float) -> list[BLEDevice]:
        """In-range labels that advertise (they need onboarding or a new sync)."""
        await asyncio.sleep(min(timeout, 0.01))
        found = []
        for label in self._fleet.labels.values():
            label.advance()
            if label.in_range and label.state in (EslState.UNASSOCIATED, EslState.UNSYNCHRONIZED):
                found.append(BLEDevice(label.address, f"ESL {label.model.name}", None))
        return found

    async def find(self, address: str, timeout: float) -> BLEDevice | None:
        """Any known label resolves (as from a cached advert); reaching it is connect's problem."""
        return BLEDevice(address, None, None) if address in self._fleet.labels else None


def draw_label(rng: random.Random, *, fridge_share: float, now: float) -> tuple[str, Fridge | None, float]:
    """One label of a mixed store (model, a fridge for some, battery voltage), drawn from `rng`.

    The bleak-seam fleet and the PAwR virtual store draw their labels with this, so the same seed
    gives the same store on either radio.
    """
    fridge = None
    if rng.random() < fridge_share:
        failing = rng.random() < 0.05
        fridge = Fridge(set_point_c=rng.choice((2.0, 4.0, 6.0)), seed=rng.randrange(1 << 30),
                        fail_at_s=now + rng.uniform(0, 3600) if failing else None)
    return rng.choice(sorted(MODELS)), fridge, round(rng.uniform(2.3, 3.1), 2)


class SimulatedFleet:
    """Many simulated labels sharing a clock, radio timing and seed; the factory of the bleak seam."""

    def __init__(
        self, *, seed: int = 0, timing: RadioTiming | None = None, clock: Callable[[], float] = time.monotonic,
        sync_timeout_s: float = 3600.0, unassociated_timeout_s: float = 3600.0,
    ) -> None:
        """An empty fleet; the AP's sync train counts as running."""
        self.seed = seed
        self.timing = timing or RadioTiming()
        self.clock = clock
        self.sync_timeout_s = sync_timeout_s
        self.unassociated_timeout_s = unassociated_timeout_s
        self.train_stopped_at: float | None = None
        self.labels: dict[str, SimulatedLabel] = {}
        self.scanner = FleetScanner(self)
        self.air_time_s = 0.0

    async def spend(self, seconds: float) -> None:
        """Account `seconds` of radio busy time and sleep for it, scaled.

        Scaled-down air time is often far below the event loop's ~1 ms timer resolution, so the
        time is added to a per-task radio clock and slept off once it runs `MIN_SLEEP_S` ahead
        of real time: the task (one connection slot) stays busy for the right total, without one
        late timer per GATT round trip. At scale 0 it only yields.
        """
        self.air_time_s += seconds
        scaled = seconds * self.timing.time_scale
        if scaled <= 0:
            await asyncio.sleep(0)
            return
        now = asyncio.get_running_loop().time()
        target = max(_radio_clock.get(), now) + scaled
        _radio_clock.set(target)
        await asyncio.sleep(target - now if target - now >= MIN_SLEEP_S else 0)

    def add_label(
        self, model: str | LabelModel = "2.9-bwr", *, address: str | None = None, fridge: Fridge | None = None,
        battery_v: float = 3.0, configured_as: EslAddress | None = None,
    ) -> SimulatedLabel:
        """Add one label; `configured_as` skips onboarding (synchronized, with random keys)."""
        address = address or "E5:{:02X}:{:02X}:{:02X}:{:02X}:{:02X}".format(
            *len(self.labels).to_bytes(5, "big"))
        label = SimulatedLabel(
            self, address, MODELS[model] if isinstance(model, str) else model, fridge=fridge,
            battery_v=battery_v, rng=random.Random(f"{self.seed}/{address}"),
        )
        if configured_as is not None:
            label.esl_address = configured_as
            label.ap_sync_key, label.response_key = label.rng.randbytes(24), label.rng.randbytes(24)
            label.set_absolute_time(0)
            label.state = EslState.SYNCHRONIZED
            label.on_synchronized()
        self.labels[address] = label
        return label

    def populate(self, count: int, *, configured: bool = True, fridge_share: float = 0.1) -> list[SimulatedLabel]:
        """Add `count` labels of mixed models (some in fridges, a few failing), with consecutive ESL addresses."""
        rng = random.Random(f"{self.seed}/populate/{len(self.labels)}")
        out = []
        for _ in range(count):
            n = len(self.labels)
            model, fridge, battery_v = draw_label(rng, fridge_share=fridge_share, now=self.clock())
            address = EslAddress(n // 255 % 128, n % 255) if configured else None
            out.append(self.add_label(model, fridge=fridge, battery_v=battery_v, configured_as=address))
        return out

    def label(self, address: str) -> SimulatedLabel:
        """The label with this BLE address."""
        try:
            return self.labels[address]
        except KeyError as err:
            raise BleakError(f"simulated: device {address} not found") from err

    def client_class(self, device: BLEDevice | str, **kwargs: Any) -> FakeBleakClient:
        """Use as the driver's `client_class`: builds a fake client bound to this fleet."""
        return FakeBleakClient(self, device, **kwargs)

    def transport_factory(self) -> MemoryTransport:
        """Use as the driver's `transport_factory`: an in-memory object transfer channel."""
        return MemoryTransport(self._open_channel)

    def _open_channel(self, address: str, psm: int) -> _Channel:
        """Accept a CoC only from a connected label on the OTS PSM."""
        label = self.labels.get(address)
        if label is None or not label.connected or psm != ots.OTS_PSM:
            raise LabelUnreachable(f"simulated: no L2CAP channel to {address} PSM 0x{psm:04X}")
        return _Channel(label)

    def stop_sync_train(self) -> None:
        """The AP stops its PAwR train: synchronized labels start their sync-loss timers."""
        self.train_stopped_at = self.clock()

    def start_sync_train(self) -> None:
        """The AP's PAwR train runs again (labels already unsynchronized stay so until reconnected)."""
        for label in self.labels.values():
            label.advance()
        self.train_stopped_at = None
