"""The status page in a real browser: the token is enforced, the page loads and updates live when a fridge alert is raised."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from edge.store import Store
from edge.esl.web.routes import status_part
from edge.web import Sources, WebServer, build_app
from tests.edge.web.conftest import SECTIONS, TOKEN, fake_status, raise_alert, seed

TIMEOUT_MS = 10_000


async def test_status_page_enforces_the_token_and_updates_live(client: TestClient, store: Store, browser: Any) -> None:
    await seed(store)
    base = str(client.make_url("/")).rstrip("/")
    page = await browser.new_page(viewport={"width": 1280, "height": 800})
    page.set_default_timeout(TIMEOUT_MS)

    denied = await page.goto(base + "/")
    assert denied is not None and denied.status == 401
    api = await page.goto(base + "/api/labels")
    assert api is not None and api.status == 401

    await page.goto(f"{base}/?token={TOKEN}")
    assert "token" not in page.url  # kept in a cookie, not in the address bar
    await page.wait_for_selector("body[data-loaded='1']")
    await page.wait_for_selector("#live.ok")
    assert await page.inner_text("#store") == "s1"
    assert "failed 3" in await page.inner_text("#labels .counts")
    assert await page.locator("tr[data-component='scale'] .pill.bad").count() == 1
    assert await page.locator("tr[data-device='sc1'] .pill.bad").count() == 1
    assert "queued 2 · done 5" in await page.inner_text("#components")
    assert await page.locator(".fridge").count() == 2
    assert await page.locator(".fridge.alert").count() == 0
    assert await page.locator(".fridge[data-section='dairy'] svg polyline").count() == 1
    assert "0/2" not in await page.inner_text("#picks") and "1/2" in await page.inner_text("#picks")

    await store.write(lambda tx: raise_alert(tx, "dairy"))
    await page.wait_for_selector(".fridge.alert[data-section='dairy']")
    assert await page.locator(".fridge.alert").count() == 1

    await page.reload()  # the cookie still carries the token
    await page.wait_for_selector(".fridge.alert[data-section='dairy']")
    await page.close()


async def test_live_feed_reconnects_after_the_server_restarts(store: Store, browser: Any) -> None:
    await seed(store)
    sources = Sources(fake_status, store, [status_part(store, SECTIONS)])
    first = WebServer(build_app(sources, None, live_interval_s=0.1), "127.0.0.1", 0)
    await first.start()
    port = first.port
    page = await browser.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    await page.goto(f"http://127.0.0.1:{port}/")
    await page.wait_for_selector("#live.ok")
    await first.stop()
    await page.wait_for_selector("#live.off")

    second = WebServer(build_app(sources, None, live_interval_s=0.1), "127.0.0.1", port)
    await second.start()
    try:
        await page.wait_for_selector("#live.ok")  # EventSource came back by itself
        await store.write(lambda tx: raise_alert(tx, "meat"))
        await page.wait_for_selector(".fridge.alert[data-section='meat']")
    finally:
        await page.close()
        await second.stop()


async def test_without_the_esl_job_the_page_shows_the_daemon_and_no_label_panels(store: Store, browser: Any) -> None:
    await seed(store)  # the tables exist (every job's migrations run), but no esl job hands its part to the server
    server = WebServer(build_app(Sources(fake_status, store), None, live_interval_s=0.1), "127.0.0.1", 0)
    await server.start()
    page = await browser.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    try:
        await page.goto(f"http://127.0.0.1:{server.port}/")
        await page.wait_for_selector("body[data-loaded='1']")
        await page.wait_for_selector("body[data-updates]")  # the live feed arrives and is applied
        assert await page.inner_text("#store") == "s1"
        assert await page.locator("tr[data-device='sc1']").count() == 1
        assert await page.locator("#labels, #picks, #map, .fridge").count() == 0
        assert (await page.request.get(f"http://127.0.0.1:{server.port}/api/labels")).status == 404
    finally:
        await page.close()
        await server.stop()
