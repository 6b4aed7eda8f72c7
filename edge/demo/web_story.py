"""Demo scene of the store status page: print its address and screenshot it when Chromium is present."""

from __future__ import annotations

from edge.demo.browser import browser, new_page
from edge.demo.story_base import DemoContext, Scene


async def scene_pages(ctx: DemoContext) -> None:
    """The store status page, served by the daemon itself."""
    if ctx.app.web is None:
        ctx.say("(web pages skipped: [http] is disabled)")
        return
    base = f"http://127.0.0.1:{ctx.app.web.port}"
    ctx.say(f"status page: {base}/")
    async with browser(ctx.say) as launched:
        if launched is None:
            return
        page = await new_page(launched, 1280, 800)
        token_file = ctx.app.config.http.token_file
        await page.goto(base + "/" + (f"?token={token_file.read_text().strip()}" if token_file else ""))
        await page.wait_for_selector("body[data-loaded='1']")
        await page.wait_for_selector("#live.ok")
        path = ctx.output / "status-page.png"
        await page.screenshot(path=str(path), full_page=True)
        ctx.say(f"screenshot of the status page: {path}")


SCENES: list[Scene] = [scene_pages]
