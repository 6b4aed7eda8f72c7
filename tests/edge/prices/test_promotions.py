"""Lawful promotion display: the original price (原价) is the lowest price in force in the look-back, never taken on trust."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from edge.config import PricesSection
from edge.prices import history, promotions
from edge.prices.promotions import Refusal, Verdict
from tests.edge.prices.conftest import APPLE, MILK, START, Clock, Shop, open_shop

D = Decimal
CN = PricesSection()


@pytest.mark.parametrize(
    ("promo", "stated", "limit", "settings", "expected"),
    [
        ("9.90", None, "12.80", CN, Verdict(D("12.80"), D("12.80"))),
        ("9.90", "11.00", "12.80", CN, Verdict(D("11.00"), D("12.80"))),  # a lower stated base is shown
        ("9.90", "12.80", "12.80", CN, Verdict(D("12.80"), D("12.80"))),
        ("9.90", "12.81", "12.80", CN, "promo_base base_above_history"),
        ("12.80", None, "12.80", CN, "promo_price no_reduction"),
        ("9.90", "9.90", "12.80", CN, "promo_price no_reduction"),
        ("9.90", None, None, CN, Verdict(None, None, Refusal("promo_price", "no_history", "x"))),
        ("9.90", "12.80", None, CN, "promo_base base_unproven"),
        ("13.00", None, "12.80", PricesSection(fake_promotion="plain"), Verdict(None, D("12.80"), Refusal("promo_price", "no_reduction", "x"))),
    ],
)
def test_judge(promo: str, stated: str | None, limit: str | None, settings: PricesSection, expected: Verdict | str) -> None:
    verdict = promotions.judge(D(promo), None if stated is None else D(stated), None if limit is None else D(limit), settings)
    if isinstance(expected, str):
        assert isinstance(verdict, Refusal) and f"{verdict.field} {verdict.rule}" == expected and verdict.code == "invalid_argument"
        if verdict.rule != "base_unproven":  # the message starts with the value judged
            assert verdict.problem.startswith(promo if verdict.field == "promo_price" else str(stated)), verdict.problem
    else:
        assert isinstance(verdict, Verdict) and (verdict.promo_base, verdict.base_limit) == (expected.promo_base, expected.base_limit)
        assert (verdict.plain and verdict.plain.rule) == (expected.plain and expected.plain.rule)


async def _week_with_a_low_price(shop: Shop, clock: Clock) -> None:
    """12.80, then a promotion at 8.80 on days 5-8, then 12.80 again until day 20."""
    await shop.ok("product.upsert", items=[APPLE])
    clock.now = START + timedelta(days=5)
    await shop.ok("price.update", items=[{"sku": "A1", "price": "12.80", "promo_price": "8.80"}])
    clock.now = START + timedelta(days=8)
    await shop.ok("price.update", items=[{"sku": "A1", "price": "12.80"}])
    clock.now = START + timedelta(days=20)


@pytest.mark.parametrize(("lookback", "fake"), [(7, "refuse"), (30, "refuse"), (30, "plain")])
async def test_the_base_is_the_lowest_price_in_force_in_the_look_back(tmp_path: Path, clock: Clock, lookback: int, fake: str) -> None:
    shop = await asyncio.to_thread(open_shop, tmp_path / "s.db", clock, lookback_days=lookback, fake_promotion=fake)
    try:
        await _week_with_a_low_price(shop, clock)
        reply = await shop.ok("price.update", items=[{"sku": "A1", "price": "12.80", "promo_price": "9.90", "promo_end": "2026-11-30"}])
        product = await shop.product("A1")
        if lookback == 7:  # days 13-20: only 12.80 was charged
            assert reply == {"accepted": 1, "applied": 1, "scheduled": []}
            assert (product["promo_price"], product["promo_base"]) == ("9.90", "12.80")
        elif fake == "refuse":  # days -10-20 include the 8.80 of day 5: 9.90 is no reduction
            assert reply["accepted"] == 0 and reply["refused_count"] == 1
            assert reply["refused"] == [{
                "index": 0, "sku": "A1", "code": "invalid_argument", "field": "items[0].promo_price", "rule": "no_reduction",
                "message": "items[0].promo_price: 9.90 is not below the original price 8.80"
                           " (the lowest price in force in the 30 days before the promotion)"}]
            assert (product["promo_price"], product["promo_base"]) == (None, None)  # nothing applied
        else:
            assert reply["applied"] == 1 and reply["plain"][0]["rule"] == "no_reduction" and "code" not in reply["plain"][0]
            assert (product["promo_price"], product["promo_base"]) == ("9.90", None)  # charged, shown without 原价
        assert (await shop.rows("A1"))[-1]["base_limit"] == (None if lookback == 30 and fake == "refuse" else ("12.80" if lookback == 7 else "8.80"))
    finally:
        await shop.store.aclose()


async def test_a_stated_base_is_checked_and_a_refused_item_leaves_the_rest_of_the_batch_applied(shop: Shop, clock: Clock) -> None:
    others = [{"sku": sku, "name": f"商品{sku}", "price": price} for sku, price in (("B1", "5.00"), ("C1", "20.00"))]
    await shop.ok("product.upsert", items=[APPLE, MILK, *others])
    clock.advance(days=3)
    reply = await shop.ok("price.update", items=[
        {"sku": "A1", "price": "12.80", "promo_price": "9.90", "promo_base": "12.80"},
        {"sku": "M1", "price": "3.50", "promo_price": "2.99", "promo_base": "4.00"},  # never charged 4.00
        {"sku": "B1", "price": "5.00", "promo_price": "5.00"},  # no reduction
        {"sku": "C1", "price": "20.00", "promo_price": "15.00", "promo_base": "18.00"},  # lower than it may be: fine
    ])
    assert (reply["accepted"], reply["applied"], reply["refused_count"]) == (2, 2, 2)
    assert [(r["index"], r["sku"], r["field"], r["rule"]) for r in reply["refused"]] == [
        (1, "M1", "items[1].promo_base", "base_above_history"), (2, "B1", "items[2].promo_price", "no_reduction")]
    assert reply["refused"][0]["message"] == ("items[1].promo_base: 4.00 is above 3.50, the lowest price in force in the 7 days"
                                              " before the promotion")
    assert [(await shop.product(s))["promo_base"] for s in ("A1", "M1", "B1", "C1")] == ["12.80", None, None, "18.00"]
    assert [(await shop.product(s))["promo_price"] for s in ("M1", "B1")] == [None, None]
    assert [len(await shop.rows(s)) for s in ("A1", "M1", "B1", "C1")] == [2, 1, 1, 2]  # a refused item writes no history

    upsert = await shop.ok("product.upsert", items=[{**MILK, "promo_price": "2.99", "promo_base": "9.99"}, {**MILK, "sku": "M2"}])
    assert upsert["accepted"] == 1 and upsert["refused"][0]["field"] == "items[0].promo_base"
    assert (await shop.product("M2"))["price"] == "3.50" and (await shop.product("M1"))["promo_price"] is None

    unknown = await shop.send("price.update", items=[{"sku": "A1", "price": "1.00"}, {"sku": "NOPE", "price": "1.00"}])
    assert unknown["error"]["code"] == "not_found" and unknown["error"]["message"].startswith("items[1].sku")  # still the whole batch


async def test_a_promotion_on_a_product_created_seconds_ago_has_no_original_price(shop: Shop, clock: Clock, tmp_path: Path) -> None:
    fresh = await shop.ok("product.upsert", items=[{**APPLE, "promo_price": "9.90"}])  # created on promotion: nothing before it
    assert fresh["accepted"] == 1 and fresh["plain"][0]["rule"] == "no_history"
    await shop.ok("product.upsert", items=[MILK])
    clock.advance(seconds=5)
    reply = await shop.ok("price.update", items=[{"sku": "M1", "price": "3.50", "promo_price": "2.99"}])
    assert reply["applied"] == 1 and [(p["field"], p["rule"]) for p in reply["plain"]] == [("items[0].promo_price", "no_history")]
    assert reply["plain"][0]["message"].startswith("items[0].promo_price: the product has less than 24 h of prices before the promotion")
    assert [(await shop.product(s))["promo_base"] for s in ("A1", "M1")] == [None, None]
    stated = await shop.ok("price.update", items=[{"sku": "M1", "price": "3.50", "promo_price": "2.89", "promo_base": "3.50"}])
    assert stated["refused"][0]["rule"] == "base_unproven"
    clock.advance(days=2)  # the same promotion sent again later: still judged on what was before it began
    again = await shop.ok("price.update", items=[{"sku": "M1", "price": "3.50", "promo_price": "2.99"}])
    assert again["plain"][0]["rule"] == "no_history"

    eager = await asyncio.to_thread(open_shop, tmp_path / "eager.db", Clock(START), min_history_hours=0)  # "use what there is"
    try:
        await eager.ok("product.upsert", items=[MILK])
        eager.clock.advance(seconds=5)
        assert "plain" not in await eager.ok("price.update", items=[{"sku": "M1", "price": "3.50", "promo_price": "2.99"}])
        assert (await eager.product("M1"))["promo_base"] == "3.50"
    finally:
        await eager.store.aclose()


async def test_a_running_promotion_keeps_its_base_when_sent_again_or_deepened(shop: Shop, clock: Clock) -> None:
    await shop.ok("product.upsert", items=[APPLE])
    clock.advance(days=3)
    await shop.ok("price.update", items=[{"sku": "A1", "price": "12.80", "promo_price": "9.90"}])
    clock.advance(days=1)  # HQ's nightly full catalogue: the same promotion again, 9.90 now the lowest in force
    assert "refused" not in await shop.ok("product.upsert", items=[{**APPLE, "promo_price": "9.90"}])
    assert "refused" not in await shop.ok("price.update", items=[{"sku": "A1", "price": "12.80", "promo_price": "9.90"}])
    assert len(await shop.rows("A1")) == 2  # nothing changed: no new row
    clock.advance(days=1)
    await shop.ok("price.update", items=[{"sku": "A1", "price": "12.80", "promo_price": "8.80"}])
    assert (await shop.product("A1"))["promo_base"] == "12.80"
    clock.advance(days=1)
    await shop.ok("price.update", items=[{"sku": "A1", "price": "12.80"}])  # the promotion ends
    clock.advance(days=1)
    again = await shop.ok("price.update", items=[{"sku": "A1", "price": "12.80", "promo_price": "9.50"}])  # a new one: 8.80 two days ago
    assert again["refused"][0]["message"].startswith("items[0].promo_price: 9.50 is not below the original price 8.80")


async def test_a_scheduled_promotion_is_judged_when_it_takes_effect(shop: Shop, clock: Clock) -> None:
    await shop.ok("product.upsert", items=[APPLE])
    lawful = await shop.ok("price.update", items=[
        {"sku": "A1", "price": "12.80", "promo_price": "9.90", "promo_end": "2026-11-05", "effective_at": history.stamp(START + timedelta(days=2))},
        {"sku": "A1", "price": "12.80", "promo_price": "11.00", "effective_at": history.stamp(START + timedelta(days=10))},
    ])
    first, second = (s["change_id"] for s in lawful["scheduled"])
    assert lawful["accepted"] == 2 and "refused" not in lawful
    clock.now = START + timedelta(days=2)
    await asyncio.wait_for(shop.catalog._apply_change(first), 10)
    assert await shop.events("price.applied") == [{"change_id": first, "sku": "A1", "price": "12.80", "promo_price": "9.90", "promo_base": "12.80"}]
    clock.now = START + timedelta(days=10)  # 9.90 was charged until 2026-11-05: 11.00 is no reduction any more
    await asyncio.wait_for(shop.catalog._apply_change(second), 10)
    refused = await shop.events("price.refused")
    assert refused == [{"change_id": second, "sku": "A1", "code": "invalid_argument", "field": "promo_price", "rule": "no_reduction",
                        "message": "promo_price: 11.00 is not below the original price 9.90 (the lowest price in force in the 7 days before the promotion)"}]
    statuses = await shop.store.read(lambda db: db.execute("SELECT status FROM price_changes ORDER BY id").fetchall())
    assert statuses == [("applied",), ("refused",)]
    assert (await shop.product("A1"))["promo_price"] == "9.90" and len(await shop.rows("A1")) == 2  # unchanged by the refusal
    await asyncio.wait_for(shop.catalog._apply_change(second), 10)  # firing again: nothing more
    assert len(await shop.events("price.refused")) == 1


async def test_odd_and_huge_values(shop: Shop, clock: Clock) -> None:
    await shop.ok("product.upsert", items=[{**APPLE, "price": "99999.99"}, MILK])
    clock.advance(days=2)
    top = await shop.ok("price.update", items=[
        {"sku": "A1", "price": "99999.99", "promo_price": "0", "promo_end": "9999-12-31"},
        {"sku": "M1", "price": "3.50", "promo_price": "3.49", "promo_base": "3.50"},
    ])
    assert top["applied"] == 2 and "refused" not in top
    assert (await shop.product("A1"))["promo_base"] == "99999.99"
    assert (await shop.ok("price.history", sku="A1"))["intervals"][-1]["valid_to"] is None  # a promotion to the end of time
    for item, field, words in (
        ({"sku": "M1", "price": "3.50", "promo_price": "2.00", "promo_base": "100000"}, "items[0].promo_base", "between 0 and 99999.99"),
        ({"sku": "M1", "price": "3.50", "promo_price": "2.00", "promo_base": 3.5}, "items[0].promo_base", "decimal string"),
        ({"sku": "M1", "price": "3.50", "promo_base": "3.50"}, "items[0]", "promo_base given without promo_price"),
        ({"sku": "M1", "price": "3.50", "promo_end": "2026-12-31"}, "items[0]", "promo_end given without promo_price"),
    ):
        reply = await shop.send("price.update", items=[item])
        assert reply["error"]["code"] == "invalid_argument" and reply["error"]["message"].startswith(field) and words in reply["error"]["message"], reply

    many = [{"sku": "M1", "price": "3.50", "promo_price": "3.50"}] * 10_000  # 10,000 refusals: counted, the first 1,000 listed
    reply = await asyncio.wait_for(shop.send("price.update", items=many), 120)
    assert reply["ok"] and reply["result"]["refused_count"] == 10_000 and len(reply["result"]["refused"]) == 1_000
    assert len(json.dumps(reply, ensure_ascii=False).encode()) < 1_048_576
