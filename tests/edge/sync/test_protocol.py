"""MQTT 3.1.1 mode beside MQTT 5 (issue 17 item 6): the configured version on the wire, PUBACKs, and shared subscriptions."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from edge.config import ConfigError, parse_config
from edge.demo.hq import Hq
from edge.sync.mqtt_session import MqttSession, SessionSettings
from tests.conftest import wait_online
from tests.edge.sync.test_delivery import daemon_dir, emit_from_job
from tests.helpers.secure_broker import SecureMosquitto

REPO = Path(__file__).resolve().parents[3]
#: The CONNECT packet's protocol level: 4 is MQTT 3.1.1, 5 is MQTT 5.
LEVELS = {"5": 5, "3.1.1": 4}


def test_protocol_defaults_to_5_and_is_validated():
    assert parse_config({"store": {"id": "s1"}}, env={}).broker.protocol == "5"
    assert parse_config({"store": {"id": "s1"}, "broker": {"protocol": "3.1.1"}}, env={}).broker.protocol == "3.1.1"
    for bad in ("3.1", "4", 5):
        with pytest.raises(ConfigError) as info:
            parse_config({"store": {"id": "s1"}, "broker": {"protocol": bad}}, env={})
        assert any(p.startswith("broker.protocol:") for p in info.value.problems), info.value.problems


class _Sniffer:
    """A loopback relay to the broker that records the protocol level of each CONNECT it forwards."""

    def __init__(self, broker_port: int) -> None:
        self.broker_port = broker_port
        self.levels: list[int] = []
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        """Listen on a free loopback port and return it."""
        self.server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Note the first packet's protocol level, then copy bytes both ways until either side closes."""
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.broker_port)
        first = await reader.read(4096)
        at = first.find(b"MQTT")
        if first[:1] == b"\x10" and at >= 0:
            self.levels.append(first[at + 4])
        up_writer.write(first)

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            """One direction of the relay."""
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except ConnectionError:
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    async def close(self) -> None:
        """Stop accepting connections."""
        assert self.server is not None
        self.server.close()


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
async def test_session_speaks_the_configured_version_and_its_pubacks_succeed(broker, protocol):
    sniffer = _Sniffer(broker.port)
    port = await sniffer.start()
    acks: list[tuple[int, int]] = []
    got: asyncio.Queue[Any] = asyncio.Queue()
    settings = SessionSettings(host="127.0.0.1", port=port, client_id=f"proto-{protocol}", keepalive_s=10,
                               session_expiry_s=60, will_topic="t/will", will_payload=b"gone", protocol=protocol)
    session = MqttSession(settings, got.put_nowait, lambda mid, rc: acks.append((mid, rc)))
    await session.connect(5)
    await session.subscribe("t/echo", qos=1, timeout=5)
    mids = [session.publish("t/echo", f"m{i}".encode(), qos=1) for i in range(3)]
    for _ in range(3):
        message = await asyncio.wait_for(got.get(), 5)
        message.ack()
    deadline = time.monotonic() + 5
    while len(acks) < 3 and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    await session.disconnect()
    await sniffer.close()
    assert sniffer.levels == [LEVELS[protocol]]
    assert sorted(acks) == sorted((mid, 0) for mid in mids)  # 3.1.1: paho reports every PUBACK as success
    assert session.receive_maximum >= 1


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
async def test_the_daemon_connects_with_broker_protocol(broker, daemon_factory, protocol):
    sniffer = _Sniffer(broker.port)
    port = await sniffer.start()
    daemon = daemon_factory(f"mqtt://127.0.0.1:{port}", broker={"protocol": protocol})
    await asyncio.to_thread(daemon.start)
    hq = await asyncio.to_thread(Hq, broker.port, "s1", client_id="hq-proto")
    try:
        await asyncio.to_thread(wait_online, hq)
        assert sniffer.levels == [LEVELS[protocol]]
    finally:
        await asyncio.to_thread(hq.close)
        await asyncio.to_thread(daemon.terminate)
        await sniffer.close()


async def test_a_command_whose_dots_a_broker_turned_into_slashes_is_answered(broker, daemon_factory):
    """RabbitMQ 3.10 delivers `cmd/config.get` as `cmd/config/get` (docs/brokers.md): the store still answers config.get."""
    daemon = daemon_factory(broker.url, broker={"protocol": "3.1.1"})
    await asyncio.to_thread(daemon.start)
    hq = await asyncio.to_thread(Hq, broker.port, "s1", client_id="hq-slashes")
    try:
        await asyncio.to_thread(wait_online, hq)
        rid = await asyncio.to_thread(hq.send, "config/get", {})
        replies = await asyncio.to_thread(hq.wait, lambda _: [r for r in hq.replies("config.get") if r["id"] == rid])
        assert replies[0]["ok"], replies  # and on reply/config.get, which RabbitMQ hands an MQTT consumer as reply/config/get
    finally:
        await asyncio.to_thread(hq.close)
        await asyncio.to_thread(daemon.terminate)


