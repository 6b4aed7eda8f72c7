"""The scale screen's one write route on a real daemon: same-origin JSON only, and 400 (never 500) for every malformed body."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from structlog.testing import capture_logs

from edge.web import params
from tests.edge.scale.conftest import running
from tests.edge.web.test_scale_screen import web_scale_config

JSON = {"Content-Type": "application/json"}
DEEP = b"[" * 30_000 + b"]" * 30_000  # under the size limit, deeper than any parser's recursion

MALFORMED: list[tuple[str, bytes, dict[str, str]]] = [
    ("deep nesting", DEEP, JSON),
    ("nesting beyond the depth limit", b'{"sku": ' + b"[" * 20 + b"]" * 20 + b"}", JSON),
    ("a 5,000-digit integer", b'{"rank": ' + b"9" * 5000 + b"}", JSON),
    ("a 30-digit integer", b'{"rank": ' + b"9" * 30 + b"}", JSON),
    ("a number out of range", b'{"rank": 1e999}', JSON),
    ("NaN", b'{"rank": NaN}', JSON),
    ("a lone surrogate", b'{"sku": "\\ud800"}', JSON),
    ("a lone surrogate in a key", b'{"\\udfff": 1}', JSON),
    ("bytes that are not UTF-8", b'{"sku": "\xff\xfe"}', JSON),
    ("rank as text", b'{"rank": "1"}', JSON),
    ("rank as a fraction", b'{"rank": 1.5}', JSON),
    ("rank as a boolean", b'{"rank": true}', JSON),
    ("rank null", b'{"rank": null}', JSON),
    ("sku as a number", b'{"sku": 5}', JSON),
    ("sku too long", b'{"sku": "' + b"x" * 65 + b'"}', JSON),
    ("sku and rank", b'{"sku": "P-BANANA", "rank": 1}', JSON),
    ("pieces as text", b'{"sku": "P-BANANA", "pieces": "3"}', JSON),
    ("pieces as a boolean", b'{"sku": "P-BANANA", "pieces": true}', JSON),
    ("an array", b"[1]", JSON),
    ("a bare string", b'"P-BANANA"', JSON),
    ("not JSON at all", b"not json", JSON),
    ("empty", b"", JSON),
    ("text/plain", b'{"rank": 1}', {"Content-Type": "text/plain"}),
    ("no content type", b'{"rank": 1}', {}),
    ("a charset that is not UTF-8", b'{"rank": 1}', {"Content-Type": "application/json; charset=latin-1"}),
]


@pytest.fixture
async def scale_base(tmp_path: Path, broker: Any) -> Any:
    """A daemon with one simulated scale (no recognition needed) and its web server on loopback."""
    async with running(web_scale_config(tmp_path / "data", broker.url, None), gallery=False) as app:
        assert app.web is not None
        yield f"http://127.0.0.1:{app.web.port}"


async def test_every_malformed_body_is_a_400_naming_the_mistake(scale_base: str) -> None:
    timeout = aiohttp.ClientTimeout(total=10)
    answers: dict[str, tuple[int, Any]] = {}
    with capture_logs() as logs:
        async with aiohttp.ClientSession(timeout=timeout, skip_auto_headers=("Content-Type",)) as http:
            for name, body, headers in MALFORMED:
                async with http.post(f"{scale_base}/api/scale/sc1/confirm", data=body, headers=headers) as r:
                    answers[name] = (r.status, await r.json(content_type=None))
            async with http.get(f"{scale_base}/api/scale/sc1") as r:
                assert r.status == 200  # still serving
    wrong = {name: a for name, a in answers.items() if a[0] != 400 or a[1].get("code") != "invalid_argument" or not a[1].get("error")}
    assert wrong == {}
    assert "lone surrogate" in answers["a lone surrogate"][1]["error"]
    assert "Content-Type" in answers["text/plain"][1]["error"]
    assert "digits" in answers["a 5,000-digit integer"][1]["error"]
    assert not [entry for entry in logs if entry.get("log_level") in ("error", "critical")]


async def test_a_cross_site_post_is_refused_and_a_same_origin_one_is_served(scale_base: str) -> None:
    url = f"{scale_base}/api/scale/sc1/confirm"
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
        # what a form or fetch() on another site sends: a "simple" text/plain request needing no preflight
        forged = {"Content-Type": "text/plain", "Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"}
        async with http.post(url, data=b'{"rank": 1}', headers=forged) as r:
            assert r.status == 403 and (await r.json())["code"] == "forbidden"
        async with http.post(url, json={"rank": 1}, headers={"Origin": "http://evil.example"}) as r:  # an older browser: Origin only
            assert r.status == 403
        async with http.post(url, json={"rank": 1}, headers={"Sec-Fetch-Site": "same-site"}) as r:  # another port of the same host
            assert r.status == 403
        same = {"Origin": scale_base, "Sec-Fetch-Site": "same-origin"}
        async with http.post(url, json={"sku": "P-BANANA"}, headers=same) as r:  # the screen itself: refused only for the platter
            assert r.status == 409 and (await r.json())["code"] == "not_ready"
        async with http.post(url, json={"sku": "P-BANANA"}) as r:  # a script (no browser headers)
            assert r.status == 409


async def test_size_and_time_limits_on_a_body(scale_base: str, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"{scale_base}/api/scale/sc1/confirm"
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
        big = b'{"sku": "' + b"x" * (params.MAX_BODY_BYTES + 10) + b'"}'
        async with http.post(url, data=big, headers=JSON) as r:
            assert r.status == 413 and (await r.json())["code"] == "invalid_argument"
    monkeypatch.setattr(params, "BODY_TIMEOUT_S", 0.5)
    host, port = scale_base.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(b"POST /api/scale/sc1/confirm HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
    await writer.drain()
    reply = await asyncio.wait_for(reader.read(4096), 5)  # the rest of the body never comes
    writer.close()
    assert reply.startswith(b"HTTP/1.1 408"), reply[:200]
