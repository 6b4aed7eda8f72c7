"""Every esl command's arguments are strict (no "5" for 5, no 5.0, no true, no "yes", no Unix dates) and every id is
bounded, over a real broker to the running daemon; valid requests work exactly as before."""

from __future__ import annotations

import json

from tests.edge.esl.jobkit import PRODUCTS, running

MAP = {"layout": {"aisles": 2, "bays": 3, "levels": 2}}
HUGE = "O" * 100_000

BAD = [
    ("pick.start", {"order_id": "o1", "items": [{"sku": "SKU000", "qty": "5"}]}, "items[0].qty: Input should be a valid integer"),
    ("pick.start", {"order_id": "o1", "items": [{"sku": "SKU000", "qty": 5.0}]}, "items[0].qty: Input should be a valid integer"),
    ("pick.start", {"order_id": "o1", "items": [{"sku": "SKU000", "qty": True}]}, "items[0].qty: Input should be a valid integer"),
    ("pick.start", {"order_id": HUGE, "items": [{"sku": "SKU000"}]}, "order_id: String should match pattern"),
    ("pick.start", {"order_id": "o1", "items": [{"sku": "SKU000"}], "color": HUGE}, "color: String should have at most 32"),
    ("pick.start", {"order_id": "o1", "items": [{"sku": "SKU 000"}]}, "items[0].sku: String should match pattern"),
    ("pick.done", {"order_id": HUGE}, "order_id: String should match pattern"),
    ("pick.done", {"order_id": "o1", "sku": HUGE}, "sku: String should match pattern"),
    ("pick.cancel", {"order_id": HUGE}, "order_id: String should match pattern"),
    ("pick.cancel", {"order_id": 1001}, "order_id: Input should be a valid string"),
    ("pick.route", {"order_ids": [HUGE]}, "order_ids[0]: String should match pattern"),
    ("label.bind", {"label": HUGE, "sku": "SKU000"}, "label: String should match pattern"),
    ("label.list", {"limit": "10"}, "limit: Input should be a valid integer"),
    ("label.list", {"offset": 1.0}, "offset: Input should be a valid integer"),
    ("label.list", {"cursor": HUGE}, "cursor: String should have at most 256"),
    ("label.list", {"sku": HUGE}, "sku: String should match pattern"),
    ("planogram.set", {"items": [{"sku": "SKU000", "endcap": "E01"}], "replace": "yes"}, "replace: Input should be a valid boolean"),
    ("planogram.set", {"items": [{"sku": "SKU000", "run": "A01L", "bay": "1"}]}, "items[0].bay: Input should be a valid integer"),
    ("planogram.set", {"items": [{"sku": "SKU000", "run": HUGE, "bay": 1}]}, "items[0].run: String should match pattern"),
    ("planogram.compliance", {"limit": True}, "limit: Input should be a valid integer"),
    ("locate", {"sku": HUGE}, "sku: String should match pattern"),
    ("temperature.report", {"day": 0}, "day: must be a date string"),
    ("temperature.report", {"day": "2026-11-25T00:00:00Z"}, "day: must be a date such as"),
]


async def test_strict_types_and_bounded_ids_in_every_esl_command(broker, tmp_path):
    async with running(broker.port, tmp_path / "data", map=MAP) as d:
        assert (await d.request("product.upsert", {"items": PRODUCTS}))["ok"]
        for name, body, words in BAD:
            reply = await d.request(name, body)
            assert reply["ok"] is False and reply["error"]["code"] == "invalid_argument", (name, body if len(str(body)) < 200 else "…")
            assert reply["error"]["message"].startswith(words), reply["error"]["message"][:300]
            assert len(json.dumps(reply)) < 500, f"{name}: the reply echoes the value"
        assert d.db("SELECT count(*) FROM esl_pick_orders") == [(0,)] and d.db("SELECT count(*) FROM esl_planogram") == [(0,)]

        # the documented forms still work, unchanged
        label = d.db("SELECT id FROM esl_labels WHERE leds > 0 ORDER BY id")[0][0]
        assert (await d.request("label.bind", {"label": label, "sku": "SKU000"}))["result"] == {"label": label, "sku": "SKU000", "queued": True}
        started = await d.request("pick.start", {"order_id": "WEB-1001", "items": [{"sku": "SKU000", "qty": 2}], "color": "blue"})
        assert started["result"]["color"] == "blue"
        assert (await d.request("pick.done", {"order_id": "WEB-1001", "sku": "SKU000"}))["result"]["completed"] is True
        page = await d.request("label.list", {"limit": 2, "offset": 0})
        assert (await d.request("label.list", {"limit": 2, "cursor": page["result"]["next_cursor"]}))["ok"]
        planned = await d.request("planogram.set", {"items": [{"sku": "SKU000", "endcap": "E01"}], "replace": True})
        assert planned["result"]["planned"] == 1
        assert (await d.request("planogram.compliance", {"limit": 5}))["ok"]
        assert (await d.request("locate", {"sku": "SKU000"}))["ok"]
        assert (await d.request("temperature.report", {"day": "2026-11-25"}))["result"] == {"day": "2026-11-25", "queued": True}
