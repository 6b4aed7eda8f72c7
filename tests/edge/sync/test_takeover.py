"""One store's credentials cannot take over another store's session; a takeover is logged; birth counts connections (issue 11, item 5)."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
import trustme
from paho.mqtt.enums import CallbackAPIVersion

from edge.demo.broker import free_port, wait_for_port
from tests.conftest import wait_online
from tests.helpers.proxy import CuttableProxy
from tests.helpers.secure_broker import SecureMosquitto, TakeoverProxy

PASSWORDS = {"s1": "pw-s1", "s2": "pw-s2", "hq": "pw-hq"}


def _broker(tmp_path: Path, username_as_clientid: bool) -> SecureMosquitto:
    """Passwords and the per-store ACL; the stores' listener with or without client id = username."""
    return SecureMosquitto(tmp_path / "broker", passwords=PASSWORDS, store_acl=True,
                           username_as_clientid=username_as_clientid, hq_port=free_port()).start()


def _secret(tmp_path: Path, name: str, secret: str) -> str:
    path = tmp_path / name
    path.write_text(secret + "\n")
    path.chmod(0o600)
    return str(path)


def _intruder(port: int, seen: list[str], lost: list[int]) -> mqtt.Client:
    """Store s2's valid credentials, store s1's client id, subscribed to s1's subtree."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="store-edge-s1", protocol=mqtt.MQTTv5)
    client.username_pw_set("s2", "pw-s2")
    client.on_message = lambda c, u, m: seen.append(m.topic)
    client.on_connect = lambda c, u, f, rc, p: c.subscribe("store-edge/v1/s1/#", qos=1)
    client.on_disconnect = lambda c, u, f, rc, p: lost.append(int(getattr(rc, "value", 0)))
    client.reconnect_delay_set(0.05, 0.2)
    client.connect("127.0.0.1", port)
    client.loop_start()
    return client


def _twenty_commands_while_intruding(tmp_path, daemon_factory, hq_factory, broker: SecureMosquitto) -> tuple[list, list[str], str]:
    """Stores s1 and s2 online; s2's credentials keep connecting with s1's client id while HQ sends s1 20 commands."""
    s1 = daemon_factory(broker.url, broker={"username": "s1", "password_file": _secret(tmp_path, "s1.pw", "pw-s1")}).start()
    s2 = daemon_factory(broker.url, store_id="s2", name="d2",
                        broker={"username": "s2", "password_file": _secret(tmp_path, "s2.pw", "pw-s2")}).start()
    assert broker.hq_port is not None
    hq = hq_factory(broker.hq_port, username="hq", password="pw-hq")
    hq2 = hq_factory(broker.hq_port, "s2", username="hq", password="pw-hq")
    wait_online(hq)
    wait_online(hq2)
    seen: list[str] = []
    lost: list[int] = []
    replies = []
    intruders = []
    try:
        for i in range(20):
            if i % 4 == 0:  # a fresh intrusion every few commands
                intruders.append(_intruder(broker.port, seen, lost))
                time.sleep(0.3)
            try:
                replies.append(hq.request("link.test", {"count": 1, "tag": f"c{i}"}, request_id=f"cmd-{i}", timeout=3))
            except AssertionError:  # Hq.wait timed out: no reply
                replies.append(None)
    finally:
        for client in intruders:
            client.disconnect()
            client.loop_stop()
    log = s1.log()
    s1.terminate()
    s2.terminate()
    return replies, seen, log


@pytest.fixture
def secured(tmp_path):
    """The recommended broker: client id = username on the stores' listener."""
    broker = _broker(tmp_path, username_as_clientid=True)
    yield broker
    broker.stop()


@pytest.fixture
def acl_only(tmp_path):
    """The first release's recommendation: passwords and the per-store ACL only."""
    broker = _broker(tmp_path, username_as_clientid=False)
    yield broker
    broker.stop()


def test_another_stores_credentials_cannot_take_over_the_session(tmp_path, secured, daemon_factory, hq_factory):
    replies, seen, log = _twenty_commands_while_intruding(tmp_path, daemon_factory, hq_factory, secured)
    assert all(r is not None and r["ok"] for r in replies), replies  # every command answered
    assert seen == []  # nothing of s1's reached s2's credentials
    assert "link.lost" not in log and "link.session.taken_over" not in log  # s1 was never disconnected


