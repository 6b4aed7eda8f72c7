"""The ESL access point as the profile defines it, on Bumble: a PAwR train for synchronized labels, connections for the rest.

One `PawrAccessPoint` is one radio (a dongle or a virtual controller) running one PAwR train.
Its labels live in the *Synchronized* state: asleep between the train's events, listening to
their group's subevent (subevent number = Group_ID). So:

- LED, display, sensor and ping commands to a synchronized label go into its group's subevent
  through the `PawrScheduler` (several per packet, answers from response slots, retries);
- images go over a connection made *through the train* (LE Extended Create Connection v2 in the
  label's subevent): OTS upload on the L2CAP CoC, Display Image on the control point, Update
  Complete; the label then drops the link and is synchronized again;
- onboarding (`configure`) connects to an advertising label, writes its ESL address, this AP's
  sync key, its response key and the time, reads its information, sends Update Complete, then
  hands the train over (PAST) and registers the label with the scheduler;
- a label the scheduler gives up on (silent for three packets) is *unsynchronized*: it is
  brought back by a connection through its subevent (it may still follow the train) or, once
  it advertises (a tag does when it has lost sync), a scanned connection and PAST again;
  meanwhile its commands go over connections.

Every label this AP serves is known by its ESL address, response key and information; labels
onboarded before (by this process or an earlier one) are given with `adopt`.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace

import structlog
from bumble.transport.common import Transport

from devices.backoff import Backoff
from devices.esl.answers import check_response
from devices.esl.bumble.cancel import raise_if_cancelled
from devices.esl.bumble.central import EslCentral, EslClientSession
from devices.esl.bumble.connects import TAG_SYNC_TIMEOUT_S, ConnectPacer
from devices.esl.bumble.host import PawrAdvertiser
from devices.esl.bumble.scheduler import DEFAULT_KEEPALIVE_S, PawrScheduler
from devices.esl.bumble.train import TrainParams
from devices.esl.codec import Command, DisplayImage, DisplayState, EslAddress, ReadSensorData, Response, SensorValue
from devices.esl.errors import EslError, LabelRejected, LabelUnreachable
from devices.esl.radio import EslRadio, KeyMaterial, Label, LabelConfig, LabelInfo
from devices.esl.sensors import SensorReading, interpret

log = structlog.get_logger(__name__)

#: How a lost label is looked for again: it advertises every ~0.5 s once it lost sync.
RESYNC_BACKOFF = Backoff(5.0, 300.0)
#: Connections open at once per radio: Silicon Labs' default (SL_BT_CONFIG_MAX_CONNECTIONS); NCS allows up to 20.
MAX_CONNECTIONS = 4


@dataclass(frozen=True, slots=True)
class Served:
    """What the AP keeps of a label it serves: how to decrypt its answers and what it has (for sensor reads)."""

    label: Label
    response_key: KeyMaterial
    info: LabelInfo | None


class PawrAccessPoint(EslRadio):
    """One radio: a PAwR train with its scheduler, and a central for connections; implements `EslRadio`."""

    def __init__(self, central: EslCentral, train: PawrAdvertiser, ap_sync_key: KeyMaterial, *,
                 timeout: float = 30.0, resync: bool = True, seed: int = 0, transport: Transport | None = None,
                 keepalive_s: float = DEFAULT_KEEPALIVE_S, max_connections: int = MAX_CONNECTIONS,
                 sync_timeout_s: float = TAG_SYNC_TIMEOUT_S) -> None:
        """Wrap a powered-on central and a (not yet started) train on the same Bumble device; `start` starts it.

        `transport`, when given, is the HCI transport of that device, closed with the AP;
        `sync_timeout_s` is how long its labels stay synchronized without hearing their subevent.
        """
        if central.device is not train.device:
            raise ValueError("the central and the train must share one Bumble device (one radio)")
        self.central = central
        self.train = train
        self.ap_sync_key = ap_sync_key
        self.timeout = timeout
        self.resync = resync
        self.keepalive_s = keepalive_s
        self.scheduler: PawrScheduler | None = None
        self._served: dict[str, Served] = {}
        self._resyncing: dict[str, asyncio.Task[None]] = {}
        self._keepalive: asyncio.Task[None] | None = None
        self._rng = random.Random(seed)
        self._transport = transport
        self._connects = ConnectPacer(train.params, lambda group: self.scheduler is not None and self.scheduler.busy(group),
                                      max_connections=max_connections, sync_timeout_s=sync_timeout_s)

    @property
    def params(self) -> TrainParams:
        """The train's layout."""
        return self.train.params

    async def start(self) -> None:
        """Start the train and its scheduler (keep-alive pings included)."""
        await self.train.start()
        self.scheduler = PawrScheduler(self.train, self.ap_sync_key, keepalive_s=self.keepalive_s,
                                       on_unsynchronized=self._on_unsynchronized)
        for served in self._served.values():
            self.scheduler.register(served.label.esl, served.response_key)
        self._keepalive = asyncio.get_running_loop().create_task(self.scheduler.run(), name="esl-ap-keepalive")

    async def close(self) -> None:
        """Stop resyncs, keep-alives, the scheduler and the train."""
        tasks = [t for t in (*self._resyncing.values(), self._keepalive) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._resyncing.clear()
        if self.scheduler is not None:
            await self.scheduler.aclose()
        try:
            await self.train.stop()
        finally:
            if self._transport is not None:
                await self._transport.close()

    # Labels this AP serves ---------------------------------------------------------------------
    def adopt(self, label: Label, response_key: KeyMaterial, info: LabelInfo | None = None) -> None:
        """Serve a label onboarded earlier (it holds this AP's sync key and is synchronized to its train)."""
        if label.esl.group_id >= self.params.num_subevents:
            raise LabelRejected(0x06, f"{label.ble_address}: group {label.esl.group_id} has no subevent in this train "
                                      f"({self.params.num_subevents} subevents)")
        self._served[label.ble_address] = Served(label, response_key, info)
        if self.scheduler is not None:
            self.scheduler.register(label.esl, response_key)

    @property
    def label_count(self) -> int:
        """How many labels this AP serves."""
        return len(self._served)

    def serves(self, label: Label) -> bool:
        """Whether `label` is one of this AP's."""
        return label.ble_address in self._served

    def synchronized(self, label: Label) -> bool:
        """Whether commands to `label` go through the train now."""
        return self.scheduler is not None and self.scheduler.is_synchronized(label.esl) and self.serves(label)

    # EslRadio ------------------------------------------------------------------------------------
    async def discover(self, timeout: float) -> list[str]:
        """Labels advertising the ESL service (unassociated, or lost sync)."""
        return await self.central.discover(timeout)

    async def configure(self, label: Label, config: LabelConfig) -> LabelInfo:
        """Onboard over a connection, then PAST into this AP's train; the label is then synchronized.

        The label gets this AP's sync key whatever `config` says: one train has one key.
        """
        config = replace(config, ap_sync_key=self.ap_sync_key)
        async with self._scanned(label) as session:
            info = await session.onboard(config)
            await self._hand_over(session, label)
        self.adopt(label, config.response_key, info)
        return info

    async def info(self, label: Label) -> LabelInfo:
        """The label's information: remembered from onboarding, else read over a connection."""
        served = self._served.get(label.ble_address)
        if served is not None and served.info is not None:
            return served.info
        async with self._session(label) as session:
            info = await session.read_info()
            await session.update_complete()
        if served is not None:
            self._served[label.ble_address] = replace(served, info=info)
        return info

    async def push_image(
        self, label: Label, display: int, image: bytes, *, image_index: int = 0, show: bool = True,
    ) -> DisplayState | None:
        """Upload over OTS in a connection (through the train when the label is synchronized), then display it."""
        async with self._session(label) as session:
            await session.upload_image(image_index, image)
            response = await session.command(DisplayImage(label.esl.esl_id, display, image_index)) if show else None
            await session.update_complete()
        assert response is None or isinstance(response, DisplayState)
        return response

    async def read_sensor(self, label: Label, index: int) -> SensorReading:
        """Read Sensor Data in the label's subevent, interpreted with its Sensor Information."""
        sensors = (await self.info(label)).sensors
        if not 0 <= index < len(sensors):
            raise LabelRejected(0x06, f"label has no sensor {index}")
        response = await self.command(label, ReadSensorData(label.esl.esl_id, index))
        assert isinstance(response, SensorValue)
        return interpret(sensors[index], response.data)

    async def broadcast(self, group: int, command: Command) -> None:
        """One command to every label of a group (ESL ID 0xFF) in one subevent; nobody answers."""
        if self.scheduler is None:
            raise LabelUnreachable("the access point's train is not started")
        await self.scheduler.broadcast(group, command)

    # The two ways to a label ---------------------------------------------------------------------
    async def command(self, label: Label, command: Command) -> Response:
        """Through the train when the label is synchronized, else over a connection (a label that lost sync advertises)."""
        if self.synchronized(label):
            assert self.scheduler is not None
            async with asyncio.timeout(self.timeout):
                return check_response(command, await self.scheduler.send(label.esl, command))
        async with self._scanned(label) as session:
            response = await session.command(command)
            await session.update_complete()
        assert response is not None
        return response

    @contextlib.asynccontextmanager
    async def _session(self, label: Label) -> AsyncIterator[EslClientSession]:
        """A connection to the label: through the train in its subevent when synchronized, else by scanning for it.

        A label that does not answer in its subevent may have lost the train without the
        scheduler noticing yet (nothing was sent to it lately): it advertises then, so it is
        scanned for and handed the train again.
        """
        through_train = self.synchronized(label)
        async with self._connects.connection(label.esl.group_id if through_train else None) as connected:
            session: EslClientSession | None = None
            if through_train:
                try:
                    connection = await self.train.connect_through_train(label.ble_address, label.esl.group_id,
                                                                        timeout=self.timeout)
                    connected()
                    session = await self.central.attach(connection, label)
                except LabelUnreachable as err:
                    log.info("esl.train_connect.failed", address=label.ble_address, error=str(err),
                             hint="scanning for it: a label that lost the train advertises")
            if session is None:
                raise_if_cancelled()
                session = await self.central.connect(label)
                connected()
                if through_train:
                    await self._hand_over(session, label)
            try:
                yield session
            finally:
                await session.close()

    @contextlib.asynccontextmanager
    async def _scanned(self, label: Label) -> AsyncIterator[EslClientSession]:
        """A connection to an advertising label (not following the train)."""
        async with self._connects.connection(None) as connected:
            session = await self.central.connect(label)
            connected()
            try:
                yield session
            finally:
                await session.close()

    async def _hand_over(self, session: EslClientSession, label: Label) -> None:
        """PAST: give the label this AP's train over the open connection."""
        await session.bounded("periodic advertising sync transfer", self.train.transfer_sync(session.connection))

    # Lost labels -----------------------------------------------------------------------------------
    def _on_unsynchronized(self, address: EslAddress) -> None:
        """The scheduler gave up on a label: look for it advertising and hand the train over again."""
        served = next((s for s in self._served.values() if s.label.esl == address), None)
        if served is None or not self.resync or served.label.ble_address in self._resyncing:
            return
        log.warning("esl.label.unsynchronized", address=served.label.ble_address, group=address.group_id,
                    esl_id=address.esl_id, hint="commands go over connections until it is synchronized again")
        task = asyncio.get_running_loop().create_task(self._resync(served), name=f"esl-resync-{served.label.ble_address}")
        self._resyncing[served.label.ble_address] = task
        task.add_done_callback(lambda _: self._resyncing.pop(served.label.ble_address, None))

    async def _resync(self, served: Served) -> None:
        """Reach the label through the train (it may still follow it) or, once it advertises, by scanning and PAST again.

        Backs off between rounds and never gives up: a label out of range for a day comes back the
        day it is in range again.
        """
        attempt = 0
        while not await self._bring_back(served):
            await asyncio.sleep(RESYNC_BACKOFF.delay(attempt, self._rng))
            attempt += 1
        assert self.scheduler is not None
        self.scheduler.register(served.label.esl, served.response_key)
        log.info("esl.label.resynchronized", address=served.label.ble_address, rounds=attempt + 1)

    async def _bring_back(self, served: Served) -> bool:
        """One round: a connection through the label's subevent, else a scanned one with PAST; True once it follows the train."""
        label = served.label
        try:
            async with self._connects.connection(label.esl.group_id) as connected:
                connection = await self.train.connect_through_train(label.ble_address, label.esl.group_id, timeout=self.timeout)
                connected()
                session = await self.central.attach(connection, label)
                try:
                    await session.update_complete()
                finally:
                    await session.close()
            return True
        except EslError as err:
            log.info("esl.label.resync.train_failed", address=label.ble_address, error=str(err))
        try:
            async with self._scanned(label) as session:
                await self._hand_over(session, label)
                await session.update_complete()
            return True
        except EslError as err:
            log.info("esl.label.resync.failed", address=label.ble_address, error=str(err))
            return False
