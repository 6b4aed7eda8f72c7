"""The sync link: keeps one MQTT session up, drains the outbox in order, serves commands, announces status.

Delivery rule: an event leaves the outbox only when the broker acknowledged it with a
success PUBACK. After any disconnect the drain starts again at the oldest event still in
the outbox, so delivery is at least once and in `seq` order; consumers drop repeats by id.
"""

from __future__ import annotations

import asyncio
import bisect
import json
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import structlog

from devices.backoff import Backoff
from devices.reconnect import Reconnect, ReconnectEvents, ReconnectState
from edge.config import BrokerAddress, Config
from edge.store import Store, Tx
from edge.store.db import (
    DISK_TOPIC,
    get_meta,
    outbox_depth,
    save_birth,
    set_meta,
    utc_now,
)
from edge.store.errors import DiskFull
from edge.sync.commands import Dispatcher, encode_reply
from edge.sync.mqtt_session import (
    SESSION_TAKEN_OVER,
    Incoming,
    MqttError,
    MqttSession,
    SessionSettings,
)
from edge.sync.topics import Topics

log = structlog.get_logger("sync")

CONNECT_TIMEOUT_S = 15.0
TELEMETRY_EVERY_S = 30.0
OUTBOX_POLL_S = 1.0
#: Events published per loop step at most (each costs ~30 µs of loop time in paho), so a step stays short.
PUBLISH_STEP = 64
#: Outbox rows read per query at most (one reader-thread hop feeds several loop steps).
READ_ROWS = 256
#: Room kept in the broker's receive maximum for what is published beside the events (a reply, the status).
RESERVED_INFLIGHT = 2
#: With the disk full, deleting acknowledged events (and saving the birth) is retried this often.
UNSAVED_RETRY_S = 2.0


EVENTS = ReconnectEvents(failed="link.connect.failed", lost="link.lost", restored="link.reconnected")
#: What `status` calls each state of the reconnect object (the contract's words).
STATE_NAMES = {ReconnectState.CONNECTING: "connecting", ReconnectState.CONNECTED: "connected"}


@dataclass
class LinkHealth:
    """A snapshot for `status` and telemetry."""

    state: str
    outbox_depth: int
    last_sync: str | None
    connected_since: str | None
    last_error: str | None
    events_sent: int
    commands_handled: int
    disk_full: bool = False


@dataclass
class _Drain:
    """Per-session bookkeeping of messages in flight."""

    window: int
    inflight: dict[int, int] = field(default_factory=dict)
    acked: list[int] = field(default_factory=list)
    progress: asyncio.Event = field(default_factory=asyncio.Event)
    failure: str | None = None


def _reply_bytes(reply: dict[str, Any]) -> bytes:
    """A reply as UTF-8 JSON; should any text in it not be encodable, it is escaped rather than failing the publish."""
    try:
        return encode_reply(reply).encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(reply, separators=(",", ":")).encode("ascii")


def seq_runs(seqs: list[int]) -> list[tuple[int, int]]:
    """Acknowledged seqs as (first, last) runs: PUBACKs come in order, so a batch is usually one run."""
    runs: list[tuple[int, int]] = []
    for seq in sorted(seqs):
        if runs and seq == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], seq)
        else:
            runs.append((seq, seq))
    return runs


def merge_runs(runs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """(first, last) runs sorted and joined where they touch or overlap."""
    merged: list[tuple[int, int]] = []
    for low, high in sorted(runs):
        if merged and low <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(high, merged[-1][1]))
        else:
            merged.append((low, high))
    return merged


def _in_runs(runs: list[tuple[int, int]], seq: int) -> bool:
    """Whether `seq` lies in one of the sorted, disjoint (first, last) runs."""
    if not runs:
        return False
    i = bisect.bisect_right(runs, (seq, float("inf"))) - 1
    return i >= 0 and runs[i][0] <= seq <= runs[i][1]


def envelope(seq: int, event_id: str, kind: str, ts: str, data: str) -> str:
    """The contract's event envelope, built around the stored JSON text without re-encoding it."""
    return f'{{"id":{json.dumps(event_id)},"seq":{seq},"ts":"{ts}","kind":{json.dumps(kind)},"data":{data}}}'