def test_with_the_acl_alone_a_client_id_takes_the_session(tmp_path, acl_only, daemon_factory, hq_factory):
    """Why the setting matters: without it, s2's credentials with s1's client id knock s1 off its session."""
    s1 = daemon_factory(acl_only.url, broker={"username": "s1", "password_file": _secret(tmp_path, "s1.pw", "pw-s1")}).start()
    assert acl_only.hq_port is not None
    wait_online(hq_factory(acl_only.hq_port, username="hq", password="pw-hq"))
    intruder = _intruder(acl_only.port, [], [])
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and "link.lost" not in s1.log():
            time.sleep(0.1)
    finally:
        intruder.disconnect()
        intruder.loop_stop()
    assert "link.lost" in s1.log()
    s1.terminate()


def test_session_taken_over_is_its_own_warning_every_time(broker, daemon_factory, hq_factory):
    proxy = TakeoverProxy(broker.port)
    daemon = daemon_factory(f"mqtt://127.0.0.1:{proxy.port}").start()
    hq = hq_factory(broker.port)
    wait_online(hq)
    for count in (2, 3):
        proxy.take_over()
        wait_online(hq, count=count)  # reconnects by itself
    assert hq.request("ping", {})["ok"]
    daemon.terminate()
    proxy.close()
    lines = [line for line in daemon.log().splitlines() if "link.session.taken_over" in line]
    assert len(lines) == 2 and all("warning" in line for line in lines), lines
    assert "client_id=store-edge-s1" in lines[0]


def test_birth_counts_connections_not_attempts(broker, daemon_factory, hq_factory):
    proxy = CuttableProxy(broker.port)
    proxy.reset(refuse=True)  # every attempt fails: the broker is unreachable
    daemon = daemon_factory(f"mqtt://127.0.0.1:{proxy.port}").start()
    hq = hq_factory(broker.port)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and len(re.findall(r"link\.connect\.failed", daemon.log())) < 1:
        time.sleep(0.1)
    time.sleep(2)  # several more attempts (back-off 0.2 .. 1 s)
    proxy.restore()
    first = wait_online(hq)
    assert first["birth"] == 1  # before: one more per failed attempt
    daemon.kill()
    daemon.start()
    assert wait_online(hq, count=2)["birth"] == 2
    daemon.terminate()
    proxy.close()


def _documented_config() -> str:
    """The Mosquitto lines docs/mqtt-api.md recommends, as written there."""
    text = (Path(__file__).resolve().parents[3] / "docs" / "mqtt-api.md").read_text()
    block = text.split("  ```\n  # mosquitto.conf", 1)[1].split("  ```", 1)[0]
    return "# mosquitto.conf" + "\n".join(line[2:] for line in block.splitlines())


def test_the_documented_broker_lines_work_as_written(tmp_path):
    ca = trustme.CA()
    server = ca.issue_cert("localhost", "127.0.0.1")
    files = {"ca.pem": ca.cert_pem.bytes(), "server.pem": server.cert_chain_pems[0].bytes(), "server.key": server.private_key_pem.bytes(),
             "store-edge.acl": b"pattern readwrite store-edge/v1/%u/#\nuser hq\ntopic readwrite store-edge/v1/#\n"}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    passwd = tmp_path / "store-edge.passwd"
    passwd.write_text("")
    passwd.chmod(0o600)
    for user, password in PASSWORDS.items():
        subprocess.run(["mosquitto_passwd", "-b", str(passwd), user, password], check=True, capture_output=True)
    stores, hq_port = free_port(), free_port()
    conf = _documented_config().replace("/etc/mosquitto/", f"{tmp_path}/")
    conf = conf.replace("listener 8883", f"listener {stores} 127.0.0.1").replace("listener 8884", f"listener {hq_port} 127.0.0.1")
    (tmp_path / "mosquitto.conf").write_text("user root\n" + conf + "\n")
    broker = subprocess.Popen(["mosquitto", "-c", str(tmp_path / "mosquitto.conf")], stderr=subprocess.PIPE)
    try:
        for port in (stores, hq_port):
            wait_for_port(port)

        def client(port: int, user: str, client_id: str, lost: list[str]) -> mqtt.Client:
            c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
            c.username_pw_set(user, PASSWORDS[user])
            c.tls_set(ca_certs=str(tmp_path / "ca.pem"))
            c.on_disconnect = lambda *_: lost.append(client_id)
            assert c.connect("localhost", port) == 0
            c.loop_start()
            return c

        lost: list[str] = []
        clients = [client(stores, "s1", "store-edge-s1", lost), client(stores, "s2", "store-edge-s1", lost),
                   client(hq_port, "hq", "hq-a", lost), client(hq_port, "hq", "hq-b", lost)]
        time.sleep(1.5)
        assert lost == []  # nobody took anybody's session: s2 came in as "s2", HQ's two connections coexist
        for c in clients:
            c.disconnect()
            c.loop_stop()
    finally:
        broker.terminate()
        broker.wait(5)
