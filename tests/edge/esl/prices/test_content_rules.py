"""The shelf labels' label content rules: what the layout would draw, checked by the catalogue through the job's hook."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from itertools import count
from pathlib import Path
from typing import Any

import pytest

from edge import catalog
from edge.catalog import Catalog
from edge.config import parse_config
from edge.esl.prices.content_rules import price_text_problem
from edge.jobs import schemas
from edge.scheduler import Scheduler
from edge.store import Store
from edge.sync.commands import CommandRegistry, Dispatcher


class Shop:
    """A catalogue with `[esl]` enabled (so its label check is in force), commands through the real dispatcher."""

    def __init__(self, path: Path, esl: bool, rules: str) -> None:
        """Blocking: build it off the loop."""
        sections: dict[str, Any] = {"esl": {"backend": "simulated"}} if esl else {}
        config = parse_config({"store": {"id": "s1", "timezone": "Asia/Shanghai"}, "prices": {"rules": rules}, **sections}, env={})
        self.store = Store(path, schemas={"catalog": catalog.STEPS, **schemas()})
        registry = CommandRegistry()
        Catalog(self.store, Scheduler(path), config).register(registry)
        self.dispatcher = Dispatcher(registry, self.store)
        self.ids = count()
        self.sizes: list[tuple[int, int]] = []

    async def ok(self, command: str, **args: Any) -> dict[str, Any]:
        """The result of a request that must succeed."""
        reply = await self.dispatcher.handle(command, json.dumps({"id": f"r{next(self.ids)}", **args}, ensure_ascii=False).encode())
        assert reply["ok"], reply
        return dict(reply["result"])

    async def labels(self, *sizes: tuple[int, int]) -> None:
        """Labels of these display sizes in the store's inventory."""
        known = len(self.sizes)
        self.sizes.extend(sizes)
        rows = [{"id": f"L{known + n}", "esl_group": 0, "esl_id": known + n, "width": w, "height": h, "display_type": 1, "state": "unbound"} for n, (w, h) in enumerate(sizes)]
        await self.store.write(lambda tx: tx.db["esl_labels"].insert_all(rows))


@pytest.fixture
async def opened(tmp_path: Path) -> AsyncIterator[Any]:
    """Open shops (esl on or off, a rule set) and close them at the end."""
    made: list[Shop] = []

    async def open_shop(esl: bool = True, rules: str = "cn") -> Shop:
        shop = await asyncio.to_thread(Shop, tmp_path / f"s{len(made)}.db", esl, rules)
        made.append(shop)
        return shop

    yield open_shop
    for shop in made:
        await shop.store.aclose()


def refused(reply: dict[str, Any]) -> list[tuple[int, str, str]]:
    """(index, field, rule) of each refused item."""
    return [(r["index"], r["field"], r["rule"]) for r in reply.get("refused", [])]


LONG_NAME = "精选" * 32  # 64 characters: more than two lines of a 2.13-inch label
CROWDED = {"name_en": "Extra Large Organic Shine Muscat Seedless Grapes Premium", "spec": "约500g/串", "origin": "云南"}


async def test_name_and_details_must_be_drawn_whole_and_english_never_crowds_out_spec_or_origin(opened: Any) -> None:
    shop = await opened()
    reply = await shop.ok("product.upsert", items=[
        {"sku": "N1", "name": LONG_NAME, "price": "1.00"},
        {"sku": "N2", "name": "阳光玫瑰葡萄", "price": "29.90", **CROWDED},
        {"sku": "N3", "name": "阳光玫瑰葡萄", "price": "29.90", **CROWDED, "name_en": "Shine Muscat"},
    ])
    assert (reply["accepted"], refused(reply)) == (1, [(0, "items[0].name", "name_shown"), (1, "items[1].spec", "spec_origin_shown")])
    assert "250x122 label" in reply["refused"][0]["message"]  # no label size known yet: the 2.13-inch strip and the 4.2-inch panel


async def test_the_unit_price_of_goods_sold_by_weight_must_fit_every_display_the_store_has(opened: Any) -> None:
    shop = await opened()
    await shop.labels((250, 122), (122, 250))  # a portrait label counts as its landscape size
    products = [{"sku": "W1", "name": "牛腱", "price": "58.00", "unit": "500g", "sale_mode": "weight"},
                {"sku": "P1", "name": "礼盒", "price": "58.00"}]
    await shop.ok("product.upsert", items=products)
    assert "refused" not in await shop.ok("price.update", items=[{"sku": "W1", "price": "8888.88"}, {"sku": "P1", "price": "8888.88"}])
    await shop.labels((200, 122))  # a narrower strip: ¥8888.88/500g · ¥17777.76/kg no longer fits its unit line
    reply = await shop.ok("price.update", items=[{"sku": "W1", "price": "8888.80"}, {"sku": "P1", "price": "8888.80"},
                                                 {"sku": "W1", "price": "9.90", "promo_price": "8888.00"}])
    assert (reply["applied"], refused(reply)) == (1, [(0, "items[0].price", "unit_price_shown"), (2, "items[2].promo_price", "unit_price_shown")])
    assert "does not fit a 200x122 label whole" in reply["refused"][0]["message"]


async def test_without_the_esl_job_or_with_rule_set_none_no_layout_is_checked(opened: Any) -> None:
    for shop in (await opened(esl=False), await opened(rules="none")):
        assert (await shop.ok("product.upsert", items=[{"sku": "N1", "name": LONG_NAME, "price": "1.00"}]))["accepted"] == 1


def test_a_price_prints_as_yuan_in_arabic_numerals_only() -> None:
    assert not price_text_problem("¥12.80") and not price_text_problem("¥0.50")
    assert all(price_text_problem(t) for t in ("12.80", "¥12.8", "¥١٢.٨٠", "¥12.80元", "￥12.80", "¥012.80"))
