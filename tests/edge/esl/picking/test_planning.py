"""Walks planned before the transaction: taken when the stops are unchanged, planned again in it when they changed."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge import catalog
from edge.esl.map.storemap import Layout, MapSection, build
from edge.esl.picking.config import Picking
from edge.esl.picking.orders import DoneArgs, PickCommands, RouteArgs, StartArgs
from edge.jobs import schemas
from edge.store import Store, Tx

MAP = build(MapSection(layout=Layout(aisles=3, bays=4, levels=3)))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """An empty store with every migration applied."""
    store = Store(tmp_path / "db.sqlite", schemas={"catalog": catalog.STEPS, **schemas()})
    yield store
    store.close()


def _seed(tx: Tx) -> None:
    """Six LED labels bound to S0..S5, each located on a bay of its own."""
    bays = [p for p in MAP.places() if p.run is not None and p.level == 1]
    for n in range(6):
        tx.conn.execute("INSERT INTO esl_labels (id, esl_group, esl_id, leds, state, sku) VALUES (?, 0, ?, 1, 'ok', ?)",
                        (f"L{n}", n, f"S{n}"))
        tx.conn.execute("INSERT INTO esl_positions (label, run, bay, level, confidence) VALUES (?, ?, ?, 1, 1.0)",
                        (f"L{n}", bays[n * 3].run, bays[n * 3].bay))


async def test_an_unchanged_plan_is_taken_and_a_changed_one_is_planned_again(store: Store) -> None:
    async with asyncio.timeout(10):
        await store.write(_seed)
        commands = PickCommands(Picking(), store, MAP)

        first = StartArgs(order_id="o1", items=[{"sku": "S0"}, {"sku": "S1"}, {"sku": "S2"}])
        planned = await commands._prepare_start(first)
        assert planned is not None and [stop[0] for stop in planned.stops] == ["S0", "S1", "S2"]
        reply = await store.write(lambda tx: commands.start(tx, first, planned))
        assert reply["route"] is planned.walk["route"] and reply["located"] is True

        second = StartArgs(order_id="o2", items=[{"sku": "S3"}, {"sku": "S4"}])
        planned = await commands._prepare_start(second)
        await store.write(lambda tx: tx.conn.execute("UPDATE esl_labels SET sku = 'S4' WHERE id = 'L5'"))  # bound meanwhile
        reply = await store.write(lambda tx: commands.start(tx, second, planned))
        assert reply["route"] is not planned.walk["route"]
        assert [e["labels"] for e in reply["route"] if e["sku"] == "S4"] == [["L4", "L5"]]

        batch = RouteArgs(order_ids=["o1", "o2"])
        planned = await commands._prepare_route(batch)
        await store.write(lambda tx: commands.done(tx, DoneArgs(order_id="o1", sku="S0")))  # picked meanwhile
        reply = await store.write(lambda tx: commands.route(tx, batch, planned))
        assert [o["order_id"] for o in reply["orders"]] == ["o1", "o2"]
        assert {e["sku"] for e in reply["route"]} == {"S1", "S2", "S3", "S4"}

        assert await commands._prepare_route(RouteArgs(order_ids=["nope"])) is None  # the transaction replies not_found
