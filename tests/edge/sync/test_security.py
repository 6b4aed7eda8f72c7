"""TLS with a throwaway CA, passwords, optional client certificates, and the per-store ACL."""

from __future__ import annotations

import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
import trustme
from paho.mqtt.enums import CallbackAPIVersion

from edge.demo.broker import free_port
from tests.helpers.secure_broker import SecureMosquitto, TlsListener
from tests.conftest import wait_online

PASSWORDS = {"s1": "pw-s1", "s2": "pw-s2", "hq": "pw-hq"}


@pytest.fixture
def secure_broker(tmp_path: Path):
    """A broker with a TLS listener (CA made here), a password file and the per-store ACL."""
    ca = trustme.CA()
    server = ca.issue_cert("localhost", "127.0.0.1")
    certs = tmp_path / "certs"
    certs.mkdir()
    ca.cert_pem.write_to_path(str(certs / "ca.pem"))
    server.cert_chain_pems[0].write_to_path(str(certs / "server.pem"))
    server.private_key_pem.write_to_path(str(certs / "server.key"))
    client = ca.issue_cert("s1")
    client.cert_chain_pems[0].write_to_path(str(certs / "client.pem"))
    client.private_key_pem.write_to_path(str(certs / "client.key"))
    (certs / "client.key").chmod(0o600)  # the daemon refuses a key file other users can read
    tls = TlsListener(free_port(), certs / "ca.pem", certs / "server.pem", certs / "server.key")
    broker = SecureMosquitto(tmp_path / "broker", tls=tls, passwords=PASSWORDS, store_acl=True).start()
    yield broker, certs
    broker.stop()


def _password_file(tmp_path: Path, name: str, secret: str) -> str:
    path = tmp_path / name
    path.write_text(secret + "\n")
    path.chmod(0o600)
    return str(path)


def test_tls_with_password_round_trip(tmp_path, secure_broker, daemon_factory, hq_factory):
    broker, certs = secure_broker
    daemon = daemon_factory(
        f"mqtts://localhost:{broker.tls.port}",
        broker={"username": "s1", "password_file": _password_file(tmp_path, "s1.pw", "pw-s1"), "ca_file": str(certs / "ca.pem")},
    ).start()
    hq = hq_factory(broker.port, username="hq", password="pw-hq")
    wait_online(hq)
    assert hq.request("ping", {})["ok"] is True
    daemon.terminate()
    assert f"broker=mqtts://localhost:{broker.tls.port}" in daemon.log()


def test_tls_with_client_certificate(tmp_path, secure_broker, daemon_factory, hq_factory):
    broker, certs = secure_broker
    daemon = daemon_factory(
        f"mqtts://127.0.0.1:{broker.tls.port}",
        broker={
            "username": "s1",
            "password_file": _password_file(tmp_path, "s1.pw", "pw-s1"),
            "ca_file": str(certs / "ca.pem"),
            "cert_file": str(certs / "client.pem"),
            "key_file": str(certs / "client.key"),
        },
    ).start()
    hq = hq_factory(broker.port, username="hq", password="pw-hq")
    wait_online(hq)
    daemon.terminate()


def test_wrong_password_is_rejected(tmp_path, secure_broker, daemon_factory, hq_factory):
    broker, certs = secure_broker
    daemon = daemon_factory(
        f"mqtts://localhost:{broker.tls.port}",
        broker={"username": "s1", "password_file": _password_file(tmp_path, "bad.pw", "wrong"), "ca_file": str(certs / "ca.pem")},
    ).start()
    hq = hq_factory(broker.port, username="hq", password="pw-hq")
    deadline = time.monotonic() + 4
    while time.monotonic() < deadline and "link.connect.failed" not in daemon.log():
        time.sleep(0.1)
    assert "link.connect.failed" in daemon.log()
    assert "Not authorized" in daemon.log() or "Bad user name or password" in daemon.log()
    assert not [s for s in hq.statuses() if s["state"] == "online"]
    daemon.terminate()


def test_untrusted_server_certificate_is_refused(tmp_path, secure_broker, daemon_factory):
    broker, _ = secure_broker
    other_ca = trustme.CA()
    other_ca.cert_pem.write_to_path(str(tmp_path / "other-ca.pem"))
    daemon = daemon_factory(
        f"mqtts://localhost:{broker.tls.port}",
        broker={"username": "s1", "password_file": _password_file(tmp_path, "s1.pw", "pw-s1"), "ca_file": str(tmp_path / "other-ca.pem")},
    ).start()
    deadline = time.monotonic() + 4
    while time.monotonic() < deadline and "CERTIFICATE_VERIFY_FAILED" not in daemon.log():
        time.sleep(0.1)
    assert "CERTIFICATE_VERIFY_FAILED" in daemon.log()
    daemon.terminate()


def test_acl_keeps_one_store_out_of_another(tmp_path, secure_broker, daemon_factory, hq_factory):
    broker, _ = secure_broker
    daemon = daemon_factory(broker.url, broker={"username": "s1", "password_file": _password_file(tmp_path, "s1.pw", "pw-s1")}).start()
    hq = hq_factory(broker.port, username="hq", password="pw-hq")
    wait_online(hq)

    snooped: list[str] = []
    intruder = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="intruder", protocol=mqtt.MQTTv5)
    intruder.username_pw_set("s2", "pw-s2")
    intruder.on_message = lambda c, u, m: snooped.append(m.topic)
    intruder.connect("127.0.0.1", broker.port)
    intruder.loop_start()
    try:
        intruder.subscribe("store-edge/v1/s1/#", qos=1)
        refused = []
        intruder.on_publish = lambda c, u, mid, rc, props: refused.append(rc)
        intruder.publish("store-edge/v1/s1/cmd/link.test", '{"id": "evil", "count": 1}', qos=1).wait_for_publish(5)
        deadline = time.monotonic() + 5
        while not refused and time.monotonic() < deadline:
            time.sleep(0.05)
        assert refused and refused[0].value == 0x87  # MQTT 5: not authorised
        assert hq.request("link.test", {"count": 2})["ok"]  # real traffic on s1's topics
        hq.wait(lambda _: len(hq.events("link.test")) >= 2)
        assert snooped == []
        assert hq.replies("link.test") and all(r["id"] != "evil" for r in hq.replies("link.test"))
    finally:
        intruder.disconnect()
        intruder.loop_stop()
    daemon.terminate()
