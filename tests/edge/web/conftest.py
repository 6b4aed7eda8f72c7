"""Fixtures for the web tests: a real store with every job's tables, the web app served on a free port, Chromium if present."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from edge.jobs import schemas
from edge.store import Store
from edge.esl.web.routes import status_part
from edge.web import Sources, build_app
from tests.helpers.loopwatch import WATCH

TOKEN = "s3cret-token"
CHROMIUM = Path("/usr/bin/chromium")
BROWSER_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
SECTIONS = [{"id": "dairy", "name": "乳品", "min_c": 0.0, "max_c": 6.0}, {"id": "meat", "name": "肉", "min_c": -2.0, "max_c": 4.0}]


async def fake_status() -> dict[str, Any]:
    """A daemon status of the shape App.status() returns."""
    return {
        "store_id": "s1", "version": "test", "now": "2026-01-01T00:00:00Z", "uptime_s": 1.0, "schema_versions": {},
        "link": {"state": "connected", "outbox_depth": 3, "last_sync": None, "connected_since": None, "last_error": None,
                 "events_sent": 0, "commands_handled": 0},
        "components": {
            "esl": {"healthy": True, "restarts": 0, "last_crash": None, "detail": {"push": {"queued": 2, "done": 5}}},
            "scale": {"healthy": False, "restarts": 1, "last_crash": None, "detail": {"scales": {"sc1": {"healthy": False, "phase": "empty"}}}},
        },
        "scheduled": [],
    }


@pytest.fixture
def store(tmp_path: Path) -> Any:
    """A store with every job's tables."""
    s = Store(tmp_path / "edge.db", schemas=schemas())
    yield s
    s.close()


async def seed(store: Store, labels: int = 12, readings: bool = True) -> None:
    """Labels in every state, two sections with readings over the last hours, one active pick order."""

    def fill(tx: Any) -> None:
        """All rows in one transaction."""
        states = ["ok", "ok", "pending", "failed"]
        tx.db["esl_labels"].insert_all(
            {"id": f"L{i:05d}", "esl_group": 1, "esl_id": i, "state": states[i % 4], "sku": f"SKU{i}", "last_error": "timeout" if i % 4 == 3 else None}
            for i in range(labels)
        )
        if readings:
            now = time.time()
            tx.db["esl_readings"].insert_all(
                {"section": s, "label": "L00000", "ts": now - 3600 * h, "temp_c": 3.0 + h / 10} for s in ("dairy", "meat") for h in range(6)
            )
        tx.db["esl_pick_orders"].insert({"order_id": "o1", "color": "blue", "status": "active", "started_at": "x", "started_ts": time.time(), "expires_at": time.time() + 600})
        tx.db["esl_pick_items"].insert_all([{"order_id": "o1", "sku": "a", "qty": 1, "status": "done"}, {"order_id": "o1", "sku": "b", "qty": 2, "status": "open"}])

    await asyncio.wait_for(store.write(fill), 10)


def raise_alert(tx: Any, section: str) -> None:
    """An open alert, as the cold-chain monitor writes it."""
    tx.db["esl_alerts"].insert({"section": section, "raised_at": time.time(), "peak_c": 9.5, "reason": "above 6.0 °C"})


@pytest.fixture
async def client(store: Store) -> AsyncIterator[TestClient]:
    """The status side of the web app behind TOKEN, with a fast live feed."""
    app = build_app(Sources(fake_status, store, [status_part(store, SECTIONS)]), TOKEN, live_interval_s=0.1)
    async with TestClient(TestServer(app)) as c:
        yield c


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    """Debian's Chromium, headless, driven by Playwright; skipped where either is missing."""
    playwright_api = pytest.importorskip("playwright.async_api")
    if not CHROMIUM.exists():
        pytest.skip("needs /usr/bin/chromium (apt-get install chromium)")
    with WATCH.allowed():  # Playwright starts its driver and Chromium with blocking calls on our loop
        driver = await playwright_api.async_playwright().start()
        b = await asyncio.wait_for(driver.chromium.launch(executable_path=str(CHROMIUM), args=BROWSER_ARGS), 30)
    try:
        yield b
    finally:
        with WATCH.allowed():
            await asyncio.wait_for(b.close(), 10)
            await driver.stop()
