"""Pick lights on the simulated fleet: colours per order, shared labels alternate, done / cancel / timeout."""

from __future__ import annotations

import pytest

import asyncio

from devices.esl.led import BLUE, GREEN
from tests.edge.esl.jobkit import PRODUCTS, Running, running

PICKING = {"colours": ["green", "blue", "magenta"], "timeout_s": 30, "alternate_s": 1}


async def bind_all(d: Running) -> dict[str, str]:
    """Bind one LED-capable label to each product; returns sku -> label."""
    await d.request("product.upsert", {"items": PRODUCTS})
    with_led = [r[0] for r in d.db("SELECT id FROM esl_labels WHERE leds > 0 ORDER BY id")]
    bound = {}
    for label, product in zip(with_led, PRODUCTS[:4]):
        assert (await d.request("label.bind", {"label": label, "sku": product["sku"]}))["ok"]
        bound[product["sku"]] = label
    return bound


def colour(d: Running, label: str):  # noqa: ANN201
    """The colour the simulated label's LED shows now (None when dark)."""
    run = d.job.fleet.label(label).led(0)
    return None if run is None else run.color


@pytest.mark.both_radios
async def test_two_orders_distinct_colours_shared_label_alternates_then_done_and_cancel(broker, tmp_path):
    async with running(broker.port, tmp_path / "data", simulated={"labels": 12}, picking=PICKING) as d:
        bound = await bind_all(d)
        a, b, c, _ = list(bound)
        first = (await d.request("pick.start", {"order_id": "o1", "items": [{"sku": a, "qty": 2}, {"sku": b}, {"sku": "NOLABEL"}]}))["result"]
        second = (await d.request("pick.start", {"order_id": "o2", "items": [{"sku": b}, {"sku": c}]}))["result"]
        assert (first["color"], second["color"]) == ("green", "blue")
        assert first["no_label"] == ["NOLABEL"] and first["located"] is False
        assert [e["sku"] for e in first["route"]] == [a, b] and first["route"][0]["labels"] == [bound[a]]
        await d.wait(lambda: colour(d, bound[a]) and colour(d, bound[c]))
        assert colour(d, bound[a]).green == 3 and colour(d, bound[c]).blue == 3
        seen = set()
        for _ in range(80):  # the shared label shows both colours in turn
            seen.add(colour(d, bound[b]))
            if {GREEN, BLUE} <= seen:
                break
            await asyncio.sleep(0.05)
        assert {GREEN, BLUE} <= seen

        done = (await d.request("pick.done", {"order_id": "o1", "sku": a}))["result"]
        assert done["completed"] is False
        await d.wait(lambda: colour(d, bound[a]) is None)
        progress = await d.wait(lambda: d.events("pick.progress"))
        assert progress and progress[0]["data"]["sku"] == a and progress[0]["data"]["items"] == 3
        finished = (await d.request("pick.done", {"order_id": "o1"}))["result"]
        assert finished["completed"] is True and finished["outcome"] == "done"
        await d.wait(lambda: colour(d, bound[b]) == BLUE)  # only o2 left on the shared label
        await asyncio.sleep(1.2)
        assert colour(d, bound[b]) == BLUE

        assert (await d.request("pick.cancel", {"order_id": "o2"}))["result"]["outcome"] == "cancelled"
        await d.wait(lambda: colour(d, bound[b]) is None and colour(d, bound[c]) is None)
        await d.wait(lambda: len({e["data"]["order_id"] for e in d.events("pick.completed")}) >= 2)  # the events travel on
        outcomes = {e["data"]["order_id"]: e["data"]["outcome"] for e in d.events("pick.completed")}
        assert outcomes == {"o1": "done", "o2": "cancelled"}

        unknown = await d.request("pick.done", {"order_id": "nope"})
        assert unknown["error"]["code"] == "not_found"
        again = await d.request("pick.done", {"order_id": "o1"})
        assert again["error"]["code"] == "conflict"
        taken = await d.request("pick.start", {"order_id": "o1", "items": [{"sku": a}]})
        assert taken["error"]["code"] == "conflict"
        bad_colour = await d.request("pick.start", {"order_id": "o3", "items": [{"sku": a}], "color": "purple"})
        assert bad_colour["error"]["code"] == "invalid_argument" and bad_colour["error"]["message"].startswith("color")
        no_sku = await d.request("pick.done", {"order_id": "o3"})
        assert no_sku["error"]["code"] == "not_found"


@pytest.mark.both_radios
async def test_flashing_stops_on_its_own_after_the_timeout(broker, tmp_path):
    async with running(broker.port, tmp_path / "data", simulated={"labels": 12}, picking={**PICKING, "timeout_s": 1.5}) as d:
        bound = await bind_all(d)
        sku = next(iter(bound))
        await d.request("pick.start", {"order_id": "t1", "items": [{"sku": sku}]})
        await d.wait(lambda: colour(d, bound[sku]))
        completed = await d.wait(lambda: d.events("pick.completed"), timeout=10)
        assert completed[0]["data"]["outcome"] == "timeout" and completed[0]["data"]["duration_ms"] >= 1500
        await d.wait(lambda: colour(d, bound[sku]) is None)


@pytest.mark.both_radios
async def test_the_driver_keeps_as_many_led_commands_in_flight_as_the_radio_carries(broker, tmp_path, esl_radio):
    """Connected mode: one per configured connection; PAwR: 3 LED Controls per group per train (bench_esl_job.py --radio pawr:
    p95 from pick.start to a dark label lit fell from 16.9 to 1.2 intervals with 50 orders running when this was 4)."""
    async with running(broker.port, tmp_path / "data", simulated={"labels": 12}, picking=PICKING) as d:
        slots = d.job.leds._slots._free
        assert slots == (3 * 4 if esl_radio == "pawr" else d.job.config.picking.connections)
