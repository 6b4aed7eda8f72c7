"""Price history: one row per change, in order, never updated, kept as long as needed, and read back as intervals."""

from __future__ import annotations

import asyncio
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from edge import catalog
from edge.prices import history
from edge.prices.history import Entry
from edge.store import Store
from tests.edge.prices.conftest import APPLE, MILK, START, Clock, Shop, open_shop

SHANGHAI = ZoneInfo("Asia/Shanghai")
REPO = Path(__file__).resolve().parents[3]


def at(**delta: float) -> str:
    """START moved on, as the history writes it."""
    return history.stamp(START + timedelta(**delta))


def test_a_promotion_ends_at_the_stores_midnight_after_its_last_day() -> None:
    promo = Entry("A1", START, Decimal("12.80"), Decimal("9.90"), date(2026, 11, 3))
    later = Entry("A1", START + timedelta(days=5), Decimal("11.80"))
    found = history.intervals([promo, later], SHANGHAI)
    ends = datetime(2026, 11, 3, 16, 0, tzinfo=UTC)  # 2026-11-04 00:00 in Shanghai
    assert [(i.start, i.end, i.charged, i.after_promotion) for i in found] == [
        (START, ends, Decimal("9.90"), False), (ends, later.valid_from, Decimal("12.80"), True), (later.valid_from, None, Decimal("11.80"), False),
    ]
    assert history.lowest(found, ends, later.valid_from) == Decimal("12.80")
    assert history.lowest(found, START - timedelta(days=1), START) is None  # nothing was in force before the first row
    assert history.lowest(found, START, ends + timedelta(seconds=1)) == Decimal("9.90")
    running = history.intervals([promo], SHANGHAI, now=START + timedelta(days=1))  # its end is still to come: not listed yet
    assert [(i.end, i.charged) for i in running] == [(None, Decimal("9.90"))]
    forever = Entry("A1", START, Decimal("12.80"), Decimal("9.90"), date.max)  # the last day there is: no overflow, never ends
    assert history.intervals([forever], SHANGHAI)[0].end is None and forever.promotion_at(datetime.max.replace(tzinfo=UTC), SHANGHAI)
    over = Entry("A1", START, Decimal("12.80"), Decimal("9.90"), date(2026, 10, 1))  # ended before it was set: regular price
    assert [(i.charged, i.after_promotion) for i in history.intervals([over], SHANGHAI)] == [(Decimal("12.80"), True)]


async def test_every_change_is_one_row_in_order_and_no_row_is_ever_updated(shop: Shop, clock: Clock) -> None:
    await shop.ok("product.upsert", items=[APPLE, MILK])
    clock.advance(hours=1)
    await shop.ok("price.update", items=[{"sku": "A1", "price": "11.80"}])
    when = START + timedelta(hours=3)
    scheduled = await shop.ok("price.update", items=[{"sku": "M1", "price": "3.20", "effective_at": history.stamp(when)}])
    change_id = scheduled["scheduled"][0]["change_id"]
    clock.now = when
    await asyncio.wait_for(shop.catalog._apply_change(change_id), 10)
    await asyncio.wait_for(shop.catalog._apply_change(change_id), 10)  # the job firing twice writes one row
    clock.advance(hours=-2)  # the clock steps back: a new row never takes effect before the one it follows
    await shop.ok("price.update", items=[{"sku": "M1", "price": "3.30"}])

    rows = await shop.rows()
    assert [(r["sku"], r["kind"], r["price"], r["valid_from"], r["change_id"]) for r in rows] == [
        ("A1", "upsert", "12.80", at(), None), ("M1", "upsert", "3.50", at(), None),
        ("A1", "immediate", "11.80", at(hours=1), None), ("M1", "scheduled", "3.20", at(hours=3), change_id),
        ("M1", "immediate", "3.30", at(hours=3), None),
    ]
    assert [r["id"] for r in rows] == sorted({r["id"] for r in rows})
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        await shop.store.write(lambda tx: tx.conn.execute("UPDATE price_history SET price = '0.01' WHERE sku = 'A1'"))
    assert [r["price"] for r in await shop.rows("A1")] == ["12.80", "11.80"]


