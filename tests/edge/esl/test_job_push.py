"""Price push end to end: real Mosquitto, the in-process daemon and the simulated fleet."""

from __future__ import annotations

from devices.esl import framebuffer
from tests.edge.esl.jobkit import PRODUCTS, running


def shown_digest(job, label_id: str) -> str | None:  # noqa: ANN001
    """Content hash of the image the simulated label displays now."""
    label = job.fleet.label(label_id)
    index = label.shown[0]
    return None if index is None else framebuffer.content_hash(label.slots[index])


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
