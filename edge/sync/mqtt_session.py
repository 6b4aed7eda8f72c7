"""One MQTT connection driven by the asyncio loop: paho's socket callbacks wired to add_reader/add_writer.

Why not aiomqtt: the outbox must know, per message, whether the broker *accepted* it
(MQTT 5 PUBACK reason codes: 0x87 "not authorized" means keep the event; under MQTT 3.1.1
a PUBACK carries no code, so paho reports success and a refusal can only be a disconnect), and must
acknowledge commands only after they are committed (paho's manual ack). aiomqtt hides
both behind per-message awaits. Everything here runs on the event loop thread except
the blocking TCP/TLS connect, which runs in an executor (as aiomqtt does).
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

#: MQTT 5 DISCONNECT reason: another connection took this client id's session.
SESSION_TAKEN_OVER = 0x8E


class MqttError(Exception):
    """The connection could not be made or was lost; carries paho's reason when there is one."""


@dataclass(frozen=True)
class SessionSettings:
    """Everything needed to open one connection."""

    host: str
    port: int
    client_id: str
    keepalive_s: int
    session_expiry_s: int
    will_topic: str
    will_payload: bytes
    username: str | None = None
    password: str | None = None
    tls: bool = False
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    protocol: Literal["5", "3.1.1"] = "5"  # docs/brokers.md: what 3.1.1 loses)

    @property
    def v5(self) -> bool:
        """Whether this connection speaks MQTT 5 (reason codes, session expiry, Receive Maximum)."""
        return self.protocol == "5"


@dataclass(frozen=True)
class Incoming:
    """A received message; `ack()` must be called once it has been handled durably."""

    topic: str
    payload: bytes
    mid: int
    qos: int
    ack: Callable[[], None]
    dup: bool = False  # the broker's DUP flag: it may have delivered this message before


#: Bytes taken from the socket per read; a few hundred PUBACKs, so one read's packets stay one short loop step.
READ_BUFFER = 16 * 1024


class _Client(mqtt.Client):
    """paho's client reading the socket in blocks (paho reads each packet in three system calls: type, length, body)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._rbuf = b""
        self._rpos = 0

    def _sock_recv(self, bufsize: int) -> bytes:
        """paho's read, served from a block read ahead (an empty read is the peer closing, as before)."""
        if self._rpos >= len(self._rbuf):
            self._rbuf, self._rpos = super()._sock_recv(READ_BUFFER), 0
            if not self._rbuf:
                return b""
        start, self._rpos = self._rpos, min(self._rpos + bufsize, len(self._rbuf))
        return self._rbuf[start:self._rpos]

    def buffered(self) -> int:
        """Bytes read from the socket that paho has not taken yet (the socket will not signal them again)."""
        return len(self._rbuf) - self._rpos


