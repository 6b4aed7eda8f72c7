"""The status page shows the last shelf = catalogue proof: none yet, then its figures, failing labels and an alert, live."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestClient, TestServer

from edge import catalog
from edge.esl.prices.proof import Filter, PriceProof
from edge.esl.web.routes import status_part
from edge.jobs import schemas
from edge.store import Store
from edge.web import Sources, build_app
from tests.edge.web.conftest import SECTIONS, TOKEN, browser, fake_status  # noqa: F401 - browser is a fixture

TIMEOUT_MS = 10_000


@pytest.fixture
async def shop(tmp_path: Path) -> AsyncIterator[Store]:
    """A store with two products and two bound labels, one recorded as showing an image no product renders to."""
    store = await asyncio.to_thread(Store, tmp_path / "s.db", schemas={"catalog": catalog.STEPS, **schemas()})

    def fill(tx: Any) -> None:
        """Products and labels."""
        for sku, name in (("A1", "红富士苹果"), ("B2", "伊利纯牛奶")):
            tx.conn.execute("INSERT INTO products (sku, name, price, unit, sale_mode, revision, updated_at)"
                            " VALUES (?, ?, '12.80', 'piece', 'piece', 1, 'x')", (sku, name))
        for n, sku in enumerate(("A1", "B2")):
            tx.conn.execute("INSERT INTO esl_labels (id, esl_group, esl_id, width, height, display_type, sku, shown_digest,"
                            " state, created_at) VALUES (?, 1, ?, 296, 128, 1, ?, ?, 'ok', 'x')", (f"L{n}", n, sku, "0" * 64))

    await store.write(fill)
    yield store
    await store.aclose()


async def test_the_status_page_shows_the_last_proof_live(shop: Store, browser: Any, tmp_path: Path) -> None:  # noqa: F811
    app = build_app(Sources(fake_status, shop, [status_part(shop, SECTIONS)]), TOKEN, live_interval_s=0.1)
    async with TestClient(TestServer(app)) as client:
        empty = await client.get("/api/price-proof", headers={"Authorization": f"Bearer {TOKEN}"})
        assert empty.status == 200 and (await empty.json()) == {"proof": None}
        page = await browser.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        await page.goto(str(client.make_url(f"/?token={TOKEN}")))
        await page.wait_for_selector("body[data-loaded='1']")
        assert "No price proof yet" in await page.inner_text("#proof")

        pool = ThreadPoolExecutor(max_workers=1)
        checker = PriceProof(shop, pool, "https://x/p/", None, ZoneInfo("Asia/Shanghai"), tmp_path / "reports", "s", 6, 30)
        outcome = await checker.prove(Filter())
        data = await shop.write(lambda tx: checker.record(tx, outcome, "daily"))
        pool.shutdown()
        assert data is not None and data["failing"] == 2

        await page.wait_for_selector(f"#proof .counts[data-proof='{data['proof']}'] .pill.bad")
        text = await page.inner_text("#proof")
        assert "checked 2" in text and "stale 2" in text and f"price-proof-{data['day']}.html" in text
        assert await page.locator("#proof tr[data-label='L0']").count() == 1
        assert "failed the last price proof" in await page.inner_text("body")
        await page.close()
