"""The status page in a real browser as store IT reads it: daemon unreachable and back, local times, alerts first, words not keys."""

from __future__ import annotations

import asyncio
import copy
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import pytest

from edge.esl.web.routes import status_part
from edge.store import Store
from edge.web import Sources, WebServer, build_app
from tests.edge.web.conftest import SECTIONS, raise_alert, seed
from tests.helpers.loopwatch import WATCH

TIMEOUT_MS = 20_000
RAW_ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d")

STATUS: dict[str, Any] = {
    "store_id": "sh-042", "timezone": "Asia/Shanghai", "version": "test", "now": "2026-01-01T00:00:05Z", "uptime_s": 5.0,
    "schema_versions": {},
    "link": {"state": "connected", "outbox_depth": 0, "last_sync": "2026-01-01T00:00:00Z", "connected_since": "2026-01-01T00:00:00Z",
             "last_error": None, "events_sent": 10, "commands_handled": 2},
    "components": {
        "sync": {"healthy": True, "restarts": 0, "last_crash": None,
                 "detail": {"state": "connected", "outbox_depth": 0, "last_error": "connect failed: refused"}},
        "esl": {"healthy": True, "restarts": 0, "last_crash": None, "detail": {
            "backend": "simulated",
            "push": {"queued": 0, "in_flight": 0, "done": 306, "skipped": 0, "failed": 0, "retrying": 0, "batch_started": None, "last_error": None},
            "pick": {"lit_labels": 0, "led_commands": 48},
            "coldchain": {"polls": 27, "last_poll": "2026-01-01T00:00:03Z", "sections": {"dairy": "normal"}, "no_reading": {}},
            "positioning": None}},
        "scale": {"healthy": True, "restarts": 0, "last_crash": None, "detail": {
            "model_version": "produce-v1", "gallery_products": 43, "weighings": 6, "problem": None,
            "scales": {"scale-1": {"healthy": True, "phase": "empty", "last_error": None}}}},
    },
    "scheduled": [],
}


@pytest.fixture(autouse=True)
async def started_threads(store: Store) -> None:
    """The loop's default executor and the store's reader with their threads already started.

    aiohttp serves static files through the first, the API reads through the second; starting a
    worker thread waits on the loop thread (`Thread.start` → `Event.wait`), once per thread, which a
    loaded machine stretches past the watch's limit.
    """
    loop = asyncio.get_running_loop()
    with WATCH.allowed():
        await asyncio.gather(*(loop.run_in_executor(None, time.sleep, 0.02) for _ in range(32)))
        await store.read(lambda db: None)


def status_of(**link: Any) -> Callable[[], Awaitable[dict[str, Any]]]:
    """A daemon status like App.status() (a Shanghai store), with link fields replaced."""

    async def status() -> dict[str, Any]:
        s = copy.deepcopy(STATUS)
        s["link"].update(link)
        return s

    return status


@asynccontextmanager
async def serving(sources: Sources, port: int = 0) -> AsyncIterator[WebServer]:
    """The web server on loopback (no token) with a fast live feed, stopped afterwards."""
    server = WebServer(build_app(sources, None, live_interval_s=0.1), "127.0.0.1", port)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def opened(browser: Any, port: int, width: int = 1280, height: int = 800) -> Any:
    """A page on the status page, once its first paint and live feed are in."""
    page = await browser.new_page(viewport={"width": width, "height": height})
    page.set_default_timeout(TIMEOUT_MS)
    await page.goto(f"http://127.0.0.1:{port}/")
    await page.wait_for_selector("body[data-loaded='1']")
    await page.wait_for_selector("#live.ok")
    return page


def esl_sources(store: Store, status: Callable[[], Awaitable[dict[str, Any]]], sections: Sequence[dict[str, Any]] = SECTIONS) -> Sources:
    """Sources with the esl job's part."""
    return Sources(status, store, [status_part(store, sections)])


async def test_a_stopped_daemon_is_shown_unreachable_and_the_page_recovers_by_itself(store: Store, browser: Any) -> None:
    await seed(store)
    sources = esl_sources(store, status_of())
    first = WebServer(build_app(sources, None, live_interval_s=0.1), "127.0.0.1", 0)
    await first.start()
    port = first.port
    assert port is not None
    page = await opened(browser, port)
    try:
        assert await page.locator(".pill.ok").count() > 0 and await page.is_hidden("#unreachable")
        await first.stop()
        await page.wait_for_selector("#unreachable", state="visible")
        assert "unreachable" in (await page.inner_text("#unreachable")).lower()
        assert await page.locator(".pill.ok").count() == 0  # nothing stays green while nothing is known
        assert "connected" not in await page.inner_text("#link")
        assert await page.evaluate("document.body.classList.contains('unreachable')")

        async with serving(sources, port):
            await page.wait_for_selector("#unreachable", state="hidden")
            await page.wait_for_selector("#live.ok")
            await page.wait_for_selector("#link.ok")
            await store.write(lambda tx: raise_alert(tx, "meat"))
            await page.wait_for_selector(".fridge.alert[data-section='meat']")  # live again
    finally:
        await page.close()


