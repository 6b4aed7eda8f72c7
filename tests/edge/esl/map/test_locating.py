"""Positioning, planogram and pick routes in the running daemon (simulated fleet and anchors, real broker)."""

from __future__ import annotations

from devices.esl.anchors import AnchorReport
from edge.esl.map.storemap import Place
from tests.edge.esl.jobkit import PRODUCTS, Running, running

MAP = {"layout": {"aisles": 3, "bays": 4, "levels": 3}}
POSITIONING = {"interval_s": 0.2, "min_confidence": 0.5, "simulated": {"noise_db": 2.0, "seed": 5}}


async def _bound(d: Running) -> dict[str, str]:
    """Bind one label per product once every label is located; sku -> label."""
    await d.request("product.upsert", {"items": PRODUCTS})
    ids = [r[0] for r in d.db("SELECT id FROM esl_labels WHERE leds > 0 ORDER BY id")][: len(PRODUCTS)]
    for label, product in zip(ids, PRODUCTS):
        assert (await d.request("label.bind", {"label": label, "sku": product["sku"]}))["ok"]
    total = d.db("SELECT count(*) FROM esl_labels")[0][0]
    await d.wait(lambda: d.db("SELECT count(*) FROM esl_positions")[0][0] == total)
    return {p["sku"]: label for label, p in zip(ids, PRODUCTS)}


def _spot(d: Running, label: str) -> dict:
    """Where the simulator put a label, without its level."""
    return d.job.locating.truth[label].spot.as_dict()


async def test_locate_planogram_deviations_and_routes(broker, tmp_path):
    async with running(broker.port, tmp_path / "data", simulated={"labels": 10}, map=MAP, positioning=POSITIONING) as d:
        bound = await _bound(d)
        skus = list(bound)
        a, b, c = skus[:3]
        where = (await d.request("locate", {"sku": a}))["result"]
        assert where["located"] and where["confidence"] >= 0.5
        assert {k: v for k, v in where["position"].items() if k != "level"} == _spot(d, bound[a])
        assert (await d.request("locate", {"sku": "NOPE"}))["error"]["code"] == "not_found"

        wrong = Place(endcap="E01") if d.job.locating.truth[bound[c]].endcap != "E01" else Place(endcap="E02")
        plan = [{"sku": s, **_spot(d, bound[s])} for s in (a, b)] + [{"sku": c, **wrong.as_dict()}]
        reply = (await d.request("planogram.set", {"items": plan}))["result"]
        assert reply["planned"] == 3 and reply["raised"] >= 1
        def both_seen() -> list:  # the misplaced product and an unattributed label; they may come in separate batches
            events = [e["data"] for e in d.events("planogram.deviation")]
            return events if any(e["sku"] == c for e in events) and any(e["kind"] == "unknown_label" for e in events) else []

        raised = await d.wait(both_seen)
        kind = "wrong_endcap" if d.job.locating.truth[bound[c]].endcap else "misplaced"
        assert {"sku": c, "kind": kind, "state": "raised"}.items() <= next(e for e in raised if e["sku"] == c).items()
        assert any(e["kind"] == "unknown_label" for e in raised)  # labels located but not in the planogram
        summary = (await d.request("planogram.compliance", {}))["result"]
        on_endcaps = sum("endcap" in item for item in plan)
        assert summary["planned"] == 3 and summary["compliant"] == 2
        assert summary["endcaps"] == {"planned": on_endcaps, "compliant": on_endcaps - 1}

        d.job.locating.move(bound[c], Place(endcap=wrong.endcap, level=2))  # staff fix the shelf
        await d.wait(lambda: any(e["data"]["sku"] == c and e["data"]["state"] == "cleared" for e in d.events("planogram.deviation")))
        moved = [e["data"] for e in d.events("label.moved") if e["data"]["label"] == bound[c]]
        assert moved and moved[-1]["to"]["endcap"] == wrong.endcap
        assert (await d.request("planogram.compliance", {}))["result"]["compliant"] == 3

        bad = await d.request("planogram.set", {"items": [{"sku": a, "run": "A01L", "bay": 99}]})
        assert bad["error"]["code"] == "invalid_argument" and "items[0]" in bad["error"]["message"]
        assert (await d.request("planogram.set", {"items": [{"sku": "NOPE", "endcap": "E01"}]}))["error"]["code"] == "not_found"

        d.job.locating.feed([AnchorReport("GHOST", [(bound[a], -50.0)])])
        await d.wait(lambda: d.job.locating.rejected >= 1)

        first = (await d.request("pick.start", {"order_id": "o1", "items": [{"sku": s} for s in skus[:3]] + [{"sku": "NOLABEL"}]}))["result"]
        assert first["located"] is True and first["no_label"] == ["NOLABEL"]
        assert sorted(e["sku"] for e in first["route"]) == sorted(skus[:3])
        assert all(e["located"] and e["leg_m"] >= 0 for e in first["route"])
        assert [e["total_m"] for e in first["route"]] == sorted(e["total_m"] for e in first["route"])
        assert first["total_m"] == round(first["route"][-1]["total_m"] + first["to_packing_m"], 2)
        await d.request("pick.start", {"order_id": "o2", "items": [{"sku": s} for s in skus[2:5]]})
        batch = (await d.request("pick.route", {"order_ids": ["o1", "o2"]}))["result"]
        assert [o["color"] for o in batch["orders"]] == [first["color"], "blue"]
        assert len(batch["route"]) == 6 and {s["order_id"] for s in batch["route"]} == {"o1", "o2"}
        assert batch["total_m"] >= first["total_m"] - 0.01
        assert (await d.request("pick.route", {"order_ids": ["zz"]}))["error"]["code"] == "not_found"
