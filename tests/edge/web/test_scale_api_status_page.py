"""The status page shows a scale's device state as its screen does: out of service, and which device stops it."""

from __future__ import annotations

import copy
from typing import Any

from edge.store import Store
from tests.edge.web.test_status_page_states import (  # noqa: F401 - fixture
    STATUS,
    esl_sources,
    opened,
    serving,
    started_threads,
)


async def test_a_scale_out_of_service_is_shown_with_the_device_that_stops_it(store: Store, browser: Any) -> None:
    async def status() -> dict[str, Any]:
        s = copy.deepcopy(STATUS)
        s["components"]["scale"]["healthy"] = False
        s["components"]["scale"]["detail"]["scales"]["scale-1"] = {
            "healthy": False, "phase": "offered", "problem": "label not printed: write failed", "out_of_service": True,
            "code": "printer_unavailable", "devices": {"scale": "ok", "camera": "ok", "printer": "unavailable"},
        }
        return s

    async with serving(esl_sources(store, status)) as server:
        page = await opened(browser, server.port or 0)
        try:
            row = page.locator("tr[data-device='scale-1']")
            assert "out of service (printer unavailable)" in await row.inner_text()
            assert await row.locator(".pill.bad").count() == 1
            assert "scale-1: out of service (printer unavailable)" in await page.inner_text("#alerts")
        finally:
            await page.close()
