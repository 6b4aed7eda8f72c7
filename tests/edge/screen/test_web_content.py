"""The local player's now-playing input over real HTTP: `POST /api/screens/<id>/content` in a running daemon (docs/http-api.md)."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from edge.app import App
from edge.config import parse_config
from edge.screen import content
from edge.web.params import MAX_BODY_BYTES, MAX_DEPTH
from tests.edge.screen.test_job import screen_job, shop_folder, until

ROOT = Path(__file__).resolve().parents[3]
TOKEN = "s3cret-player-token"
TIMEOUT = aiohttp.ClientTimeout(total=20)


def rfc3339(ts: float) -> str:
    """A Unix time as RFC 3339 UTC."""
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


@pytest.fixture
async def daemon(broker: Any, tmp_path: Path) -> AsyncIterator[tuple[App, str]]:
    """A daemon with one screen (folder camera) and its web server behind a token; its base URL."""
    folder = await asyncio.to_thread(shop_folder, tmp_path / "cam")
    token_file = tmp_path / "http.token"
    await asyncio.to_thread(token_file.write_text, TOKEN)
    app = await App.create(parse_config({
        "store": {"id": "s1"}, "data": {"dir": str(tmp_path / "data")}, "broker": {"url": broker.url},
        "http": {"listen": "127.0.0.1:0", "token_file": str(token_file)}, "log": {"level": "warning"},
        "screen": {"screens": [{"id": "entrance", "source": f"folder:{folder}"}]},
    }, env={}))
    task = asyncio.create_task(app.run())
    try:
        await until(lambda: app.web is not None and app.web.port, 20, "web server not listening")
        assert app.web is not None
        yield app, f"http://127.0.0.1:{app.web.port}"
    finally:
        app.request_stop()
        await asyncio.wait_for(task, 15)


async def post(base: str, body: Any = None, *, raw: bytes | None = None, path: str = "/api/screens/entrance/content",
               headers: dict[str, str] | None = None, token: str | None = TOKEN) -> tuple[int, Any]:
    """POST a JSON body (or raw bytes) and return the status and the JSON reply."""
    sent = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {}), **(headers or {})}
    data = raw if raw is not None else json.dumps(body).encode()
    async with aiohttp.ClientSession(timeout=TIMEOUT) as http, http.post(f"{base}{path}", data=data, headers=sent) as r:
        return r.status, await r.json()


async def test_now_playing_is_stored_and_read_by_the_meter(daemon: tuple[App, str]) -> None:
    app, base = daemon
    worker = screen_job(app).workers[0]
    now = time.time()
    status, reply = await post(base, {"spans": [{"content": "tea-week", "start": rfc3339(now - 5)}]})
    assert (status, reply) == (200, {"screen": "entrance", "spans": 1, "playing": "tea-week"})
    assert worker.content.at(now) == "tea-week" and worker.content.at(now - 10) is None
    stored = await app.store.read(lambda db: content.rows(db.conn, "entrance"))
    assert [r[2] for r in stored] == ["tea-week"]
    status, reply = await post(base, {"spans": [{"content": "flash-sale", "start": rfc3339(now + 1)}]})  # the next change
    assert status == 200 and reply["spans"] == 2 and worker.content.at(now + 2) == "flash-sale"
    assert worker.content.at(now) == "tea-week"


DEEP = b'{"spans": ' + b"[" * (MAX_DEPTH + 2) + b"]" * (MAX_DEPTH + 2) + b"}"
SPAN = {"content": "a", "start": "2026-11-25T10:00:00Z"}


@pytest.mark.parametrize(
    ("kwargs", "status", "message"),
    [
        ({"raw": b"{not json"}, 400, "body: not valid JSON"),
        ({"raw": b'{"spans": "\\ud800"}'}, 400, "lone surrogate"),
        ({"raw": DEEP}, 400, f"nested deeper than {MAX_DEPTH}"),
        ({"raw": b"{" + b" " * (MAX_BODY_BYTES + 10) + b"}"}, 413, "larger than"),
        ({"raw": b'{"spans": []}', "headers": {"Content-Type": "text/plain"}}, 400, "Content-Type: application/json"),
        ({"body": [SPAN]}, 400, "body: an object with spans"),
        ({"body": {}}, 400, "spans: Field required"),
        ({"body": {"spans": []}}, 400, "spans: List should have at least 1 item"),
        ({"body": {"screen": "back-door", "spans": [SPAN]}}, 400, "screen: unknown field (the path names the screen)"),
        ({"body": {"spans": [{**SPAN, "colour": "red"}]}}, 400, "spans[0].colour: unknown field"),
        ({"body": {"spans": [{**SPAN, "start": "yesterday"}]}}, 400, "spans[0].start"),
        ({"body": {"spans": [{**SPAN, "start": 1764064800}]}}, 400, "spans[0].start"),
        ({"body": {"spans": [{**SPAN, "content": "a b"}]}}, 400, "spans[0].content"),
        ({"body": {"spans": [{**SPAN, "end": "2026-11-25T09:00:00Z"}]}}, 400, "'end' must be later"),
        ({"body": {"spans": [{**SPAN, "end": "2026-11-25T11:00:00Z"}, {"content": "b", "start": "2026-11-25T10:30:00Z"}]}},
         400, "spans[1].start: overlaps spans[0]"),
        ({"body": {"spans": [{"content": f"c{n}", "start": f"2026-11-25T10:{n // 60:02d}:{n % 60:02d}Z"} for n in range(501)]}},
         400, "spans: List should have at most 500 items"),
        ({"body": {"spans": [SPAN]}, "path": "/api/screens/back-door/content"}, 404, "screen: no screen 'back-door' is configured"),
        ({"body": {"spans": [SPAN]}, "path": "/api/screens/entrance/content?fast=1"}, 400, "unknown parameter(s): fast"),
        ({"body": {"spans": [SPAN]}, "token": None}, 401, "missing or wrong token"),
        ({"body": {"spans": [SPAN]}, "token": "guess"}, 401, "missing or wrong token"),
        ({"body": {"spans": [SPAN]}, "headers": {"Sec-Fetch-Site": "cross-site"}}, 403, "cross-site request refused"),
    ],
)
async def test_bad_requests_get_a_clear_error_change_nothing_and_the_screen_goes_on(
    daemon: tuple[App, str], kwargs: dict[str, Any], status: int, message: str
) -> None:
    app, base = daemon
    got, reply = await post(base, **kwargs)
    assert got == status and message in reply["error"], reply
    assert reply["code"] in ("invalid_argument", "not_found", "unauthorized", "forbidden")
    assert await app.store.read(lambda db: content.rows(db.conn, "entrance")) == []
    assert screen_job(app).workers[0].content.at(time.time()) is None
    got, _ = await post(base, {"spans": [{"content": "ok", "start": rfc3339(time.time())}]})  # and the next good one works
    assert got == 200
    await until(lambda: screen_job(app).health()["screens"]["entrance"]["state"] == "up", 20, "screen not up")


async def test_the_documented_example_works_as_written(daemon: tuple[App, str]) -> None:
    doc = (ROOT / "docs/http-api.md").read_text(encoding="utf-8")
    section = doc[doc.index("### `POST /api/screens/<id>/content`"):].split("\n### ", 1)[0].split("\n## ", 1)[0]
    (command,) = re.findall(r"```\n(curl .*?)```", section, re.S)
    path = re.search(r"localhost:8787(\S+)", command)
    body = re.search(r"-d '(.*?)'", command, re.S)
    documented = json.loads(re.findall(r"```json\n(.*?)```", section, re.S)[0])
    assert path and body
    _, base = daemon
    assert await post(base, json.loads(body.group(1)), path=path.group(1)) == (200, documented)
