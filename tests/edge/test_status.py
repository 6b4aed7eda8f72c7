"""`store-edge status` asks the running daemon: devices, alerts, failed labels, link; any failure to ask is one line and status 1."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from edge.store import Store
from tests.conftest import wait_online
from tests.edge.web.conftest import TOKEN, client, raise_alert, seed, store  # noqa: F401 - the web tests' fixtures

REPO = Path(__file__).resolve().parents[2]


def status(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edge.cli", "status", *args], cwd=REPO, capture_output=True, text=True, timeout=30)


def test_status_shows_link_outbox_and_components(tmp_path, broker, daemon_factory, hq_factory):
    token = tmp_path / "token"
    token.write_text("s3cret\n")
    token.chmod(0o600)
    daemon = daemon_factory(broker.url, http={"listen": "127.0.0.1:0", "token_file": str(token)}).start()
    hq = hq_factory(broker.port)
    wait_online(hq)
    url = f"http://127.0.0.1:{daemon.web_port()}"

    refused = status("--url", url)
    assert refused.returncode == 1 and "401" in refused.stderr

    shown = status("--url", url, "--token-file", str(token))
    assert shown.returncode == 0, shown.stderr
    assert "store s1" in shown.stdout and "link: connected" in shown.stdout and "outbox depth 0" in shown.stdout
    assert re.search(r"sync\s+ok", shown.stdout)

    raw = status("--url", url, "--token-file", str(token), "--json")
    assert '"schema_versions"' in raw.stdout
    daemon.terminate()


def test_status_without_a_daemon_says_so():
    result = status("--url", "http://127.0.0.1:9")
    assert result.returncode == 1 and "no daemon answering" in result.stderr


async def test_status_lists_devices_open_fridge_alerts_and_failed_labels(client: Any, store: Store, tmp_path: Path) -> None:  # noqa: F811
    await seed(store, labels=40)  # 10 of them failed
    await store.write(lambda tx: raise_alert(tx, "dairy"))
    token = tmp_path / "token"
    token.write_text(TOKEN)
    token.chmod(0o600)
    shown = await asyncio.to_thread(status, "--url", f"http://127.0.0.1:{client.port}", "--token-file", str(token))
    assert shown.returncode == 0, shown.stderr
    out = shown.stdout
    assert re.search(r"scale\s+UNHEALTHY\s+restarts 1", out)
    assert re.search(r"\n\s+sc1\s+empty\s+FAULT", out)  # the job's device, found by shape
    assert "fridge alerts: 1 open" in out and re.search(r"dairy 乳品: above 6.0 °C, peak 9.5 °C.* since 20\d\d-\d\d-\d\d \d\d:\d\d:\d\d", out)
    assert "labels: 10 failed, 20 ok, 10 pending: L00003, L00007, L00011, L00015, L00019 and 5 more" in out
    assert "last error" not in out


class _Canned(BaseHTTPRequestHandler):
    """Answers every GET with the server's canned (status, content type, body)."""

    def do_GET(self) -> None:
        code, kind, body = self.server.answers.get(self.path.split("?")[0], (404, "text/plain", b"no"))  # type: ignore[attr-defined]
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        """Quiet."""


@pytest.fixture
def canned() -> Iterator[ThreadingHTTPServer]:
    """A plain HTTP server on loopback answering what the test puts in `.answers`."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Canned)
    server.answers = {}  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _status_json(state: str, last_error: str | None) -> bytes:
    """A daemon status of the documented shape."""
    return json.dumps({
        "store_id": "s1", "timezone": "Asia/Shanghai", "version": "t", "uptime_s": 4000, "schema_versions": {},
        "link": {"state": state, "outbox_depth": 7, "last_sync": "2026-01-01T00:00:00Z", "connected_since": None,
                 "last_error": last_error, "events_sent": 1, "commands_handled": 0},
        "components": {"sync": {"healthy": state == "connected", "restarts": 0, "last_crash": None, "detail": {}},
                       "screen": {"healthy": True, "restarts": 2, "last_crash": "RuntimeError('old')",
                                  "detail": {"screens": {"entrance": {"state": "up", "fps": 9.8}}}}},
        "scheduled": [],
    }).encode()


def test_last_error_shows_only_while_current_and_times_are_the_stores(canned: ThreadingHTTPServer) -> None:
    url = f"http://127.0.0.1:{canned.server_port}"
    canned.answers["/api/status"] = (200, "application/json", _status_json("connected", "connect failed: refused"))  # type: ignore[attr-defined]
    shown = status("--url", url)
    assert shown.returncode == 0, shown.stderr
    assert "last error" not in shown.stdout and "last crash" not in shown.stdout  # both are history now
    assert "last sync 2026-01-01 08:00:00 CST" in shown.stdout and "up 1 h 6 min" in shown.stdout
    assert re.search(r"entrance\s+up\n", shown.stdout)
    assert "fridge alerts" not in shown.stdout and "labels:" not in shown.stdout  # no esl job: its routes answer 404
    canned.answers["/api/status"] = (200, "application/json", _status_json("reconnecting", "connect failed: refused"))  # type: ignore[attr-defined]
    shown = status("--url", url)
    assert "link: reconnecting" in shown.stdout and "last error: connect failed: refused" in shown.stdout


@pytest.mark.parametrize(("answer", "expected"), [
    ((200, "text/html", b"<html>router login</html>"), "did not answer JSON"),
    ((200, "application/json", b'{"hello": "world"}'), "did not answer a store-edge status"),
    ((500, "text/plain", b"boom"), "answered 500 to /api/status: boom"),
    ((401, "application/json", b'{"error": "missing or wrong token"}'), "refused the token (401)"),
])
def test_a_daemon_that_answers_wrongly_is_one_line(canned: ThreadingHTTPServer, answer: tuple[int, str, bytes], expected: str) -> None:
    canned.answers["/api/status"] = answer  # type: ignore[attr-defined]
    result = status("--url", f"http://127.0.0.1:{canned.server_port}")
    assert result.returncode == 1 and expected in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr and result.stdout == ""


@pytest.mark.parametrize(("args", "expected"), [
    (["--url", "notaurl"], "--url 'notaurl' is not an http:// address"),
    (["--url", "ftp://host"], "is not an http:// address"),
    (["--url", "http://127.0.0.1:99999"], "is not an http:// address"),
    (["--url", "http://127.0.0.1:9"], "no daemon answering at http://127.0.0.1:9"),
    (["--url", "http://127.0.0.1:9", "--token-file", "/nonexistent/token"], "cannot read the token file /nonexistent/token"),
])
def test_a_bad_address_is_one_line(args: list[str], expected: str) -> None:
    result = status(*args)
    assert result.returncode == 1 and expected in result.stderr, result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
