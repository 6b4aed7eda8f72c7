"""Who asked for each price and which checks it passed: the request's id and sender and the rules reach the price
history (a scheduled change keeps its request), and `price.history` lists who asked."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from edge import catalog
from edge.catalog import Catalog
from edge.config import parse_config
from edge.jobs import schemas
from edge.prices import history
from edge.scheduler import Scheduler
from edge.store import Store
from edge.sync.commands import CommandRegistry, Dispatcher, current_request
from tests.edge.prices.conftest import APPLE, MILK, START, Clock, Shop, open_shop

#: What the core rule set checks on a `product.upsert` item (its text, its unit, its kind's price).
UPSERT_RULES = {"pricing_unit", "name_required", "chinese_text", "simplified_chinese", "distinct_names"}


def passed(*rules: str, **outcomes: str) -> dict[str, str]:
    """A `checks` object: these rules passed, and the promotion rules' outcomes."""
    return {**dict.fromkeys(rules, "passed"), **outcomes}


async def test_each_history_row_names_the_request_and_sender_that_asked_for_it(shop: Shop, clock: Clock) -> None:
    reply = await shop.dispatcher.handle("product.upsert", json.dumps({"id": "up-1", "items": [APPLE, MILK]}).encode())
    assert reply["ok"], reply
    clock.advance(days=2)
    await shop.ok("price.update", items=[{"sku": "A1", "price": "11.80", "promo_price": "9.90"}], sender="hq-pricing")
    when = START + timedelta(days=2, hours=3)
    scheduled = await shop.send("price.update", items=[{"sku": "M1", "price": "3.20", "effective_at": history.stamp(when)}],
                                sender="价格中心")
    clock.now = when
    await shop.catalog._apply_change(scheduled["result"]["scheduled"][0]["change_id"])
    rows = await shop.rows()
    assert [(r["sku"], r["kind"], r["request_id"], r["sender"]) for r in rows] == [
        ("A1", "upsert", "up-1", None), ("M1", "upsert", "up-1", None),
        ("A1", "immediate", "r0", "hq-pricing"), ("M1", "scheduled", scheduled["id"], "价格中心"),
    ]
    assert [json.loads(r["checks"]) for r in rows] == [
        passed(*UPSERT_RULES), passed(*UPSERT_RULES), passed("distinct_names", "base_above_history", "no_reduction"),
        passed("distinct_names"),  # judged again when it fell due
    ]
    assert (rows[2]["promo_base"], rows[2]["base_limit"]) == ("12.80", "12.80")
    assert current_request() is None  # only while a handler runs


async def test_a_product_written_elsewhere_is_seeded_without_a_request(shop: Shop, clock: Clock) -> None:
    await shop.store.write(lambda tx: tx.db["products"].insert({**MILK, "unit": "piece", "sale_mode": "piece", "revision": 1}))
    await shop.ok("price.update", items=[{"sku": "M1", "price": "3.20", "promo_price": "2.99"}], sender="hq")
    rows = await shop.rows("M1")
    assert [(r["kind"], r["request_id"], r["sender"]) for r in rows] == [("seeded", None, None), ("immediate", "r0", "hq")]
    assert json.loads(rows[0]["checks"]) == {} and json.loads(rows[1]["checks"]) == passed("distinct_names", no_history="plain")


async def test_a_bad_sender_is_refused_naming_it_and_nothing_is_applied(shop: Shop) -> None:
    for sender, problem in (("x" * 65, "at most 64"), ("", "at least 1"), (7, "string"), ("hq\n", "control")):
        reply = await shop.send("product.upsert", items=[APPLE], sender=sender)
        assert reply["error"]["code"] == "invalid_argument", reply
        assert reply["error"]["message"].startswith("sender:") and problem in reply["error"]["message"], reply
    assert await shop.rows() == []


async def test_price_history_lists_who_asked_for_each_interval(shop: Shop, clock: Clock) -> None:
    await shop.dispatcher.handle("product.upsert", json.dumps({"id": "up-1", "items": [APPLE]}).encode())
    clock.advance(days=2)
    await shop.dispatcher.handle("price.update", json.dumps({"id": "pu-1", "sender": "活动中心", "items": [
        {"sku": "A1", "price": "12.80", "promo_price": "9.90", "promo_end": "2026-11-03"}]}, ensure_ascii=False).encode())
    clock.advance(days=3)
    listed = await shop.ok("price.history", sku="A1")
    assert [(i["kind"], i["request_id"], i["sender"]) for i in listed["intervals"]] == [
        ("upsert", "up-1", None), ("immediate", "pu-1", "活动中心"),
        ("promo_end", "pu-1", "活动中心"),  # the end that request set
    ]


async def test_rule_set_none_records_only_the_unit_check(tmp_path: Path, clock: Clock) -> None:
    shop = await asyncio.to_thread(open_shop, tmp_path / "s.db", clock, rules="none")
    try:
        await shop.ok("product.upsert", items=[APPLE])
        await shop.ok("price.update", items=[{"sku": "A1", "price": "11.80"}])
        assert [json.loads(r["checks"]) for r in await shop.rows()] == [passed("pricing_unit"), {}]
    finally:
        await shop.store.aclose()


async def test_the_shelf_label_rules_a_price_passed_are_recorded_with_it(tmp_path: Path, clock: Clock) -> None:
    def build() -> tuple[Store, Dispatcher]:
        """A catalogue with `[esl]` enabled, so the label layout check is in force (blocking)."""
        config = parse_config({"store": {"id": "s1", "timezone": "Asia/Shanghai"}, "esl": {"backend": "simulated"}}, env={})
        store = Store(tmp_path / "s.db", schemas={"catalog": catalog.STEPS, **schemas()})
        registry = CommandRegistry()
        Catalog(store, Scheduler(tmp_path / "s.db"), config, clock).register(registry)
        return store, Dispatcher(registry, store)

    store, dispatcher = await asyncio.to_thread(build)
    try:
        async def ok(command: str, **args: Any) -> None:
            """A request that must succeed without refusals."""
            reply = await dispatcher.handle(command, json.dumps({"id": command, **args}, ensure_ascii=False).encode())
            assert reply["ok"] and "refused" not in reply["result"], reply

        await ok("product.upsert", items=[APPLE, MILK])
        await ok("price.update", items=[{"sku": "A1", "price": "11.80"}, {"sku": "M1", "price": "3.20"}])
        rows = await store.read(lambda db: [(r[0], json.loads(r[1])) for r in db.execute("SELECT sku, checks FROM price_history ORDER BY id")])
        layout = ("renders", "price_numerals")
        assert rows == [
            ("A1", passed(*UPSERT_RULES, *layout, "name_shown", "spec_origin_shown", "unit_price_shown")),  # sold by weight
            ("M1", passed(*UPSERT_RULES, *layout, "name_shown", "spec_origin_shown")),
            ("A1", passed(*layout, "unit_price_shown", "distinct_names")),  # a price change: only what a price changes
            ("M1", passed(*layout, "distinct_names")),
        ]
    finally:
        await store.aclose()
