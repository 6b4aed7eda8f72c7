"""Price push end to end: real Mosquitto, the in-process daemon and the simulated fleet."""

from __future__ import annotations

import pytest

import asyncio
import random

from devices.backoff import Backoff
from devices.esl import framebuffer
from edge import catalog
from edge.esl.prices.config import Retry
from edge.esl.prices.pushing import Pusher, PushSettings, WorkItem
from edge.esl.prices.queue import queue_push, requeue_sku
from edge.jobs import schemas
from edge.store import Store
from tests.edge.esl import jobkit
from tests.edge.esl.jobkit import PRODUCTS, running


def shown_digest(job, label_id: str) -> str | None:  # noqa: ANN001
    """Content hash of the image the simulated label displays now."""
    label = job.fleet.label(label_id)
    index = label.shown[0]
    return None if index is None else framebuffer.content_hash(label.slots[index])


@pytest.mark.both_radios
async def test_bind_pushes_and_unchanged_price_is_skipped(broker, tmp_path):
    async with running(broker.port, tmp_path / "data") as d:
        assert (await d.request("product.upsert", {"items": PRODUCTS}))["ok"]
        listed = (await d.request("label.list", {"limit": 3}))["result"]
        assert listed["total"] == 8 and len(listed["labels"]) == 3 and listed["next_cursor"]
        ids = [x["id"] for x in listed["labels"]]
        for label_id, product in zip(ids, PRODUCTS):
            reply = await d.request("label.bind", {"label": label_id, "sku": product["sku"]})
            assert reply["ok"], reply
        await d.wait(lambda: len(d.events("label.updated")) >= 3)
        for event in d.events("label.updated"):
            data = event["data"]
            assert data["digest"] == shown_digest(d.job, data["label"])
            assert data["attempts"] == 1 and data["duration_ms"] >= 0
        connections = d.job.fleet.label(ids[0]).connections

        # The same price again: re-rendered, identical image, nothing sent.
        same = {"sku": PRODUCTS[0]["sku"], "price": PRODUCTS[0]["price"]}
        assert (await d.request("price.update", {"items": [same]}))["ok"]
        await d.wait(lambda: not d.db("SELECT 1 FROM esl_work"))
        assert d.job.fleet.label(ids[0]).connections == connections
        assert len(d.events("label.updated")) == 3

        # A new price: a new image on that label only.
        before = shown_digest(d.job, ids[0])
        assert (await d.request("price.update", {"items": [{"sku": PRODUCTS[0]["sku"], "price": "9.90"}]}))["ok"]
        await d.wait(lambda: len(d.events("label.updated")) >= 4)
        last = d.events("label.updated")[-1]["data"]
        assert last["label"] == ids[0] and last["price"] == "9.90"
        assert shown_digest(d.job, ids[0]) == last["digest"] != before
        page = (await d.request("label.list", {"sku": PRODUCTS[0]["sku"]}))["result"]
        assert [x["id"] for x in page["labels"]] == [ids[0]] and page["labels"][0]["state"] == "ok"


def test_a_promotion_past_its_end_is_not_shown():
    from datetime import date

    from edge.esl.prices.pushing import content_for

    row = {"name": "蒙牛纯牛奶", "price": "59.90", "unit": "piece", "promo_price": "45.80", "promo_end": "2026-11-30"}
    during = content_for(row, "M1", "https://x/p/", date(2026, 11, 30))
    after = content_for(row, "M1", "https://x/p/", date(2026, 12, 1))
    assert during.on_promotion and str(during.shown_price) == "45.80" and during.qr_url == "https://x/p/M1"
    assert not after.on_promotion and str(after.shown_price) == "59.90" and after.promo_end is None


@pytest.mark.both_radios
async def test_promotion_end_schedules_a_redraw(broker, tmp_path):
    async with running(broker.port, tmp_path / "data") as d:
        milk = {**PRODUCTS[1], "promo_price": "2.99", "promo_end": "2099-12-31"}
        await d.request("product.upsert", {"items": [milk]})
        label = (await d.request("label.list", {"limit": 1}))["result"]["labels"][0]["id"]
        await d.request("label.bind", {"label": label, "sku": milk["sku"]})
        jobs = await d.wait(lambda: [(i, t) for i, t in d.app.scheduler.pending() if i == f"esl-promo-end-{milk['sku']}"])
        assert jobs[0][1].isoformat().startswith("2099-12-31T16:00")  # midnight 2100-01-01 in Asia/Shanghai
        updated = (await d.wait(lambda: d.events("label.updated")))[0]["data"]
        assert updated["promo_price"] == "2.99"
        connections = d.job.fleet.label(label).connections
        await asyncio.wait_for(d.job._promo_ended(milk["sku"]), 5)  # the action firing early (or twice) is harmless
        assert await d.app.store.write(lambda tx: requeue_sku(tx, milk["sku"])) == 1
        await d.wait(lambda: not d.db("SELECT 1 FROM esl_work"))
        assert d.job.fleet.label(label).connections == connections and len(d.events("label.updated")) == 1


async def test_a_failed_push_is_retried_after_the_shared_back_off(tmp_path):
    store = await asyncio.to_thread(Store, tmp_path / "db.sqlite", schemas={"catalog": catalog.STEPS, **schemas()})
    retry = Retry(max_attempts=5, base_s=2.0, max_s=5.0)
    pusher = Pusher(store, None, PushSettings(1, 1.0, retry, "https://x/p/", None), None, clock=lambda: 1000.0, seed=7)  # type: ignore[arg-type]
    expected = Backoff(initial=2.0, maximum=5.0)
    rng = random.Random(7)
    try:
        async with asyncio.timeout(10):
            await store.write(lambda tx: tx.conn.execute("INSERT INTO esl_labels (id, esl_group, esl_id, state) VALUES ('L1', 0, 1, 'unbound')"))
            await store.write(lambda tx: queue_push(tx, "L1", "S1", 1))
            item = WorkItem("L1", "S1", 1, 0, 0, 1, None, None, None, None, {})
            for attempt in (1, 2, 3):
                await pusher._failed(item, attempt, "LabelTimeout", retry=True)
                next_at = await store.read(lambda db: db.execute("SELECT next_at FROM esl_work").fetchone()[0])
                assert next_at == 1000.0 + expected.delay(attempt - 1, rng)
            assert next_at <= 1000.0 + retry.max_s
    finally:
        await store.aclose()


async def test_over_pawr_the_pusher_keeps_one_push_per_group_and_train_under_way(broker, tmp_path, esl_radio):
    """`connections = 1` is the connected-mode cap; over PAwR each AP's connect pacer needs a push waiting per group
    (4 subevents x 1 AP here) to connect in air order."""
    jobkit.RADIO = "pawr"
    async with running(broker.port, tmp_path / "data", connections=1, simulated={"labels": 12}) as d:
        workers = [t for t in asyncio.all_tasks() if t.get_name().startswith("esl-push-") and t.get_name() != "esl-push-dispatch"]
        assert len(workers) == jobkit.FAST_TRAIN["num_subevents"]
        assert (await d.request("product.upsert", {"items": PRODUCTS}))["ok"]
        ids = [x["id"] for x in (await d.request("label.list", {"limit": 12}))["result"]["labels"]]
        for n, label_id in enumerate(ids):
            assert (await d.request("label.bind", {"label": label_id, "sku": PRODUCTS[n % len(PRODUCTS)]["sku"]}))["ok"]
        await d.wait(lambda: len(d.events("label.updated")) >= 12, timeout=60)
        assert {e["data"]["label"] for e in d.events("label.updated")} == set(ids)
