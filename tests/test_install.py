"""The README's "Installing as a service" steps, followed line by line in a temporary root, end in a daemon that works.

Paths move under the temporary root (no real /etc), the `store-edge` group is this user's, and
what needs a real machine is left out (useradd, the clone, systemctl); headquarters is a
Mosquitto with TLS, passwords, client certificates and the per-store ACL. `check` must pass and
the daemon must come online with the token, the password, the certificates and the produce
file the steps made.
"""

from __future__ import annotations

import grp
import os
import re
import shlex
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

import tomli_w  # type: ignore[import-not-found]
import trustme

from edge.demo.broker import free_port
from tests.conftest import wait_online
from tests.helpers.secure_broker import SecureMosquitto, TlsListener

REPO = Path(__file__).resolve().parents[1]
STORE = "sh-pudong-0042"  # the example's store id, which the broker account must match
PASSWORD = "pw-of-the-store"
SKIPPED = ("useradd ", "git clone ", "systemctl ", "cp systemd/")  # what needs a real machine


def install_steps() -> list[str]:
    """The shell lines of the README's "Installing as a service" block."""
    section = (REPO / "README.md").read_text(encoding="utf-8").split("## Installing as a service", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert block is not None
    return [line for line in block.group(1).splitlines() if line.strip()]


def _edit(config: Path, root: Path, tls_port: int) -> None:
    """What an installer edits: the broker, and this test's devices (a simulated scale; no radio, no camera)."""
    text = config.read_text().replace("/var/lib/store-edge", f"{root}/var/lib/store-edge").replace("/etc/store-edge", f"{root}/etc/store-edge")
    doc: dict[str, Any] = tomllib.loads(text)
    doc["broker"]["url"] = f"mqtts://localhost:{tls_port}"
    doc["http"]["listen"] = "127.0.0.1:0"
    doc["esl"]["enabled"] = False
    doc["screen"]["enabled"] = False
    scale = doc["scale"]["scales"][0]
    scale.update(port="simulated:mt-sics", protocol="mt-sics", printer="simulated")
    scale.pop("camera", None)
    config.write_text(tomli_w.dumps(doc))


def test_the_readme_install_steps_make_a_working_service(tmp_path: Path, hq_factory: Any) -> None:
    root = tmp_path / "root"
    etc = root / "etc" / "store-edge"
    (root / "etc").mkdir(parents=True)
    ca = trustme.CA()
    certs = tmp_path / "hq"
    certs.mkdir()
    ca.cert_pem.write_to_path(str(certs / "ca.pem"))
    ca.private_key_pem.write_to_path(str(certs / "ca.key"))
    server = ca.issue_cert("localhost")
    server.cert_chain_pems[0].write_to_path(str(certs / "server.pem"))
    server.private_key_pem.write_to_path(str(certs / "server.key"))
    tls = TlsListener(free_port(), certs / "ca.pem", certs / "server.pem", certs / "server.key", require_certificate=True)
    broker = SecureMosquitto(tmp_path / "broker", tls=tls, passwords={STORE: PASSWORD, "hq": "pw-hq"}, store_acl=True).start()
    script = Path(sys.executable).parent / "store-edge"
    group = grp.getgrgid(os.getegid()).gr_name
    places = {
        "/opt/store-edge/.venv/bin/store-edge": shlex.quote(str(script)), "/etc/store-edge": str(etc),
        "runuser -u store-edge -- ": "", "-g store-edge": f"-g {group}", "chgrp store-edge": f"chgrp {group}",
        "<broker password>": PASSWORD, "<headquarters' CA certificate>": str(certs / "ca.pem"), "<store id>": STORE,
        "<the certificate headquarters signed from client.csr>": str(certs / "client.pem"),
    }
    shown: list[str] = []
    daemon: subprocess.Popen[bytes] | None = None
    try:
        for line in install_steps():
            if line.startswith(SKIPPED):
                continue
            if "<the certificate headquarters signed" in line:  # headquarters signs the request the store sent
                subprocess.run(["openssl", "x509", "-req", "-in", str(etc / "client.csr"), "-CA", str(certs / "ca.pem"),
                                "-CAkey", str(certs / "ca.key"), "-CAcreateserial", "-days", "2", "-out", str(certs / "client.pem")],
                               check=True, capture_output=True)
            for placeholder, value in places.items():
                line = line.replace(placeholder, value)
            assert "<" not in line.split("#")[0], f"a placeholder the test does not know: {line}"
            done = subprocess.run(["bash", "-c", line], cwd=REPO, capture_output=True, text=True, timeout=60)
            shown.append(f"$ {line}\n{done.stdout}{done.stderr}")
            assert done.returncode == 0, "\n".join(shown)
            if "store.example.toml" in line:  # "then edit it"
                _edit(etc / "store-edge.toml", root, tls.port)

        assert "still to do" in "\n".join(shown)  # init listed the password and certificates it cannot make
        token = etc / "http.token"
        assert token.stat().st_mode & 0o777 == 0o640 and len(token.read_text().strip()) >= 32
        for secret in ("http.token", "broker.password", "client.key"):
            assert (etc / secret).stat().st_mode & 0o007 == 0, secret
        assert "OK (store sh-pudong-0042" in shown[-1]  # the last step run is `check`

        log = tmp_path / "daemon.log"
        with log.open("wb") as out:
            daemon = subprocess.Popen([str(script), "run", "--config", str(etc / "store-edge.toml")], cwd="/",
                                      stdout=out, stderr=subprocess.STDOUT)
        hq = hq_factory(broker.port, STORE, username="hq", password="pw-hq")
        wait_online(hq, timeout=30)
        assert hq.request("ping", {})["ok"] is True
        port = re.search(r"event=web.listening host=\S+ port=(\d+)", log.read_text())
        assert port is not None
        status = subprocess.run([str(script), "status", "--url", f"http://127.0.0.1:{port.group(1)}", "--token-file", str(token)],
                                capture_output=True, text=True, timeout=30)
        assert status.returncode == 0 and "link: connected" in status.stdout, status.stderr
        deadline = time.monotonic() + 30
        while "scale.gallery.ready" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert "recognition.unavailable" not in log.read_text(), log.read_text()[-3000:]
        assert (root / "var" / "lib" / "store-edge" / "store-edge.db").is_file()
        daemon.terminate()
        assert daemon.wait(15) == 0
        daemon = None
    finally:
        if daemon is not None:
            daemon.kill()
            daemon.wait(10)
        broker.stop()
