"""The web server's connection bounds with real sockets on loopback: a flood of half-open connections, the header timeout, the cap, accept errors."""

from __future__ import annotations

import asyncio
import os
import re
import resource
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from edge.demo.broker import free_port
from edge.web import Sources, WebServer, build_app
from edge.web.connections import AcceptErrors
from tests.edge.web.conftest import fake_status
from tests.helpers.daemon import REPO, write_config

SYSTEMD_DEFAULT_NOFILE = 1024  # the soft limit a unit gets without LimitNOFILE
FLOOD = 1100


def _limit_descriptors() -> None:
    """In the daemon's child process: systemd's default descriptor limit."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (SYSTEMD_DEFAULT_NOFILE, hard))


def _get(port: int, path: str, token: str | None = None, timeout: float = 1.0) -> bytes:
    """One HTTP/1.1 request on a fresh socket; the whole reply (the server closes: Connection: close)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        auth = f"Authorization: Bearer {token}\r\n" if token else ""
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Connection: close\r\n\r\n".encode())
        reply = b""
        while chunk := s.recv(65536):
            reply += chunk
    return reply


def test_a_flood_of_half_open_connections_does_not_make_the_port_unreachable(tmp_path: Path) -> None:
    token = tmp_path / "http.token"
    token.write_text("flood-test-token\n")
    token.chmod(0o600)
    config = write_config(tmp_path / "d.toml", "s1", tmp_path / "data", f"mqtt://127.0.0.1:{free_port()}",
                          http={"listen": "127.0.0.1:0", "token_file": str(token)}, log={"level": "info"})
    log_path = tmp_path / "d.log"
    with log_path.open("ab") as log:
        daemon = subprocess.Popen([sys.executable, "-m", "edge.cli", "run", "--config", str(config)], cwd=REPO,
                                  stdout=log, stderr=subprocess.STDOUT, preexec_fn=_limit_descriptors)
    socks: list[socket.socket] = []
    try:
        deadline = time.monotonic() + 30
        while not (found := re.search(r"event=web.listening host=\S+ port=(\d+)", log_path.read_text())):
            assert time.monotonic() < deadline and daemon.poll() is None, log_path.read_text()[-2000:]
            time.sleep(0.1)
        port = int(found.group(1))
        assert b"200 OK" in _get(port, "/api/status", "flood-test-token")
        before = len(log_path.read_text().splitlines())

        for _ in range(FLOOD):  # each sends half a request line and then nothing
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(b"GET /api/sta")
            socks.append(s)
        time.sleep(0.5)
        started = time.monotonic()
        reply = _get(port, "/api/status", "flood-test-token", timeout=1.0)
        took = time.monotonic() - started
        assert reply.startswith(b"HTTP/1.1 200 OK") and took < 1.0, (reply[:200], took)

        time.sleep(1.0)
        new_lines = log_path.read_text().splitlines()[before:]
        assert len(new_lines) <= 5, "\n".join(new_lines[:20])
        assert not [line for line in new_lines if "Traceback" in line]
        open_fds = len(os.listdir(f"/proc/{daemon.pid}/fd"))
        assert open_fds < SYSTEMD_DEFAULT_NOFILE - 100, open_fds
    finally:
        for s in socks:
            s.close()
        daemon.terminate()
        daemon.wait(15)


def _open_raw(port: int, data: bytes) -> socket.socket:
    """A connection that has sent `data` (maybe half a request)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(data)
    return s


def _closed_by_server(s: socket.socket, within: float) -> bool:
    """Whether the server closes the connection within `within` seconds (what it sends first is ignored)."""
    s.settimeout(within)
    try:
        while s.recv(65536):
            pass
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True
    return True


async def test_a_connection_that_never_finishes_its_request_head_is_closed(store: Any) -> None:
    server = WebServer(build_app(Sources(fake_status, store), None), "127.0.0.1", 0, header_timeout_s=0.5)
    await server.start()
    assert server.port is not None
    try:
        slow = await asyncio.to_thread(_open_raw, server.port, b"GET /api/status HTTP/1.1\r\nHost: x\r\n")
        silent = await asyncio.to_thread(_open_raw, server.port, b"")
        assert await asyncio.to_thread(_closed_by_server, slow, 3.0)
        assert await asyncio.to_thread(_closed_by_server, silent, 3.0)
    finally:
        await server.stop()


async def test_at_the_cap_the_oldest_idle_connection_makes_room_and_busy_ones_are_kept(store: Any) -> None:
    cap = 16
    server = WebServer(build_app(Sources(fake_status, store), None, live_interval_s=0.1), "127.0.0.1", 0, max_connections=cap)
    await server.start()
    port = server.port
    assert port is not None and server.cap == cap
    try:
        idle = [await asyncio.to_thread(_open_raw, port, b"GET /api/sta") for _ in range(cap)]
        await asyncio.sleep(0.2)
        reply = await asyncio.to_thread(_get, port, "/api/status")
        assert reply.startswith(b"HTTP/1.1 200 OK"), reply[:200]
        assert await asyncio.to_thread(_closed_by_server, idle[0], 2.0)  # the oldest made room
        assert not await asyncio.to_thread(_closed_by_server, idle[-1], 0.3)  # the newest still waits
        for s in idle:
            s.close()
        await asyncio.sleep(0.3)  # the server notices the closes (else they still count, and the newest would make room for the oldest)

        streams = [await asyncio.to_thread(_open_raw, port, b"GET /api/events HTTP/1.1\r\nHost: x\r\n\r\n") for _ in range(cap)]
        for s in streams:
            s.settimeout(5)
            assert b"200 OK" in await asyncio.to_thread(s.recv, 4096)  # each is a live feed: busy
        refused = await asyncio.to_thread(_get, port, "/api/status")
        assert refused.startswith(b"HTTP/1.1 503"), refused[:200]
        for s in streams:
            s.close()
    finally:
        await server.stop()


async def test_accept_failures_are_logged_once_a_minute_without_a_traceback() -> None:
    loop = asyncio.get_running_loop()
    others: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: others.append(context))
    errors = AcceptErrors(loop)
    errors.install()
    try:
        with capture_logs() as logs:
            for _ in range(1000):
                loop.call_exception_handler({"message": "socket.accept() out of system resource",
                                             "exception": OSError(24, "Too many open files"), "socket": None})
            loop.call_exception_handler({"message": "something else"})
    finally:
        errors.remove()
    assert [entry["event"] for entry in logs] == ["web.accept.failed"]
    assert "Too many open files" in logs[0]["error"] and "exc_info" not in logs[0]
    assert [c["message"] for c in others] == ["something else"]  # anything else goes to the handler before
    loop.set_exception_handler(None)


@pytest.mark.parametrize("header", [b"Authorization: Bearer \xff\xfe", b"Cookie: edge_token=\xe9t\xe9"])
async def test_a_token_in_bytes_that_are_not_utf8_is_refused_not_a_500(client: Any, header: bytes) -> None:
    assert client.port is not None
    request = b"GET /api/status HTTP/1.1\r\nHost: x\r\n" + header + b"\r\nConnection: close\r\n\r\n"
    s = await asyncio.to_thread(_open_raw, client.port, request)
    s.settimeout(5)
    reply = await asyncio.to_thread(s.recv, 4096)
    s.close()
    assert reply.startswith(b"HTTP/1.1 401"), reply[:200]