async def test_a_311_session_keeps_its_queued_messages_across_a_reconnect(broker):
    """clean_session=False: a QoS 1 message sent while the store was away is delivered when it is back."""
    settings = SessionSettings(host="127.0.0.1", port=broker.port, client_id="proto-persist", keepalive_s=10,
                               session_expiry_s=60, will_topic="t/will", will_payload=b"gone", protocol="3.1.1")
    got: asyncio.Queue[Any] = asyncio.Queue()
    first = MqttSession(settings, got.put_nowait, lambda mid, rc: None)
    await first.connect(5)
    await first.subscribe("t/queued", qos=1, timeout=5)
    await first.disconnect()
    sender = MqttSession(SessionSettings(host="127.0.0.1", port=broker.port, client_id="proto-sender", keepalive_s=10,
                                         session_expiry_s=0, will_topic="t/will2", will_payload=b"", protocol="3.1.1"),
                         lambda m: None, lambda mid, rc: None)
    await sender.connect(5)
    sender.publish("t/queued", b"while away", qos=1)
    await asyncio.sleep(0.3)
    await sender.disconnect()
    second = MqttSession(settings, got.put_nowait, lambda mid, rc: None)
    await second.connect(5)
    message = await asyncio.wait_for(got.get(), 5)
    message.ack()
    await second.disconnect()
    assert message.payload == b"while away"


@pytest.mark.parametrize(("protocol", "code"), [("5", 0x87), ("3.1.1", 0)])
async def test_an_acl_refusal_is_a_reason_code_in_5_and_invisible_in_311(tmp_path, protocol, code):
    """What docs/brokers.md tells HQ: Mosquitto acknowledges (and drops) a denied 3.1.1 publish; MQTT 5 says 0x87."""
    broker = await asyncio.to_thread(
        SecureMosquitto(tmp_path / "broker", passwords={"s1": "pw-s1", "s2": "pw-s2"}, store_acl=True).start)
    acks: list[int] = []
    settings = SessionSettings(host="127.0.0.1", port=broker.port, client_id="s2", keepalive_s=10, session_expiry_s=60,
                               will_topic="store-edge/v1/s2/status", will_payload=b"", username="s2", password="pw-s2",
                               protocol=protocol)
    session = MqttSession(settings, lambda m: None, lambda mid, rc: acks.append(rc))
    try:
        await session.connect(5)
        session.publish("store-edge/v1/s1/event/x", b"{}", qos=1)  # another store's subtree
        deadline = time.monotonic() + 5
        while not acks and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert acks == [code]
    finally:
        await session.disconnect()
        await asyncio.to_thread(broker.stop)


def _example() -> dict[str, Any]:
    """Run the python example of docs/brokers.md as written and return its names."""
    text = (REPO / "docs" / "brokers.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, re.DOTALL)
    assert blocks, "docs/brokers.md has no python example"
    names: dict[str, Any] = {}
    exec(compile(blocks[0], "docs/brokers.md", "exec"), names)  # noqa: S102 - the documented example itself
    return names


def test_shared_subscription_example_gives_each_event_to_exactly_one_consumer(broker, daemon_factory):
    example = _example()
    lock = threading.Lock()
    seen: dict[str, list[tuple[str, int]]] = {"a": [], "b": []}

    def handler(name: str) -> Callable[[str, dict[str, Any]], None]:
        """What consumer `name` was given."""
        def handle(store_id: str, event: dict[str, Any]) -> None:
            if event.get("kind") == "job.test":
                with lock:
                    seen[name].append((store_id, event["data"]["n"]))
        return handle

    consumers = [example["hq_consumer"]("127.0.0.1", broker.port, f"hq-share-{n}", handler(n)) for n in "ab"]
    try:
        time.sleep(0.5)  # both subscribed
        daemon = daemon_factory(broker.url, broker={"protocol": "3.1.1"}).start()
        hq = Hq(broker.port, "s1", client_id="hq-share-status")
        wait_online(hq)
        emit_from_job(daemon_dir(daemon) / "store-edge.db", "job.test", 60)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with lock:
                if len(seen["a"]) + len(seen["b"]) >= 60:
                    break
            time.sleep(0.05)
        time.sleep(0.5)  # a duplicate delivery would arrive now
        hq.close()
        daemon.terminate()
    finally:
        for client in consumers:
            client.loop_stop()
            client.disconnect()
    everything = seen["a"] + seen["b"]
    assert sorted(n for _, n in everything) == list(range(60))  # each event exactly once across the group
    assert seen["a"] and seen["b"]  # and the load is shared
    assert {store for store, _ in everything} == {"s1"}