class SyncLink:
    """The connection to headquarters, as a long-running component."""

    name = "sync"

    def __init__(
        self, config: Config, store: Store, dispatcher: Dispatcher, version: str,
        config_identity: dict[str, Any] | None = None,
    ) -> None:
        self._config = config
        self._config_identity = config_identity  # the running configuration's version and hash, for the retained status
        self._store = store
        self._dispatcher = dispatcher
        self._version = version
        self.topics = Topics(config.broker.topic_prefix, config.store.id)
        b = config.broker
        self._reconnect = Reconnect(
            "mqtt", EVENTS, policy=Backoff(b.reconnect_min_s, b.reconnect_max_s),
            logger=log.bind(brokers=",".join(a.url for a in b.addresses)),
        )
        self._addresses = b.addresses
        # The node the next attempt tries: every failed attempt and every lost session moves to the next one.
        self._node = 0
        self._session: MqttSession | None = None
        self._connected_since: str | None = None
        self._events_sent = 0
        self._commands_handled = 0
        self._depth = 0
        self._last_sync: str | None = None
        self._telemetry: dict[str, dict[str, Any]] = {}
        self._birth = 0
        self._birth_unsaved = False
        # Acknowledged events the full disk did not let us delete yet, as seq runs; never published again.
        self._undeleted: list[tuple[int, int]] = []
        self._stop = asyncio.Event()
        self._pending: tuple[_Drain, asyncio.Queue[Incoming]] | None = None
        self._answering: asyncio.Task[dict[str, Any]] | None = None

    # -- component interface -----------------------------------------------------------------

    async def run(self) -> None:
        """Reconnect forever with the one reconnect object: WARNING on the first failure of an outage, DEBUG after."""
        await self._reconnect.run(self._open, self._serve, retry_on=(MqttError,), stop=self._stop)
        log.info("link.closed")
        await asyncio.Event().wait()  # stopped on purpose: idle until cancelled (returning would mean a crash)

    @property
    def state(self) -> str:
        """`connected`, `connecting` or `disconnected`, as `status` reports it."""
        return STATE_NAMES.get(self._reconnect.state, "disconnected")

    async def stop(self) -> None:
        """Say `offline` ourselves (a clean DISCONNECT suppresses the last will), then disconnect for good."""
        self._stop.set()
        session = self._session
        if session is not None and not session.closed.done():
            birth = self._birth
            try:
                session.publish(self.topics.status, self._status_payload("offline", birth), qos=1, retain=True)
            except MqttError:
                pass
            await session.disconnect()
        answering = self._answering
        if answering is not None and not answering.done():
            answering.cancel()  # stopping for good: an unanswered command is redelivered after the restart
            await asyncio.gather(answering, return_exceptions=True)

    def health(self) -> LinkHealth:
        """Link figures for `status` (outbox depth is refreshed by the drain and on each telemetry tick)."""
        return LinkHealth(
            state=self.state,
            outbox_depth=self._depth,
            last_sync=self._last_sync,
            connected_since=self._connected_since,
            last_error=self._reconnect.last_error,
            events_sent=self._events_sent,
            commands_handled=self._commands_handled,
            disk_full=self._store.disk_full,
        )

    @property
    def healthy(self) -> bool:
        """Connected means healthy; the outbox covers outages, but status should show them."""
        return self._reconnect.state is ReconnectState.CONNECTED

    def set_telemetry(self, kind: str, values: dict[str, Any]) -> None:
        """Latest-value-wins health figures, sent QoS 0 now if connected, else at the next tick."""
        self._telemetry[kind] = values
        session = self._session
        if session is not None and self.healthy:
            self._publish_telemetry(session, kind, values)

    async def refresh_depth(self) -> int:
        """The outbox's depth (two index look-ups, not a count of its rows)."""
        self._depth = await self._store.read(lambda db: outbox_depth(db.conn))
        return self._depth

    def set_config_identity(self, identity: dict[str, Any]) -> None:
        """A configuration applied hot: the retained `online` status says so now (the will keeps the old one until the next session)."""
        self._config_identity = identity
        if self._session is not None and self._connected_since is not None:
            try:
                self._session.publish(self.topics.status, self._status_payload("online", self._birth), qos=1, retain=True)
            except MqttError as err:
                log.debug("status.publish.failed", error=str(err))

    # -- one session -------------------------------------------------------------------------

    def _status_payload(self, state: str, birth: int) -> bytes:
        """The retained status: the contract's fields, the birth, whether the store's disk is full, the config's identity."""
        payload: dict[str, Any] = {"state": state, "version": self._version, "since": utc_now(), "birth": birth,
                                   "disk_full": self._store.disk_full}
        if self._config_identity is not None:
            payload["config"] = self._config_identity
        return json.dumps(payload).encode()

    async def _open(self) -> MqttSession:
        """Connect to this attempt's broker node (docs/brokers.md: the list is tried in order, wrapping round)."""
        address = self._addresses[self._node]
        try:
            session = await self._connect(address)
        except BaseException:
            self._next_node()
            raise
        self._session = session
        log.info("link.connected", broker=address.url, birth=self._birth)
        return session

    def _next_node(self) -> None:
        """Try the next broker node in the list (wrapping round) on the next attempt; one node stays itself."""
        self._node = (self._node + 1) % len(self._addresses)

    async def _connect(self, address: BrokerAddress) -> MqttSession:
        """Connect to one node with a persistent session and a last will, subscribe to commands, announce `online`.

        `birth` counts connections, not attempts: the will names the birth this connection will
        have, and the counter moves to it only once the broker accepted the session (an attempt
        the broker refused or never answered leaves no will behind, so its number is reused).

        Every node gets the same client id, so that a cluster sharing sessions keeps the store's session.
        """
        b = self._config.broker
        stored = await self._store.read(lambda db: int(get_meta(db, "birth") or 0))
        birth = max(stored, self._birth) + 1
        try:
            password = b.password()
        except OSError as err:
            raise MqttError(f"cannot read broker.password_file: {err}") from err
        settings = SessionSettings(
            host=address.host,
            port=address.port,
            client_id=b.client_id or f"store-edge-{self._config.store.id}",
            keepalive_s=b.keepalive_s,
            session_expiry_s=b.session_expiry_s,
            will_topic=self.topics.status,
            will_payload=self._status_payload("offline", birth),
            username=b.username,
            password=password,
            tls=address.tls,
            ca_file=str(b.ca_file) if b.ca_file else None,
            cert_file=str(b.cert_file) if b.cert_file else None,
            key_file=str(b.key_file) if b.key_file else None,
            protocol=b.protocol,
        )
        drain = _Drain(window=self._config.outbox.inflight)
        commands: asyncio.Queue[Incoming] = asyncio.Queue()
        session = MqttSession(settings, commands.put_nowait, lambda mid, rc: self._on_puback(drain, mid, rc))
        try:
            await session.connect(CONNECT_TIMEOUT_S)
        except MqttError as err:
            raise MqttError(f"{address.url}: {err}") from err
        # The broker says how many QoS 1 messages it takes unacknowledged (MQTT 5 Receive Maximum).
        drain.window = max(1, min(drain.window, session.receive_maximum - RESERVED_INFLIGHT))
        self._birth = birth  # the broker took the session (and its will): this connection is `birth`
        try:
            await self._save_birth()
            await session.subscribe(self.topics.commands, qos=1, timeout=CONNECT_TIMEOUT_S)
            session.publish(self.topics.status, self._status_payload("online", self._birth), qos=1, retain=True)
        except (MqttError, TimeoutError) as err:
            session.abort()
            raise MqttError(f"session set-up failed: {err}") from err
        except BaseException:
            session.abort()
            raise
        self._pending = (drain, commands)
        self._connected_since = utc_now()
        self._last_sync = self._connected_since
        return session

    async def _save_birth(self) -> None:
        """Make this connection's birth durable before `online` names it; with the disk full, later (connecting needs no write)."""
        birth = self._birth
        try:
            await self._store.write(lambda tx: save_birth(tx, birth), wait_for_space=False)
        except DiskFull:
            self._birth_unsaved = True
            log.warning("link.birth.unsaved", birth=birth, reason="disk full", hint="written as soon as space is back")
        else:
            self._birth_unsaved = False

    async def _serve(self, session: MqttSession) -> str:
        """Run drain, acks, commands and telemetry until the session ends; returns why it ended."""
        url = self._addresses[self._node].url
        try:
            reason = await self._serve_session(session)
        finally:
            self._session = None
            self._connected_since = None
            self._next_node()  # this node went away: the next attempt tries the next one
        if session.disconnect_reason == SESSION_TAKEN_OVER:
            # Someone connected with this store's client id: a security signal, logged every time.
            log.warning("link.session.taken_over", client_id=session.client_id, broker=url,
                        hint="another connection used this client id; see docs/mqtt-api.md (client id = username)")
            return "session taken over by another connection with the same client id (DISCONNECT 0x8E)"
        return reason

    async def _serve_session(self, session: MqttSession) -> str:
        """The session's tasks; the first to end (or the socket closing) ends them all."""
        assert self._pending is not None
        drain, commands = self._pending
        tasks = [
            asyncio.create_task(self._drain(session, drain), name="link-drain"),
            asyncio.create_task(self._flush_acks(drain), name="link-acks"),
            asyncio.create_task(self._serve_commands(session, commands), name="link-commands"),
            asyncio.create_task(self._telemetry_loop(session), name="link-telemetry"),
        ]
        try:
            done, _ = await asyncio.wait([session.closed, *tasks], return_when=asyncio.FIRST_COMPLETED)
            for task in tasks:
                if task in done and task.exception() is not None:
                    err = task.exception()
                    log.error("link.task.failed", task=task.get_name(), error=repr(err))
                    session.abort()
                    return f"{task.get_name()} failed: {err!r}"
            if drain.failure:
                session.abort()
                return drain.failure
            return session.closed.result() if session.closed.done() else "closed"
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if not session.closed.done():
                session.abort()

    def _on_puback(self, drain: _Drain, mid: int, reason: int) -> None:
        seq = drain.inflight.pop(mid, None)
        if seq is None:
            return
        if reason >= 0x80:
            # Refused by the broker (e.g. 0x87 not authorised): keep the event and fail the session loudly.
            drain.failure = f"broker refused event seq {seq} (reason code {reason:#x})"
            log.error("outbox.event.refused", seq=seq, reason_code=reason)
            if self._session is not None:
                self._session.abort()
            return
        drain.acked.append(seq)
        drain.progress.set()

    async def _drain(self, session: MqttSession, drain: _Drain) -> None:
        """Publish outbox rows in seq order, keeping at most `drain.window` unacknowledged.

        Rows are read a few hundred at a time on the reader thread and published at most
        PUBLISH_STEP per loop step, so the loop keeps serving PUBACKs and commands in between.
        """
        changed = self._store.changed("outbox")
        next_seq = 0
        queued: deque[tuple[int, str, str, str, str]] = deque()
        while True:
            room = drain.window - len(drain.inflight)
            if room <= 0:
                drain.progress.clear()
                await drain.progress.wait()
                continue
            if not queued:
                changed.clear()
                rows = await self._store.read(
                    lambda db: db.execute(
                        "SELECT seq, id, kind, ts, data FROM outbox WHERE seq >= ? ORDER BY seq LIMIT ?", (next_seq, READ_ROWS)
                    ).fetchall()
                )
                if not rows:
                    # Woken by our own commits at once; the timeout also picks up rows that another
                    # process (a maintenance tool, a test) added to the same database.
                    try:
                        await asyncio.wait_for(changed.wait(), OUTBOX_POLL_S)
                    except TimeoutError:
                        pass
                    continue
                next_seq = rows[-1][0] + 1
                queued.extend(row for row in rows if not _in_runs(self._undeleted, row[0]))
            for _ in range(min(room, PUBLISH_STEP, len(queued))):
                seq, event_id, kind, ts, data = queued.popleft()
                mid = session.publish(self.topics.event(kind), envelope(seq, event_id, kind, ts, data), qos=1)
                drain.inflight[mid] = seq
            # Let the socket writer and PUBACK reader run between steps.
            await asyncio.sleep(0)

    async def _flush_acks(self, drain: _Drain) -> None:
        """Delete acknowledged events in batches (one transaction per batch, a range per run of seqs).

        With the disk full the delete cannot be written: the acknowledged seqs are kept (the
        drain never sends them again) and the delete, and an unsaved birth, are retried every
        UNSAVED_RETRY_S; the session stays up meanwhile.
        """
        retry_at = 0.0
        while True:
            if self._undeleted or self._birth_unsaved:
                try:
                    await asyncio.wait_for(drain.progress.wait(), UNSAVED_RETRY_S)
                except TimeoutError:
                    pass
            else:
                await drain.progress.wait()
            drain.progress.clear()
            batch, drain.acked = drain.acked, []
            self._events_sent += len(batch)
            if batch:
                self._last_sync = utc_now()
            runs = merge_runs([*self._undeleted, *seq_runs(batch)])
            if not runs and not self._birth_unsaved:
                continue
            if time.monotonic() < retry_at:  # the disk was full a moment ago: keep collecting
                self._undeleted = runs
                continue
            stamp, birth, unsaved = self._last_sync, self._birth, self._birth_unsaved

            def delete(tx: Tx) -> int:
                tx.conn.executemany("DELETE FROM outbox WHERE seq BETWEEN ? AND ?", runs)
                if stamp is not None:
                    set_meta(tx, "last_sync", stamp)
                if unsaved:
                    save_birth(tx, birth)
                return outbox_depth(tx.conn)

            try:
                self._depth = await self._store.write(delete, wait_for_space=False)
            except DiskFull:
                log.debug("outbox.delete.deferred", reason="disk full", acknowledged=sum(high - low + 1 for low, high in runs))
                self._undeleted = runs
                retry_at = time.monotonic() + UNSAVED_RETRY_S
                continue
            self._undeleted = []
            if unsaved and birth == self._birth:
                self._birth_unsaved = False
            drain.progress.set()  # wake the drain if it waits for room

    async def _serve_commands(self, session: MqttSession, commands: asyncio.Queue[Incoming]) -> None:
        """One command at a time, in arrival order; the broker's copy is acknowledged only after the reply.

        A command being handled when the session ends is not cancelled: it finishes in the
        background (its reply is remembered in the inbox) and the next session waits for it
        before serving anything, so order holds and the redelivered copy is answered from the inbox.
        """
        while True:
            if self._answering is not None:
                await asyncio.shield(self._answering)
                self._answering = None
            msg = await commands.get()
            name = self.topics.command_name(msg.topic)
            if name is None:
                msg.ack()
                continue
            started = time.perf_counter()
            self._answering = asyncio.create_task(self._answer(name, msg), name="link-command")
            reply = await asyncio.shield(self._answering)
            self._answering = None
            if session.closed.done():
                return  # not acknowledged: the broker redelivers, the inbox answers the same
            session.publish(self.topics.reply(name), _reply_bytes(reply), qos=1)
            msg.ack()
            self._commands_handled += 1
            log.debug("command.replied", command=name[:64], ok=reply.get("ok"), ms=round((time.perf_counter() - started) * 1000, 2))

    async def _answer(self, name: str, msg: Incoming) -> dict[str, Any]:
        """The dispatcher's reply; should it ever raise, the message becomes a dead letter instead of coming back forever."""
        try:
            return await self._dispatcher.handle(name, msg.payload, redelivered=msg.dup)
        except Exception as err:
            log.exception("command.serve.failed", command=name[:64])
            return await self._dispatcher.dead_letter(name, msg.payload, f"handling raised {type(err).__name__}", 1)

    async def _telemetry_loop(self, session: MqttSession) -> None:
        """Send the latest health figures now and then (QoS 0: stale values are worthless), and at once when the disk fills or frees.

        A change of `disk_full` also re-publishes the retained `online` status with it.
        """
        disk = self._store.changed(DISK_TOPIC)
        full = self._store.disk_full
        while True:
            disk.clear()
            depth = await self.refresh_depth()
            self._telemetry["link"] = {"outbox_depth": depth, "last_sync": self._last_sync, "birth": self._birth,
                                       "disk_full": self._store.disk_full}
            for kind, values in list(self._telemetry.items()):
                self._publish_telemetry(session, kind, values)
            if self._store.disk_full != full:
                full = self._store.disk_full
                session.publish(self.topics.status, self._status_payload("online", self._birth), qos=1, retain=True)
            try:
                await asyncio.wait_for(disk.wait(), TELEMETRY_EVERY_S)
            except TimeoutError:
                pass

    def _publish_telemetry(self, session: MqttSession, kind: str, values: dict[str, Any]) -> None:
        body = {"ts": utc_now(), **values}
        try:
            session.publish(self.topics.telemetry(kind), json.dumps(body, ensure_ascii=False), qos=0)
        except MqttError as err:
            log.debug("telemetry.publish.failed", kind=kind, error=str(err))
