"""Headless Chromium for the demo's screenshots (Debian's browser, driven by Playwright; skipped where either is missing)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
# Without the background-networking flags Chromium keeps dialling Google's hosts, which a store's gateway may not reach.
BROWSER_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
TIMEOUT_MS = 10_000


@asynccontextmanager
async def browser(say: Any) -> AsyncIterator[Any | None]:
    """A launched browser, or None (after saying why) when Playwright or Chromium is not installed."""
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        say("(screenshots skipped: Playwright is not installed)")
        yield None
        return
    if not CHROMIUM.exists():
        say("(screenshots skipped: no /usr/bin/chromium)")
        yield None
        return
    async with async_playwright() as p:
        launched = await p.chromium.launch(executable_path=str(CHROMIUM), args=BROWSER_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


async def new_page(launched: Any, width: int, height: int) -> Any:
    """A page of the given viewport with the demo's timeout."""
    page = await launched.new_page(viewport={"width": width, "height": height})
    page.set_default_timeout(TIMEOUT_MS)
    return page
