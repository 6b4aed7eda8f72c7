"""The status API over HTTP: token, query validation, labels, fridges, picks and the live feed (real store, no browser)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from edge.store import Store
from edge.esl.web.routes import status_part
from edge.web import Sources, build_app
from tests.edge.web.conftest import TOKEN, fake_status, raise_alert, seed

AUTH = {"Authorization": f"Bearer {TOKEN}"}


async def test_every_page_and_api_needs_the_token(client: TestClient) -> None:
    for path in ("/", "/api/status", "/api/labels", "/api/fridges", "/api/picks", "/api/events"):
        r = await client.get(path)
        assert r.status == 401, path
        r = await client.get(path, headers={"Authorization": "Bearer wrong"})
        assert r.status == 401, path
    assert (await client.get("/api/status", headers=AUTH)).status == 200
    assert (await client.get("/api/status?token=" + TOKEN)).status == 200
    assert (await client.get("/assets/status.js")).status == 200  # assets carry no data


async def test_page_opened_with_token_keeps_it_in_a_cookie(client: TestClient) -> None:
    r = await client.get(f"/?token={TOKEN}", allow_redirects=False)
    assert r.status == 302 and "token" not in r.headers["Location"]
    assert r.cookies["edge_token"].value == TOKEN and r.cookies["edge_token"]["httponly"]
    page = await client.get("/")  # the client's cookie jar now carries it
    assert page.status == 200 and "status.js" in await page.text()
    assert (await client.get("/api/labels")).status == 200


async def test_status_api_is_read_only(client: TestClient) -> None:
    for path in ("/api/status", "/api/labels"):
        assert (await client.post(path, headers=AUTH)).status == 405


async def test_malformed_queries_get_400_with_a_reason(client: TestClient) -> None:
    cases = {
        "/api/labels?state=broken": "state",
        "/api/labels?limit=abc": "limit",
        "/api/labels?limit=-1": "limit",
        "/api/labels?colour=red": "colour",
        "/api/fridges?hours=0": "hours",
        "/api/fridges?points=x": "points",
        "/api/picks?status=nope": "status",
    }
    for path, field in cases.items():
        r = await client.get(path, headers=AUTH)
        assert r.status == 400, path
        assert field in (await r.json())["error"], path


async def test_labels_by_state(client: TestClient, store: Store) -> None:
    await seed(store, labels=12)
    body = await (await client.get("/api/labels", headers=AUTH)).json()
    assert body["counts"] == {"ok": 6, "pending": 3, "failed": 3} and body["total"] == 12
    assert [label["state"] for label in body["labels"][:3]] == ["failed"] * 3  # failures first
    failed = await (await client.get("/api/labels?state=failed&limit=2", headers=AUTH)).json()
    assert len(failed["labels"]) == 2 and all(label["state"] == "failed" and label["last_error"] == "timeout" for label in failed["labels"])


async def test_fridges_with_readings_and_alert_state(client: TestClient, store: Store) -> None:
    await seed(store)
    await store.write(lambda tx: raise_alert(tx, "meat"))
    body = await (await client.get("/api/fridges?hours=24&points=48", headers=AUTH)).json()
    sections = {s["id"]: s for s in body["sections"]}
    assert set(sections) == {"dairy", "meat"}
    assert sections["dairy"]["alert"] is None and sections["meat"]["alert"]["peak_c"] == 9.5
    readings = sections["dairy"]["readings"]
    assert len(readings) == 6 and [r[0] for r in readings] == sorted(r[0] for r in readings)
    assert sections["dairy"]["last_c"] == 3.0 and sections["dairy"]["max_c"] == 6.0
    short = await (await client.get("/api/fridges?hours=2", headers=AUTH)).json()
    assert all(len(s["readings"]) <= 3 for s in short["sections"])


async def test_picks_in_progress(client: TestClient, store: Store) -> None:
    await seed(store)
    body = await (await client.get("/api/picks?status=active", headers=AUTH)).json()
    assert body["orders"] == [{"order_id": "o1", "color": "blue", "status": "active", "started_at": "x", "ended_at": None, "items": 2, "done": 1}]
    assert (await (await client.get("/api/picks?status=done", headers=AUTH)).json())["orders"] == []


async def _next_summary(stream: Any) -> dict[str, Any]:
    """The next `summary` event's data from an SSE stream."""
    event = None
    while True:
        line = (await asyncio.wait_for(stream.readline(), 5)).decode().rstrip("\n")
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: ") and event == "summary":
            return json.loads(line[6:])


async def test_live_feed_sends_a_new_summary_when_an_alert_is_raised(client: TestClient, store: Store) -> None:
    await seed(store)
    r = await client.get("/api/events", headers=AUTH)
    assert r.status == 200 and r.headers["Content-Type"].startswith("text/event-stream")
    first = await _next_summary(r.content)
    assert first["fridges"]["alerts"] == {} and first["labels"]["failed"] == 3 and first["picks"][0]["order_id"] == "o1"
    await store.write(lambda tx: raise_alert(tx, "dairy"))
    second = await _next_summary(r.content)
    assert set(second["fridges"]["alerts"]) == {"dairy"}
    r.close()


async def test_scale_routes_are_absent_without_the_scale_job(client: TestClient) -> None:
    assert (await client.get("/scale/sc1")).status == 404
    assert (await client.post("/api/scale/sc1/confirm", json={"rank": 1})).status == 404


async def test_store_map_is_served_behind_the_token_when_configured(store: Store) -> None:
    await seed(store)

    def draw(db: Any) -> str:
        """A picture that depends on what the read connection sees."""
        return f'<svg xmlns="http://www.w3.org/2000/svg"><text>{db["esl_labels"].count} labels</text></svg>'

    async with TestClient(TestServer(build_app(Sources(fake_status, store, [status_part(store, [], store_map=draw)]), TOKEN))) as c:
        assert (await c.get("/api/map.svg")).status == 401
        r = await c.get("/api/map.svg", headers=AUTH)
        assert r.status == 200 and r.content_type == "image/svg+xml" and "12 labels" in await r.text()
    async with TestClient(TestServer(build_app(Sources(fake_status, store, [status_part(store, [])]), TOKEN))) as c:
        assert (await c.get("/api/map.svg", headers=AUTH)).status == 404
