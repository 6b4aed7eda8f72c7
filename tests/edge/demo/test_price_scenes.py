"""The demo's price scenes (issue 15 item 6) on a small simulated store: a lawful 原价, unlawful promotions refused with the
rest applied, a stale label caught by the proof, re-pushed and proven clean; each line checked by the scene itself."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from edge.app import App
from edge.config import parse_config
from edge.demo.hq import Hq
from edge.demo.story import DemoCheckFailed
from edge.demo.story_base import DemoContext
from edge.esl.demo import lawful_promotions, price_push, stale_label_proof
from tests.edge.esl.jobkit import FAST_RADIO

PRODUCTS = 40  # the demo catalogue's first 40 products: enough for the scenes' picks (from the 11th on)


@asynccontextmanager
async def demo_store(port: int, folder: Path, prices: dict[str, Any]) -> AsyncIterator[DemoContext]:
    """A daemon in this process with the demo store on a simulated fleet, its labels shown, as a scene's context."""
    config = parse_config({
        "store": {"id": "s1", "timezone": "Asia/Shanghai"}, "data": {"dir": str(folder / "data")},
        "broker": {"url": f"mqtt://127.0.0.1:{port}"}, "http": {"enabled": False}, "log": {"level": "warning"}, "prices": prices,
        "esl": {"simulated": {"labels": PRODUCTS, "seed": 3, **FAST_RADIO}, "connections": 4, "operation_timeout_s": 0.5,
                "demo_store": {"enabled": True, "products": PRODUCTS}},
    }, env={})
    app = await App.create(config)
    daemon = asyncio.create_task(app.run())
    hq = await asyncio.to_thread(Hq, port, "s1")
    try:
        await asyncio.to_thread(hq.wait, lambda _: [s for s in hq.statuses() if s["state"] == "online"], 20)
        async with asyncio.timeout(120):
            while not app.job("esl").healthy:  # type: ignore[union-attr]
                await asyncio.sleep(0.05)
            ctx = DemoContext(app, hq, None, folder / "out")
            await price_push(ctx)  # the demo's markdown before its price scenes
            yield ctx
    finally:
        app.request_stop()
        await asyncio.wait_for(daemon, 15)
        hq.close()


async def test_the_price_scenes_prove_what_they_say(broker, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    async with demo_store(broker.port, tmp_path, {"min_history_hours": 0}) as ctx:  # as config/demo.toml
        async with asyncio.timeout(120):
            await lawful_promotions(ctx)
            await stale_label_proof(ctx)
    said = capsys.readouterr().out
    assert "the store applied 1 and refused 2" in said
    assert "(a) DEMO00013: ¥6.70 instead of ¥8.38; HQ sent no 原价, the store computed it from its price history: ¥7.45" in said
    assert "refused, base_above_history: items[1].promo_base: 18.68 is above 16.81" in said
    assert "refused, no_reduction: items[2].promo_price: 36.08 is not below the original price 36.08" in said
    assert f"{PRODUCTS} labels checked, {PRODUCTS - 1} show the catalogue's price" in said and "(DEMO00014) is stale" in said
    assert f"price.audit again: {PRODUCTS}/{PRODUCTS} labels show the catalogue's price" in said
    written = sorted(p.name for p in (tmp_path / "out" / "esl").iterdir())
    assert written[2] == "promotion-DEMO00013.png" and len(written) == 3
    assert written[0].startswith("price-proof-") and written[0].removesuffix(".csv") == written[1].removesuffix(".html")


async def test_the_promotion_scene_fails_where_no_original_price_can_be_proven(broker, tmp_path: Path) -> None:
    async with demo_store(broker.port, tmp_path, {}) as ctx:  # the default 24 h: minutes of history prove no 原价
        with pytest.raises(DemoCheckFailed, match="not judged as the rules say"):
            await lawful_promotions(ctx)
