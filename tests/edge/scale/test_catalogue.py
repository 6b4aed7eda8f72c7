"""The scale catalogue and its search: which products the scales sell, in which unit, found field by field."""

from __future__ import annotations

import asyncio
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from edge.jobs import schemas
from edge.scale import suspicion
from edge.scale.config import ScaleSection
from edge.scale.products import ProductView
from edge.scale.search import EXACT, INSIDE, PREFIX, WORD, Keys, match
from edge.store import Store

ROWS = [
    {"sku": "P-BANANA", "name": "香蕉", "name_en": "Banana", "price": "6.98", "unit": "kg", "sale_mode": "weight", "plu": "10007"},
    {"sku": "P-JUICE", "name": "Bravo 苹果汁 1L", "name_en": "Bravo Apple Juice", "price": "16.90", "unit": "piece", "sale_mode": "piece", "plu": "10029"},
    {"sku": "P-LOOSE-EGG", "name": "散装鸡蛋", "name_en": "Loose Eggs", "price": "1.20", "unit": "piece", "sale_mode": "piece", "plu": None},
    {"sku": "DEMO00003", "name": "香蕉", "name_en": "Banana", "price": "3.30", "unit": "500g", "sale_mode": "weight", "plu": "00003"},
    {"sku": "DEMO00009", "name": "土豆", "name_en": "Potato", "price": "2.20", "unit": "500g", "sale_mode": "weight", "plu": "00009"},
    {"sku": "DEMO00030", "name": "蓝月亮洗衣液", "name_en": "Laundry Detergent", "price": "45.00", "unit": "piece", "sale_mode": "piece", "plu": None},
    {"sku": "X-ENROLLED", "name": "荔枝", "name_en": "Lychee", "price": "14.90", "unit": "500g", "sale_mode": "weight", "plu": "20001"},
    {"sku": "X-LISTED", "name": "鲜玉米", "name_en": "Sweet Corn", "price": "3.00", "unit": "piece", "sale_mode": "piece", "plu": "20002"},
]


@pytest.fixture
async def store(tmp_path: Path) -> Any:
    """A store with the catalogue above and one enrolled example of X-ENROLLED."""
    s = await asyncio.to_thread(Store, tmp_path / "edge.db", schemas=schemas())  # every job's migrations: off the loop

    def fill(tx: Any) -> None:
        tx.db["products"].insert_all({"tare_g": 0, **row, "revision": n + 1} for n, row in enumerate(ROWS))
        tx.db["scale_gallery"].insert({"sku": "X-ENROLLED", "model_version": "m", "source": "enroll", "embedding": b"\0" * 4, "created_at": "x"})

    await s.write(fill)
    yield s
    await s.aclose()


def view(**section: Any) -> ProductView:
    """The view for the produce file's two SKUs and a section."""
    return ProductView(ScaleSection(**section), {"P-BANANA": "fruit", "P-JUICE": "packaged"}, frozenset({"P-BANANA", "P-JUICE", "P-LOOSE-EGG"}))


async def test_only_products_sold_at_the_scale_with_a_plu(store: Store) -> None:
    products = view(products=["X-LIST*"])
    await products.refresh(store)
    assert {s for s in products if products.sold(s)} == {"P-BANANA", "P-JUICE", "X-ENROLLED", "X-LISTED"}
    assert not products.sold("P-LOOSE-EGG")  # by piece without a scale PLU
    assert not products.sold("DEMO00003") and not products.sold("DEMO00009")  # shelf products, PLU or not
    assert [h.sku for h in products.search("香蕉")] == ["P-BANANA"]  # one 香蕉
    mapped = view(scales=[{"id": "a", "port": "simulated:mt-sics", "plu_map": {"P-LOOSE-EGG": 30001}}])
    await mapped.refresh(store)
    assert mapped.sold("P-LOOSE-EGG") and mapped.plu("P-LOOSE-EGG") == 30001


async def test_the_display_unit_follows_the_shelf_labels_unless_configured(store: Store) -> None:
    auto = view()
    await auto.refresh(store)
    assert auto.display_unit == "500g"  # three by-weight products priced per 500 g (their shelf labels print that first), one per kg
    banana = auto.product("P-BANANA", date(2026, 1, 1))
    assert (banana.unit_price, banana.basis) == (Decimal("3.49"), "500g")
    juice = auto.product("P-JUICE", date(2026, 1, 1))
    assert (juice.unit_price, juice.basis) == (Decimal("16.90"), "piece")
    per_kg = view(display_unit="kg")
    await per_kg.refresh(store)
    assert per_kg.display_unit == "kg" and per_kg.product("P-BANANA", date(2026, 1, 1)).unit_price == Decimal("6.98")


def test_fields_match_alone_and_rank_exact_prefix_word_inside() -> None:
    banana = Keys.of("香蕉", "Banana", "10007")
    assert (banana.pinyin, banana.initials, banana.plu) == ("xiangjiao", "xj", "10007")
    assert match("xj", banana) == (EXACT, "initials")
    assert match("xiang", banana) == (PREFIX, "pinyin")
    assert match("nana", banana) == (INSIDE, "english")
    assert match("10007", banana) == (EXACT, "plu")
    assert match("jiaoxj", banana) is None and match("a10007", banana) is None and match("banana10007", banana) is None
    juice = Keys.of("Bravo 苹果汁 1L", "Bravo Apple Juice", "10029")
    assert (juice.pinyin, juice.initials) == ("bravo pingguozhi 1l", "b pgz 1")
    assert match("pgz", juice) == (WORD, "initials") and match("apple", juice) == (WORD, "english")
    assert match("苹果汁", juice) == (WORD, "name") and match("bravo apple", juice) == (PREFIX, "english")
    assert Keys.of("土豆", None, "00009").plu == "9"


async def test_search_ranks_then_keeps_pinyin_order_and_browses_a_category(store: Store) -> None:
    products = view(products=["X-*"])
    await products.refresh(store)
    assert [h.sku for h in products.search("x")] == ["P-BANANA", "X-LISTED"]  # 香蕉 (xj), 鲜玉米 (xym): prefix of initials
    assert next((h.sku, h.field) for h in products.search("l")) == ("X-ENROLLED", "initials")  # 荔枝 (lz) before 'l' inside words
    assert [h.sku for h in products.search("", "fruit")] == ["P-BANANA"]
    assert products.search("", None) == [] and products.search("banana", "packaged") == []
    assert products.category("X-LISTED") == "other"


def test_suspicion_of_a_choice() -> None:
    def judge(offered: bool, chosen: str = "cheap", amount: str | None = "5.00", top1_amount: str | None = "10.00", top1: str | None = "top") -> str:
        return suspicion.judge(offered=offered, top1=top1, chosen=chosen, chosen_amount=None if amount is None else Decimal(amount),
                               top1_amount=None if top1_amount is None else Decimal(top1_amount), margin=0.2)

    assert judge(True, "top", "10.00") == "none"
    assert judge(True, amount="8.00") == "none" and judge(True, amount="7.99") == "cheaper_than_top1"  # 20 % margin
    assert judge(False, amount="12.00") == "not_offered" and judge(False) == "both"
    assert judge(False, top1=None) == "none"  # nothing was recognised to compare with
    assert judge(True, top1_amount=None) == "none"