class MqttSession:
    """A single connection's life; make a new one for every reconnect (paho's in-memory state is not reused)."""

    def __init__(
        self,
        settings: SessionSettings,
        on_message: Callable[[Incoming], None],
        on_puback: Callable[[int, int], None],
    ) -> None:
        self._settings = settings
        self._on_message_cb = on_message
        self._on_puback_cb = on_puback
        self._loop = asyncio.get_running_loop()
        self._connected: asyncio.Future[None] = self._loop.create_future()
        self.closed: asyncio.Future[str] = self._loop.create_future()
        self._misc: asyncio.Task[None] | None = None
        #: The reason code of the broker's DISCONNECT, if it sent one (None: the socket just closed).
        self.disconnect_reason: int | None = None
        client = _Client(
            CallbackAPIVersion.VERSION2,
            client_id=settings.client_id,
            protocol=mqtt.MQTTv5 if settings.v5 else mqtt.MQTTv311,
            # 3.1.1 keeps the session with clean_session=False (no expiry: the broker's own setting decides).
            clean_session=None if settings.v5 else False,
            reconnect_on_failure=False,
            manual_ack=True,
        )
        # No limit in paho: the outbox keeps its own window. With a limit, paho walks every message
        # in flight on each PUBACK (its _update_inflight), a third of the loop's time per event.
        client.max_inflight_messages_set(0)
        client.max_queued_messages_set(0)
        self.receive_maximum = 65535  # the broker's, from CONNACK (MQTT 5: 65535 when it names none; 3.1.1 has none)
        if settings.username is not None:
            client.username_pw_set(settings.username, settings.password)
        if settings.tls:
            context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=settings.ca_file)
            if settings.cert_file:
                context.load_cert_chain(settings.cert_file, settings.key_file)
            client.tls_set_context(context)
        client.will_set(settings.will_topic, settings.will_payload, qos=1, retain=True)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        client.on_socket_open = self._on_socket_open
        client.on_socket_close = self._on_socket_close
        client.on_socket_register_write = self._on_register_write
        client.on_socket_unregister_write = self._on_unregister_write
        self._client = client

    async def connect(self, timeout: float) -> None:
        """Open TCP/TLS, send CONNECT with a persistent session, and wait for a successful CONNACK."""
        s = self._settings
        if s.v5:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = s.session_expiry_s
            options: dict[str, Any] = {"clean_start": False, "properties": props}
        else:
            options = {}  # clean_session=False was given to the client; 3.1.1 has no CONNECT properties
        try:
            await asyncio.wait_for(
                self._loop.run_in_executor(
                    None,
                    lambda: self._client.connect(s.host, s.port, s.keepalive_s, **options),
                ),
                timeout,
            )
            await asyncio.wait_for(asyncio.shield(self._connected), timeout)
        except (OSError, ssl.SSLError, TimeoutError, mqtt.WebsocketConnectionError) as err:
            self.abort()
            raise MqttError(f"connect to {s.host}:{s.port} failed: {err or type(err).__name__}") from err
        except MqttError:
            self.abort()
            raise

    def publish(self, topic: str, payload: bytes | str, qos: int = 1, retain: bool = False) -> int:
        """Queue a message on the socket; returns its mid (PUBACK arrives through `on_puback`)."""
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_QUEUE_SIZE):
            raise MqttError(f"publish failed: {mqtt.error_string(info.rc)}")
        return info.mid

    async def subscribe(self, topic: str, qos: int, timeout: float) -> None:
        """Subscribe and wait for the SUBACK, failing on a refused subscription."""
        done: asyncio.Future[list[Any]] = self._loop.create_future()

        def on_subscribe(client: Any, userdata: Any, mid: int, codes: list[Any], props: Any) -> None:
            if not done.done():
                done.set_result(codes)

        self._client.on_subscribe = on_subscribe
        rc, _ = self._client.subscribe(topic, qos=qos)
        if rc != mqtt.MQTT_ERR_SUCCESS:
            raise MqttError(f"subscribe failed: {mqtt.error_string(rc)}")
        codes = await asyncio.wait_for(done, timeout)
        if any(getattr(c, "is_failure", False) for c in codes):
            raise MqttError(f"subscription to {topic} refused: {codes}")

    async def disconnect(self) -> None:
        """Polite DISCONNECT (the last will is then not published)."""
        if not self.closed.done():
            self._client.disconnect()
            try:
                await asyncio.wait_for(asyncio.shield(self.closed), 2)
            except TimeoutError:
                self.abort()

    def abort(self) -> None:
        """Drop the socket without DISCONNECT, as a network cut would."""
        sock = self._client.socket()
        if sock is not None:
            try:
                self._loop.remove_reader(sock.fileno())
                self._loop.remove_writer(sock.fileno())
            except (ValueError, OSError):
                pass
            try:
                sock.close()
            except OSError:
                pass
        self._finish("aborted")

    # -- paho callbacks (all on the loop thread, except socket-open during connect) ----------

    def _finish(self, reason: str) -> None:
        if self._misc is not None:
            self._misc.cancel()
        if not self.closed.done():
            self.closed.set_result(reason)
        if not self._connected.done():
            self._connected.set_exception(MqttError(reason))
            self._connected.exception()  # mark retrieved

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if self._connected.done():
            return
        if reason.is_failure:
            self._connected.set_exception(MqttError(f"broker refused connection: {reason}"))
        else:
            self.receive_maximum = int(getattr(props, "ReceiveMaximum", 65535) or 65535)
            self._connected.set_result(None)

    @property
    def client_id(self) -> str:
        """The client id this session connected with."""
        return self._settings.client_id

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if getattr(flags, "is_disconnect_packet_from_server", False):
            self.disconnect_reason = int(getattr(reason, "value", reason))
        self._finish(str(reason))

    def _on_publish(self, client: Any, userdata: Any, mid: int, reason: Any, props: Any) -> None:
        self._on_puback_cb(mid, int(getattr(reason, "value", reason)))

    def _on_message(self, client: Any, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        mid, qos = msg.mid, msg.qos

        def ack() -> None:
            if qos > 0 and not self.closed.done():
                self._client.ack(mid, qos)

        self._on_message_cb(Incoming(msg.topic, msg.payload, mid, qos, ack, bool(msg.dup)))

    def _on_socket_open(self, client: Any, userdata: Any, sock: Any) -> None:
        # Small request/reply packets must not wait for Nagle + delayed ACK (~40 ms each way).
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except (OSError, AttributeError):
            pass

        def readable() -> None:
            """Handle what one read brought; bytes already read (ours or TLS's) come in the next loop step."""
            if self.closed.done():
                return
            try:
                rc = client.loop_read()
                pending = getattr(client.socket(), "pending", None)
                more = client.buffered() > 0 or bool(pending and pending() > 0)
            except Exception as err:  # noqa: BLE001 - a broken socket ends this session
                self._finish(f"read failed: {err}")
                return
            if rc != mqtt.MQTT_ERR_SUCCESS:
                self._finish(mqtt.error_string(rc))
            elif more:
                self._loop.call_soon(readable)

        def start() -> None:
            self._loop.add_reader(sock, readable)
            self._misc = self._loop.create_task(self._misc_loop(), name="mqtt-misc")

        self._loop.call_soon_threadsafe(start)

    def _on_socket_close(self, client: Any, userdata: Any, sock: Any) -> None:
        def stop() -> None:
            try:
                self._loop.remove_reader(sock)
                self._loop.remove_writer(sock)
            except (ValueError, OSError):
                pass

        self._loop.call_soon_threadsafe(stop)

    def _on_register_write(self, client: Any, userdata: Any, sock: Any) -> None:
        def writable() -> None:
            try:
                rc = client.loop_write()
            except Exception as err:  # noqa: BLE001
                self._finish(f"write failed: {err}")
                return
            if rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_AGAIN):
                self._finish(mqtt.error_string(rc))

        self._loop.call_soon_threadsafe(self._loop.add_writer, sock, writable)

    def _on_unregister_write(self, client: Any, userdata: Any, sock: Any) -> None:
        try:
            self._loop.remove_writer(sock)
        except (ValueError, OSError):
            pass

    async def _misc_loop(self) -> None:
        """Keepalive pings and timeout checks; paho detects a dead link here (the realistic WAN failure)."""
        while not self.closed.done():
            rc = self._client.loop_misc()
            if rc != mqtt.MQTT_ERR_SUCCESS:
                self._finish(f"connection lost: {mqtt.error_string(rc)}")
                return
            await asyncio.sleep(0.5)
