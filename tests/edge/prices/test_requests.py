"""Who asked for each price: the request's id and sender reach the price history, a scheduled change keeps them."""

from __future__ import annotations

import json
from datetime import timedelta

from edge.prices import history
from edge.sync.commands import current_request
from tests.edge.prices.conftest import APPLE, MILK, START, Clock, Shop


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
    assert [json.loads(r["checks"]) for r in rows] == [{}, {}, {"base_above_history": "passed", "no_reduction": "passed"}, {}]
    assert (rows[2]["promo_base"], rows[2]["base_limit"]) == ("12.80", "12.80")
    assert current_request() is None  # only while a handler runs


async def test_a_product_written_elsewhere_is_seeded_without_a_request(shop: Shop, clock: Clock) -> None:
    await shop.store.write(lambda tx: tx.db["products"].insert({**MILK, "unit": "piece", "sale_mode": "piece", "revision": 1}))
    await shop.ok("price.update", items=[{"sku": "M1", "price": "3.20", "promo_price": "2.99"}], sender="hq")
    rows = await shop.rows("M1")
    assert [(r["kind"], r["request_id"], r["sender"]) for r in rows] == [("seeded", None, None), ("immediate", "r0", "hq")]
    assert json.loads(rows[0]["checks"]) == {} and json.loads(rows[1]["checks"]) == {"no_history": "plain"}


async def test_a_bad_sender_is_refused_naming_it_and_nothing_is_applied(shop: Shop) -> None:
    for sender, problem in (("x" * 65, "at most 64"), ("", "at least 1"), (7, "string"), ("hq\n", "control")):
        reply = await shop.send("product.upsert", items=[APPLE], sender=sender)
        assert reply["error"]["code"] == "invalid_argument", reply
        assert reply["error"]["message"].startswith("sender:") and problem in reply["error"]["message"], reply
    assert await shop.rows() == []