async def test_price_history_lists_intervals_a_page_at_a_time(shop: Shop, clock: Clock) -> None:
    await shop.ok("product.upsert", items=[APPLE])
    clock.advance(days=2)
    await shop.ok("price.update", items=[{"sku": "A1", "price": "12.80", "promo_price": "9.90", "promo_end": "2026-11-03"}])
    clock.advance(days=3)
    await shop.ok("price.update", items=[{"sku": "A1", "price": "11.80"}])
    everything = await shop.ok("price.history", sku="A1")
    ends = "2026-11-03T16:00:00.000Z"
    assert [(i["kind"], i["valid_from"], i["valid_to"], i["charged"], i["promo_base"]) for i in everything["intervals"]] == [
        ("upsert", at(), at(days=2), "12.80", None), ("immediate", at(days=2), ends, "9.90", "12.80"),
        ("promo_end", ends, at(days=5), "12.80", None), ("immediate", at(days=5), None, "11.80", None),
    ]
    assert everything["next_cursor"] is None and everything["intervals"][1]["promo_end"] == "2026-11-03"

    pages, cursor = [], None
    for _ in range(10):
        page = await shop.ok("price.history", sku="A1", limit=1, **({"cursor": cursor} if cursor else {}))
        pages += page["intervals"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == everything["intervals"]

    window = await shop.ok("price.history", sku="A1", **{"from": "2026-11-03T10:00:00Z", "to": "2026-11-03T20:00:00+00:00"})
    assert [i["kind"] for i in window["intervals"]] == ["immediate", "promo_end"]
    late = await shop.ok("price.history", sku="A1", **{"from": "2030-01-01T00:00:00Z"})
    assert [i["charged"] for i in late["intervals"]] == ["11.80"]  # the price still in force

    for args, words in (
        ({"sku": "A1", "limit": 1001}, "limit"), ({"sku": "A1", "limit": 0}, "limit"), ({"sku": "A1", "cursor": "x"}, "cursor"),
        ({"sku": "A1", "from": "2026-11-05T00:00:00Z", "to": "2026-11-04T00:00:00Z"}, "'to' must be later"),
        ({"sku": "A1", "from": "2026-11-05T00:00:00"}, "from: must include a time zone"), ({"sku": "A1", "from_": "x"}, "from_"),
        ({"sku": "A1" * 40}, "sku"), ({}, "sku"),
    ):
        reply = await shop.send("price.history", **args)
        assert reply["error"]["code"] == "invalid_argument" and words in reply["error"]["message"], (args, reply)
    assert (await shop.send("price.history", sku="NOPE"))["error"] == {"code": "not_found", "message": "sku: unknown product 'NOPE'"}


async def test_history_older_than_needed_is_pruned_but_never_the_price_still_in_force(shop: Shop, clock: Clock, monkeypatch) -> None:
    monkeypatch.setattr(catalog, "PRUNE_ROWS", 3)  # several bounded writes
    await shop.ok("product.upsert", items=[APPLE, MILK])
    for day in range(1, 41):
        clock.now = START + timedelta(days=day)
        await shop.ok("price.update", items=[{"sku": "A1", "price": f"{20 + day}.00"}])
    clock.now = START + timedelta(days=45)
    assert await shop.catalog.prune() == 15  # kept: max(history_days 30, lookback_days 7) = 30 days back from day 45
    assert [r["valid_from"] for r in await shop.rows("A1")] == [at(days=d) for d in range(15, 41)]
    assert [r["price"] for r in await shop.rows("M1")] == ["3.50"]  # in force since START: still needed
    assert await shop.catalog.prune() == 0
    first = (await shop.ok("price.history", sku="A1", limit=1))["intervals"][0]
    assert (first["valid_from"], first["charged"]) == (at(days=15), "35.00")
    promo = await shop.ok("price.update", items=[{"sku": "A1", "price": "60.00", "promo_price": "50.00"}])
    assert "refused" not in promo and (await shop.product("A1"))["promo_base"] == "58.00"  # lowest in force in days 38-45


async def test_products_older_than_the_history_or_written_elsewhere_are_recorded(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "s.db"

    def before_the_history() -> None:
        """A store of the previous release: products, no price history."""
        old = Store(path, schemas={"catalog": catalog.STEPS[:1]})
        old.write_sync(lambda tx: tx.db["products"].insert(
            {**APPLE, "promo_price": "9.90", "promo_end": "2026-12-31", "updated_at": "2026-10-20T01:00:00.000Z", "revision": 1}))
        old.close()

    await asyncio.to_thread(before_the_history)
    shop = await asyncio.to_thread(open_shop, path, clock)
    try:
        assert [(r["kind"], r["valid_from"], r["promo_price"], r["promo_base"]) for r in await shop.rows()] == [
            ("seeded", "2026-10-20T01:00:00.000Z", "9.90", None)]
        # another part of the store (the scale's produce file) inserts a product without a command
        await shop.store.write(lambda tx: tx.db["products"].insert({**MILK, "unit": "piece", "sale_mode": "piece", "updated_at": at(hours=-1), "revision": 2}))
        listed = await shop.ok("price.history", sku="M1")
        assert [(i["kind"], i["valid_from"], i["charged"]) for i in listed["intervals"]] == [("seeded", at(hours=-1), "3.50")]
        clock.advance(hours=1)
        await shop.ok("price.update", items=[{"sku": "M1", "price": "3.20"}])
        assert [r["kind"] for r in await shop.rows("M1")] == ["seeded", "immediate"]
    finally:
        await shop.store.aclose()


WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from edge import catalog
    from edge.catalog import Catalog, PriceArgs, UpsertArgs
    from edge.config import parse_config
    from edge.scheduler import Scheduler
    from edge.store import Store
    from edge.sync.commands import CommandRegistry

    path, skus, batch = Path(sys.argv[1]), [f"K{n:04d}" for n in range(int(sys.argv[2]))], int(sys.argv[3])
    store = Store(path, schemas={"catalog": catalog.STEPS})
    registry = CommandRegistry()
    Catalog(store, Scheduler(path), parse_config({"store": {"id": "s1"}}, env={})).register(registry)
    if batch == 0:
        items = UpsertArgs.model_validate({"items": [{"sku": s, "name": "商品", "price": "1.00"} for s in skus]})
        store.write_sync(lambda tx: registry.get("product.upsert").handler(tx, items))
    update = registry.get("price.update").handler
    while True:
        args = PriceArgs.model_validate({"items": [{"sku": s, "price": f"{2 + batch // 100}.{batch % 100:02d}"} for s in skus]})
        store.write_sync(lambda tx: update(tx, args))
        print(batch, flush=True)  # acknowledged: committed before this line
        batch += 1
    """
)


def _price(batch: int) -> str:
    """The price the writer sets in batch `batch` (growing with it)."""
    return f"{2 + batch // 100}.{batch % 100:02d}"


def _write_until_killed(path: Path, skus: int, first: int) -> int:
    """Run the writer from batch `first`, kill it with SIGKILL mid-batch; returns the last acknowledged batch."""
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(skus), str(first)], stdout=subprocess.PIPE, text=True, cwd=REPO)
    assert proc.stdout is not None
    acked = int(proc.stdout.readline())  # the first batch is in; kill at an arbitrary instant after it
    time.sleep(random.uniform(0.3, 1.2))
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    for line in proc.stdout.read().split():
        acked = int(line)
    return acked


def test_kill_9_during_batches_never_loses_or_reorders_an_entry(tmp_path: Path) -> None:
    path, skus = tmp_path / "s.db", 500
    committed = -1
    for _ in range(2):
        acked = _write_until_killed(path, skus, committed + 1)
        conn = sqlite3.connect(path)
        prices: dict[str, list[str]] = {}
        stamps: dict[str, list[str]] = {}
        for sku, price, valid_from in conn.execute("SELECT sku, price, valid_from FROM price_history ORDER BY id"):
            prices.setdefault(sku, []).append(price)
            stamps.setdefault(sku, []).append(valid_from)
        final = dict(conn.execute("SELECT sku, price FROM products"))
        conn.close()
        assert len(prices) == skus
        runs = {len(p) for p in prices.values()}
        assert len(runs) == 1, "a batch is in the history whole or not at all"
        committed = runs.pop() - 2  # the upsert's row, then one per committed batch
        assert committed in (acked, acked + 1), (committed, acked)  # every acknowledged batch; at most the one being killed
        expected = ["1.00", *map(_price, range(committed + 1))]
        assert all(p == expected for p in prices.values()), "every entry, in order"
        assert all(s == sorted(s) for s in stamps.values())
        assert set(final.values()) == {expected[-1]}  # the catalogue agrees with the newest entry
