"""Label content rules (core): each rule refuses its item with the rule and the field, the rest of the batch is applied."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

from tests.conftest import wait_online
from tests.edge.prices.conftest import APPLE, MILK, Clock, Shop, open_shop


def refused(reply: dict[str, Any]) -> list[tuple[int, str, str]]:
    """(index, field, rule) of each refused item."""
    return [(r["index"], r["field"], r["rule"]) for r in reply.get("refused", [])]


async def test_the_name_must_be_chinese_in_standard_characters_and_english_only_adds(shop: Shop) -> None:
    reply = await shop.ok("product.upsert", items=[
        {"sku": "E1", "name": "Fuji Apple", "price": "5.00"},  # English instead of Chinese
        {"sku": "E2", "name": "富士苹果", "name_en": "Fuji Apple", "price": "5.00"},  # English in addition: fine
        {"sku": "T1", "name": "紅富士蘋果", "price": "5.00"},  # traditional forms
        {"sku": "T2", "name": "香梨", "origin": "新疆", "spec": "約250g", "price": "5.00"},  # traditional 約 in 规格
        {"sku": "O1", "name": "车厘子", "origin": "Chile", "price": "60.00"},  # 产地 in English
        {"sku": "B1", "name": "   ", "price": "1.00"},  # blank 品名
        {"sku": "C1", "name": "可口可乐 Coca-Cola", "spec": "330ml", "price": "3.00"},  # Chinese with a brand in Latin: fine
    ])
    assert reply["accepted"] == 2
    assert refused(reply) == [(0, "items[0].name", "chinese_text"), (2, "items[2].name", "simplified_chinese"),
                              (3, "items[3].spec", "simplified_chinese"), (4, "items[4].origin", "chinese_text"),
                              (5, "items[5].name", "name_required")]
    assert "'紅' (U+7D05) is a traditional form" in reply["refused"][1]["message"]
    assert all(r["code"] == "invalid_argument" and r["message"].startswith(r["field"] + ": ") for r in reply["refused"])
    assert (await shop.product("E2"))["name_en"] == "Fuji Apple"
    assert {r["sku"] for r in await shop.rows()} == {"E2", "C1"}  # a refused item writes no history either


async def test_a_product_sold_by_weight_without_a_unit_is_refused_alone(shop: Shop) -> None:
    reply = await shop.ok("product.upsert", items=[{"sku": "W1", "name": "散装大米", "price": "3.00", "sale_mode": "weight"}, MILK])
    assert (reply["accepted"], refused(reply)) == (1, [(0, "items[0].unit", "pricing_unit")])
    assert "计价单位" in reply["refused"][0]["message"]
    contradiction = await shop.send("product.upsert", items=[{**APPLE, "unit": "piece"}])  # a stated wrong unit: malformed, as before
    assert contradiction["error"]["code"] == "invalid_argument" and "sale_mode" in contradiction["error"]["message"]


async def test_one_kind_at_several_prices_needs_a_distinguishing_spec_origin_or_grade(shop: Shop) -> None:
    await shop.ok("product.upsert", items=[{"sku": "A1", "name": "富士苹果", "price": "5.00"}])
    reply = await shop.ok("product.upsert", items=[
        {"sku": "A2", "name": "富士苹果", "price": "6.00"},  # the same name at another price
        {"sku": "A3", "name": "富士苹果", "price": "5.00"},  # the same price: one kind, two SKUs
        {"sku": "A4", "name": "富士苹果", "spec": "特级", "price": "8.00"},  # told apart by its grade
        {"sku": "A5", "name": "富士苹果", "origin": "山东", "price": "7.00"},  # and by its origin
        {"sku": "N1", "name": "鲜橙", "price": "4.00"}, {"sku": "N2", "name": " 鲜橙 ", "price": "4.50"},  # both new: both refused
    ])
    assert refused(reply) == [(0, "items[0].name", "distinct_names"), (1, "items[1].name", "distinct_names"),
                              (4, "items[4].name", "distinct_names"), (5, "items[5].name", "distinct_names")]
    assert reply["refused"][0]["message"].startswith("items[0].name: products A1 and 1 more have the same name, 规格 and 产地 at 5.00")
    same = await shop.ok("product.upsert", items=[{"sku": "A3", "name": "富士苹果", "price": "5.00"}])  # one kind, two SKUs
    assert "refused" not in same
    update = await shop.ok("price.update", items=[{"sku": "A3", "price": "5.50"}, {"sku": "A4", "price": "9.00"}])
    assert (update["applied"], refused(update)) == (1, [(0, "items[0].price", "distinct_names")])
    together = await shop.ok("price.update", items=[{"sku": "A1", "price": "5.80"}, {"sku": "A3", "price": "5.80"}])
    assert (together["applied"], refused(together)) == (2, [])  # judged on what the whole batch leaves
    assert [(await shop.product(s))["price"] for s in ("A1", "A3", "A4")] == ["5.80", "5.80", "9.00"]


async def test_a_scheduled_change_is_judged_when_scheduled_and_again_when_it_falls_due(shop: Shop, clock: Clock) -> None:
    await shop.ok("product.upsert", items=[{"sku": "A1", "name": "富士苹果", "spec": "大果", "price": "5.00"},
                                           {"sku": "A2", "name": "富士苹果", "price": "5.00"}])
    at = (clock.now + timedelta(hours=1)).isoformat()
    later = await shop.ok("price.update", items=[{"sku": "A1", "price": "7.00", "effective_at": at}])
    assert later["scheduled"] and "refused" not in later  # 大果 tells A1 apart
    await shop.ok("product.upsert", items=[{"sku": "A1", "name": "富士苹果", "price": "5.00"}])  # no longer
    early = await shop.ok("price.update", items=[{"sku": "A2", "price": "6.00", "effective_at": at}])
    assert (early["scheduled"], refused(early)) == ([], [(0, "items[0].price", "distinct_names")])
    clock.advance(hours=1)
    await shop.catalog._apply_change(later["scheduled"][0]["change_id"])
    assert [(e["field"], e["rule"]) for e in await shop.events("price.refused")] == [("price", "distinct_names")]
    assert (await shop.product("A1"))["price"] == "5.00"


async def test_rule_set_none_checks_nothing_but_a_missing_unit(tmp_path: Path, clock: Clock) -> None:
    shop = await asyncio.to_thread(open_shop, tmp_path / "s.db", clock, rules="none")
    try:
        reply = await shop.ok("product.upsert", items=[
            {"sku": "E1", "name": "Apple", "price": "5.00"}, {"sku": "E2", "name": "Apple", "price": "6.00"},
            {"sku": "T1", "name": "蘋果", "price": "5.00"}, {"sku": "W1", "name": "大米", "price": "3.00", "sale_mode": "weight"}])
        assert (reply["accepted"], refused(reply)) == (3, [(3, "items[3].unit", "pricing_unit")])
    finally:
        await shop.store.aclose()


async def test_a_huge_batch_is_judged_item_by_item_and_its_list_is_bounded(shop: Shop) -> None:
    items = [{"sku": f"H{n:05d}", "name": f"商品{n}" if n % 2 else f"item {n}", "price": "1.00"} for n in range(10_000)]
    reply = await shop.ok("product.upsert", items=items)
    assert (reply["accepted"], reply["refused_count"], len(reply["refused"])) == (5_000, 5_000, 1_000)
    assert reply["refused"][0]["field"] == "items[0].name" and reply["refused"][-1]["index"] == 1_998


def test_the_real_daemon_refuses_an_unlawful_label_and_applies_the_rest(broker, daemon_factory, hq_factory) -> None:
    daemon_factory(broker.url, esl={"backend": "simulated", "simulated": {"labels": 4, "time_scale": 0.0}}).start()
    hq = hq_factory(broker.port)
    wait_online(hq, timeout=60)
    reply = hq.request("product.upsert", {"items": [
        {"sku": "G1", "name": "红富士苹果", "price": "12.80", "unit": "500g", "sale_mode": "weight", "spec": "约250g/个", "origin": "山东"},
        {"sku": "G2", "name": "Fuji Apple", "price": "12.80"},
        {"sku": "G3", "name": "特" * 64, "price": "1.00"},  # no label shows 64 characters whole
    ]}, None, 30.0)
    assert reply["ok"], reply
    assert (reply["result"]["accepted"], refused(reply["result"])) == (1, [(1, "items[1].name", "chinese_text"),
                                                                           (2, "items[2].name", "name_shown")])
    update = hq.request("price.update", {"items": [{"sku": "G1", "price": "9.90"}]}, None, 30.0)
    assert update["ok"] and update["result"]["applied"] == 1, update
