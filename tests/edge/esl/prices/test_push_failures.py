"""Bad input and bad labels: error replies, `label.failed` with a reason, and nobody else held up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.edge.esl.jobkit import PRODUCTS, running
from tests.edge.esl.prices.test_pushing import shown_digest


async def test_unknown_label_or_sku_and_bad_list_arguments(broker, tmp_path):
    async with running(broker.port, tmp_path / "data") as d:
        await d.request("product.upsert", {"items": PRODUCTS[:1]})
        label = (await d.request("label.list", {"limit": 1}))["result"]["labels"][0]["id"]
        no_label = await d.request("label.bind", {"label": "AA:BB:CC:DD:EE:FF", "sku": PRODUCTS[0]["sku"]})
        assert no_label["error"]["code"] == "not_found" and no_label["error"]["message"].startswith("label:")
        no_sku = await d.request("label.bind", {"label": label, "sku": "NOPE"})
        assert no_sku["error"]["code"] == "not_found" and no_sku["error"]["message"].startswith("sku:")
        bad_state = await d.request("label.list", {"state": "sleeping"})
        assert bad_state["error"]["code"] == "invalid_argument" and bad_state["error"]["message"].startswith("state")
        bad_cursor = await d.request("label.list", {"cursor": "%%%"})
        assert bad_cursor["error"]["code"] == "invalid_argument"
        negative = await d.request("price.update", {"items": [{"sku": PRODUCTS[0]["sku"], "price": "-1.00"}]})
        assert negative["error"]["code"] == "invalid_argument"
        assert d.db("SELECT count(*) FROM esl_work")[0][0] == 0 and d.events("label.failed") == []


async def test_silent_and_corrupt_labels_fail_with_reasons_others_unaffected(broker, tmp_path):
    async with running(broker.port, tmp_path / "data") as d:
        await d.request("product.upsert", {"items": PRODUCTS})
        ids = [x["id"] for x in (await d.request("label.list", {"limit": 6}))["result"]["labels"]]
        d.job.fleet.label(ids[0]).in_range = False
        d.job.fleet.label(ids[1]).mute = True
        d.job.fleet.label(ids[2]).corrupt_responses = True
        for label_id, product in zip(ids, PRODUCTS):
            assert (await d.request("label.bind", {"label": label_id, "sku": product["sku"]}))["ok"]
        await d.wait(lambda: len(d.events("label.updated")) >= 3)
        assert {e["data"]["label"] for e in d.events("label.updated")} == set(ids[3:])
        final = lambda: {e["data"]["label"]: e["data"] for e in d.events("label.failed") if not e["data"]["will_retry"]}  # noqa: E731
        await d.wait(lambda: len(final()) == 3)
        reasons = final()
        assert reasons[ids[0]]["reason"].startswith("LabelUnreachable")
        assert reasons[ids[1]]["reason"].startswith("LabelTimeout")
        assert "EslProtocolError" in reasons[ids[2]]["reason"]
        assert all(r["attempts"] == 2 for r in reasons.values())
        assert {e["data"]["label"] for e in d.events("label.failed") if e["data"]["will_retry"]} == set(ids[:3])
        states = dict(d.db("SELECT id, state FROM esl_labels WHERE id IN (?, ?, ?, ?)", *ids[:4]))
        assert [states[i] for i in ids[:4]] == ["failed", "failed", "failed", "ok"]
        assert d.job.health()["push"]["failed"] == 3


async def test_scheduled_price_change_rerenders_at_its_time(broker, tmp_path):
    async with running(broker.port, tmp_path / "data") as d:
        await d.request("product.upsert", {"items": PRODUCTS[:1]})
        label = (await d.request("label.list", {"limit": 1}))["result"]["labels"][0]["id"]
        await d.request("label.bind", {"label": label, "sku": PRODUCTS[0]["sku"]})
        await d.wait(lambda: d.events("label.updated"))
        when = datetime.now(UTC) + timedelta(seconds=2)
        reply = await d.request("price.update", {"items": [{"sku": PRODUCTS[0]["sku"], "price": "7.77", "effective_at": when.isoformat()}]})
        assert reply["result"]["scheduled"]
        updated = await d.wait(lambda: [e for e in d.events("label.updated") if e["data"]["price"] == "7.77"], timeout=15)
        assert datetime.now(UTC) >= when
        assert updated[0]["data"]["digest"] == shown_digest(d.job, label)


async def test_missing_font_fails_the_label_without_retry(broker, tmp_path):
    async with running(broker.port, tmp_path / "data", font=str(tmp_path / "no-such-font.ttf")) as d:
        await d.request("product.upsert", {"items": PRODUCTS[:1]})
        label = (await d.request("label.list", {"limit": 1}))["result"]["labels"][0]["id"]
        await d.request("label.bind", {"label": label, "sku": PRODUCTS[0]["sku"]})
        failed = (await d.wait(lambda: d.events("label.failed")))[0]["data"]
        assert failed["reason"].startswith("render: FontNotFoundError") and failed["will_retry"] is False
        assert "no-such-font.ttf" in failed["reason"] and d.job.fleet.label(label).connections == 0
