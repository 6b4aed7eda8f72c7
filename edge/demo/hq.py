"""A scripted headquarters: a paho client that sends requests and records replies, events and status (demo and tests)."""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties


class Hq:
    """Subscribes to a store's whole subtree and records everything it sees, thread-safely."""

    def __init__(
        self,
        port: int,
        store_id: str,
        username: str | None = None,
        password: str | None = None,
        prefix: str = "store-edge/v1",
        client_id: str | None = None,
        on_message: Callable[[str, bytes], None] | None = None,
    ) -> None:
        self.root = f"{prefix}/{store_id}"
        self._lock = threading.Condition()
        self.messages: list[tuple[str, bytes, bool]] = []
        self._printer = on_message
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id or f"hq-{uuid.uuid4().hex[:8]}", protocol=mqtt.MQTTv5)
        if username:
            self._client.username_pw_set(username, password)
        self._client.on_message = self._on_message
        self._client.on_socket_open = lambda c, u, sock: sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._client.reconnect_delay_set(0.1, 0.5)
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 600  # a persistent session: nothing is missed across broker restarts
        self._client.connect("127.0.0.1", port, keepalive=10, clean_start=False, properties=props)
        self._client.loop_start()
        self._client.subscribe(f"{self.root}/#", qos=1)

    def _on_message(self, client: Any, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append((msg.topic, msg.payload, bool(msg.retain)))
            self._lock.notify_all()
        if self._printer is not None:
            self._printer(msg.topic, msg.payload)

    def close(self) -> None:
        """Disconnect."""
        self._client.disconnect()
        self._client.loop_stop()

    def send(self, name: str, body: dict[str, Any] | bytes | str, request_id: str | None = None) -> str:
        """Publish a request; returns its id (a raw bytes/str body is sent as is)."""
        rid = request_id or uuid.uuid4().hex[:12]
        payload = json.dumps({"id": rid, **body}) if isinstance(body, dict) else body
        self._client.publish(f"{self.root}/cmd/{name}", payload, qos=1).wait_for_publish(5)
        return rid

    def wait(self, predicate: Any, timeout: float = 10.0) -> Any:
        """Block until `predicate(messages)` returns something truthy, or fail."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                found = predicate(self.messages)
                if found:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out after {timeout} s; saw {len(self.messages)} messages")
                self._lock.wait(left)

    def replies(self, name: str) -> list[dict[str, Any]]:
        """Every reply seen on `reply/<name>`."""
        with self._lock:
            return [json.loads(p) for t, p, _ in self.messages if t == f"{self.root}/reply/{name}"]

    def request(self, name: str, body: dict[str, Any] | bytes | str, request_id: str | None = None, timeout: float = 10.0) -> dict[str, Any]:
        """Send a request and wait for the reply with its id (or id null for unusable payloads)."""
        before = len(self.replies(name))
        rid = self.send(name, body, request_id)
        want = rid if isinstance(body, dict) else None

        def found(_: Any) -> dict[str, Any] | None:
            for reply in self.replies(name)[before:]:
                if reply.get("id") == want:
                    return reply
            return None

        return self.wait(found, timeout)

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        """Every event envelope seen (optionally of one kind), in arrival order, repeats included."""
        head = f"{self.root}/event/"
        with self._lock:
            out = [json.loads(p) for t, p, _ in self.messages if t.startswith(head)]
        return [e for e in out if kind is None or e["kind"] == kind]

    def statuses(self) -> list[dict[str, Any]]:
        """Every status payload seen."""
        with self._lock:
            return [json.loads(p) for t, p, _ in self.messages if t == f"{self.root}/status" and p]


def unique_in_order(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What a consumer keeps after dropping repeats by id."""
    seen: set[str] = set()
    out = []
    for event in events:
        if event["id"] not in seen:
            seen.add(event["id"])
            out.append(event)
    return out