async def test_a_hung_daemon_whose_api_does_not_answer_is_shown_unreachable(store: Store, browser: Any) -> None:
    await seed(store)
    answering = asyncio.Event()
    answering.set()
    plain = status_of()

    async def status() -> dict[str, Any]:
        """The status, or no answer at all while the daemon 'hangs'."""
        await answering.wait()
        return await plain()

    async with serving(esl_sources(store, status)) as server:
        page = await opened(browser, server.port or 0)
        try:
            answering.clear()  # the feed goes silent (its next summary waits) and /api/status stops answering
            await page.wait_for_selector("#unreachable", state="visible")
            assert "no answer within" in await page.inner_text("#unreachable")
            assert await page.locator(".pill.ok").count() == 0
            answering.set()
            await page.wait_for_selector("#unreachable", state="hidden")
            await page.wait_for_selector("#link.ok")
        finally:
            answering.set()
            await page.close()


async def test_times_are_shown_in_the_stores_local_time_with_its_zone(store: Store, browser: Any) -> None:
    await seed(store)
    async with serving(esl_sources(store, status_of())) as server:
        page = await opened(browser, server.port or 0)
        try:
            outbox = await page.inner_text("#outbox")
            assert "2026-01-01 08:00:00 UTC+8" in outbox  # last sync 00:00 UTC is 08:00 in Shanghai
            assert "UTC+8" in await page.inner_text("#clock") and "Asia/Shanghai" in (await page.get_attribute("#clock", "title") or "")
            assert "last poll 2026-01-01 08:00:03 UTC+8" in await page.inner_text("#components")
            body = await page.inner_text("body")
            assert RAW_ISO.findall(body) == []  # no raw UTC string anywhere
        finally:
            await page.close()


async def test_open_alerts_come_first_within_the_first_screen(store: Store, browser: Any) -> None:
    await seed(store, labels=400)
    await store.write(lambda tx: raise_alert(tx, "dairy"))
    async with serving(esl_sources(store, status_of(state="disconnected", outbox_depth=1234, last_error="connection refused"))) as server:
        page = await opened(browser, server.port or 0)
        try:
            fridge = page.locator("#alerts li.bad", has_text="乳品")
            await fridge.wait_for()
            box = await fridge.bounding_box()
            assert box is not None and box["y"] + box["height"] <= 800  # above the fold at 1280×800
            components = await page.locator("#components").bounding_box()
            assert components is not None and box["y"] < components["y"]  # above every card
            text = await page.inner_text("#alerts")
            assert "9.5 °C" in text and "above 6.0 °C" in text
            assert "HQ link disconnected: connection refused" in text and "1234 events wait" in text
            assert "100 shelf labels failed to update" in text
            first = await page.locator("#alerts li").first.inner_text()
            assert "HQ link" in first or "Fridge" in first  # the bad ones before the warnings
        finally:
            await page.close()


async def test_health_figures_read_as_words_not_keys(store: Store, browser: Any) -> None:
    await seed(store)
    async with serving(esl_sources(store, status_of())) as server:
        page = await opened(browser, server.port or 0)
        try:
            text = await page.inner_text("#components")
            for words in ("Label updates", "queued 0 · in flight 0 · done 306", "Pick lights", "labels lit 0 · LED commands sent 48",
                          "temperature rounds 27", "sections: dairy normal", "model version produce-v1 · gallery products 43"):
                assert words in text
            assert "_" not in text  # no raw key such as lit_labels or batch_started
            assert "—" not in text and "null" not in text and "None" not in text  # empty figures are left out
            assert await page.locator("tr[data-device='scale-1'] .pill.ok").inner_text() == "empty"
            assert "last error connect failed: refused" in text
            assert await page.locator("#components .problem").count() == 0  # a working job's last error is history, not red
        finally:
            await page.close()


async def test_empty_tables_and_sections_say_so_in_words(store: Store, browser: Any) -> None:
    async with serving(esl_sources(store, status_of())) as server:  # a store with no labels, readings, orders or alerts
        page = await opened(browser, server.port or 0)
        try:
            assert "No failed labels" in await page.inner_text("#labels tbody")
            assert "No pick orders in progress" in await page.inner_text("#picks tbody")
            assert "No open alerts" in await page.inner_text("#alerts")
            assert await page.locator(".fridge").count() == 2
            assert "no readings in 24 h" in await page.inner_text(".fridge[data-section='dairy']")
        finally:
            await page.close()
    async with serving(esl_sources(store, status_of(), sections=[])) as server:
        page = await opened(browser, server.port or 0)
        try:
            assert "No fridge sections configured" in await page.inner_text("#fridges")
        finally:
            await page.close()


async def test_a_section_with_one_bucket_shows_its_single_value(store: Store, browser: Any) -> None:
    now = time.time()
    await store.write(lambda tx: tx.db["esl_readings"].insert({"section": "dairy", "label": "L1", "ts": now - 60, "temp_c": 3.2}))
    async with serving(esl_sources(store, status_of())) as server:
        page = await opened(browser, server.port or 0)
        try:
            dairy = page.locator(".fridge[data-section='dairy']")
            assert await dairy.locator("svg circle").count() == 1
            assert "15-minute average so far: 3.2 °C" in await dairy.inner_text()
        finally:
            await page.close()
