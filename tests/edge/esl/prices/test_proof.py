"""The shelf = catalogue proof: a clean store proves clean, stale and misplaced labels are caught, listed and pushed
again, the daily proof runs once a day across restarts, `price.audit` on demand and its bad arguments, the report."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from edge import catalog
from edge.esl.prices import audit, proof
from edge.esl.prices.audit import Shown
from edge.esl.prices.proof import PriceProof
from edge.jobs import schemas
from edge.store import Store
from tests.edge.esl.jobkit import PRODUCTS, Running, running
from tests.edge.esl.prices.test_pushing import shown_digest

SHANGHAI = ZoneInfo("Asia/Shanghai")


async def bound(d: Running, n: int = 6) -> list[str]:
    """Bind the first `n` labels to PRODUCTS and wait until every one shows its image; their ids."""
    assert (await d.request("product.upsert", {"items": PRODUCTS}))["ok"]
    ids = [x["id"] for x in (await d.request("label.list", {"limit": n}))["result"]["labels"]]
    for label, product in zip(ids, PRODUCTS):
        assert (await d.request("label.bind", {"label": label, "sku": product["sku"]}))["ok"]
    await d.wait(lambda: {e["data"]["label"] for e in d.events("label.updated")} >= set(ids))
    await d.wait(lambda: d.db("SELECT count(*) FROM esl_work")[0][0] == 0)
    return ids


async def prove(d: Running, **args: Any) -> dict[str, Any]:
    """`price.audit` that must succeed, and its report written."""
    reply = await d.request("price.audit", args)
    assert reply["ok"], reply
    result = reply["result"]
    await d.wait(lambda: [e for e in d.events("report.ready") if e["data"].get("proof") == result["proof"]])
    return dict(result)


def rows(path: str) -> list[dict[str, str]]:
    """A report CSV's rows."""
    return list(csv.DictReader(io.StringIO(Path(path).read_text(encoding="utf-8"))))


async def test_a_clean_store_proves_clean_with_the_chain_head_and_a_report(broker, tmp_path):
    async with running(broker.port, tmp_path / "data") as d:
        ids = await bound(d)
        result = await prove(d)
        assert (result["labels"], result["ok"], result["failing"], result["requeued"]) == (6, 6, 0, 0)
        assert result["counts"]["content"]["ok"] == 6 and result["counts"]["audit"]["ok"] == 6
        assert result["counts"]["place"]["unknown"] == 6 and result["failures"] == [] and result["kind"] == "on_demand"
        head = d.db("SELECT id, hash FROM esl_price_audit ORDER BY id DESC LIMIT 1")[0]
        assert result["chain"] == {"id": head[0], "hash": head[1]}
        event = [e["data"] for e in d.events("price.audit")]
        assert event == [result]
        ready = next(e["data"] for e in d.events("report.ready"))
        assert ready["kind"] == "price_proof" and ready["html"] == result["html"] and ready["labels"] == 6
        assert Path(result["html"]).parent == tmp_path / "data" / "reports" and rows(result["csv"]) == []
        page = Path(result["html"]).read_text(encoding="utf-8")
        assert "全部通过" in page and head[1] in page and "<script" not in page
        one = await prove(d, label=ids[2])
        assert (one["labels"], one["failing"], one["filter"]) == (1, 0, {"label": ids[2]})
        by_sku = await prove(d, sku=PRODUCTS[1]["sku"])
        assert by_sku["labels"] == 1 and by_sku["ok"] == 1


async def test_a_label_left_stale_while_unreachable_is_caught_listed_and_pushed_again(broker, tmp_path):
    async with running(broker.port, tmp_path / "data") as d:
        ids = await bound(d)
        away = d.job.fleet.label(ids[0])
        away.in_range = False
        item = {"sku": PRODUCTS[0]["sku"], "price": "11.11"}
        assert (await d.request("price.update", {"items": [item]}))["ok"]
        await d.wait(lambda: [e for e in d.events("label.failed") if e["data"]["label"] == ids[0] and not e["data"]["will_retry"]])
        away.in_range = True  # back, but the pusher gave up on it: it shows yesterday's price
        old = shown_digest(d.job, ids[0])
        await d.app.store.write(lambda tx: tx.conn.execute(
            "UPDATE esl_labels SET shown_digest = ? WHERE id = ?", ("f" * 64, ids[1])))  # recorded as showing something else

        result = await prove(d)
        assert (result["labels"], result["failing"], result["requeued"]) == (6, 2, 2)
        failures = {f["label"]: f for f in result["failures"]}
        assert set(failures) == {ids[0], ids[1]}
        assert failures[ids[0]]["content"] == "stale" and failures[ids[0]]["shown_digest"] == old
        assert failures[ids[0]]["requeued"] and failures[ids[0]]["expected_digest"] != old
        assert failures[ids[1]]["content"] == "stale" and failures[ids[1]]["audit"] == "differs"
        listed = {r["label"]: r for r in rows(result["csv"])}
        assert set(listed) == {ids[0], ids[1]} and listed[ids[0]]["requeued"] == "true"
        assert ids[0] in Path(result["html"]).read_text(encoding="utf-8")

        fixed = await d.wait(lambda: [e for e in d.events("label.updated") if e["data"]["label"] == ids[0] and e["data"]["price"] == "11.11"])
        assert fixed[0]["data"]["digest"] == failures[ids[0]]["expected_digest"] == shown_digest(d.job, ids[0])
        await d.wait(lambda: d.db("SELECT count(*) FROM esl_work")[0][0] == 0)
        again = await prove(d)
        assert again["failing"] == 0, again["failures"]


async def test_an_image_the_audit_trail_does_not_record_is_pushed_again(broker, tmp_path):
    async with running(broker.port, tmp_path / "data") as d:
        ids = await bound(d, 2)
        shown = d.db("SELECT shown_digest FROM esl_labels WHERE id = ?", ids[0])[0][0]
        await d.app.store.write(lambda tx: audit.record(tx, Shown(ids[0], PRODUCTS[0]["sku"], "e" * 64, "x", "kg", "1.00"),
                                                         datetime.now(UTC)))
        result = await prove(d)
        (finding,) = result["failures"]
        assert (finding["label"], finding["content"], finding["audit"], finding["requeued"]) == (ids[0], "ok", "differs", True)
        await d.wait(lambda: d.db("SELECT digest FROM esl_price_audit WHERE label = ? ORDER BY id DESC LIMIT 1", ids[0])[0][0] == shown)
        await d.wait(lambda: d.db("SELECT count(*) FROM esl_work")[0][0] == 0)
        assert (await prove(d))["failing"] == 0


async def test_a_misplaced_label_is_listed_and_not_pushed(broker, tmp_path):
    async with running(broker.port, tmp_path / "data") as d:
        ids = await bound(d, 3)

        def places(tx: Any) -> None:
            """Label 0 found in bay 3 of A while its product belongs in bay 5; label 1 where it belongs (another level)."""
            for label, bay, level in ((ids[0], 3, 2), (ids[1], 4, 1)):
                tx.conn.execute("INSERT INTO esl_positions (label, run, bay, level, confidence, located_at)"
                                " VALUES (?, 'A01L', ?, ?, 0.9, 'x')", (label, bay, level))
            for sku, bay in ((PRODUCTS[0]["sku"], 5), (PRODUCTS[1]["sku"], 4)):
                tx.conn.execute("INSERT INTO esl_planogram (sku, run, bay, level, set_at) VALUES (?, 'A01L', ?, 3, 'x')", (sku, bay))

        await d.app.store.write(places)
        pushes = len(d.events("label.updated"))
        result = await prove(d)
        assert result["counts"]["place"] == {"ok": 1, "misplaced": 1, "unknown": 1}
        (finding,) = result["failures"]
        assert (finding["label"], finding["place"], finding["content"], finding["requeued"]) == (ids[0], "misplaced", "ok", False)
        assert finding["expected_place"] == {"run": "A01L", "bay": 5, "level": 3}
        assert finding["found_place"] == {"run": "A01L", "bay": 3, "level": 2}
        assert result["requeued"] == 0 and d.db("SELECT count(*) FROM esl_work")[0][0] == 0
        assert rows(result["csv"])[0]["place"] == "misplaced" and len(d.events("label.updated")) == pushes


async def test_the_daily_proof_runs_once_a_day_also_across_a_restart(broker, tmp_path):
    async with running(broker.port, tmp_path / "data", price_proof={"hour": 0}) as d:
        await bound(d, 2)
        await d.job.proof.daily()
        await d.job.proof.daily()
        daily = await d.wait(lambda: [e["data"] for e in d.events("price.audit")])
        assert len(daily) == 1 and daily[0]["kind"] == "daily" and daily[0]["labels"] == 2
        assert Path(daily[0]["html"]).name == f"price-proof-{daily[0]['day']}.html"
        await d.wait(lambda: d.events("report.ready"))
    async with running(broker.port, tmp_path / "data", price_proof={"hour": 0}) as d:
        await d.job.proof.daily()
        assert d.db("SELECT kind, count(*) FROM esl_price_proofs GROUP BY kind") == [("daily", 1)]
        assert d.db("SELECT report FROM esl_price_proofs") == [("written",)]


async def test_on_demand_bad_arguments(broker, tmp_path, monkeypatch: pytest.MonkeyPatch):
    async with running(broker.port, tmp_path / "data") as d:
        ids = await bound(d, 3)
        for args, code, field in (
            ({"label": "not a label!"}, "invalid_argument", "label"), ({"sku": 7}, "invalid_argument", "sku"),
            ({"shelf": "A"}, "invalid_argument", "shelf"), ({"label": "AA:BB:CC:DD:EE:FF"}, "not_found", "label"),
            ({"sku": "NOPE"}, "not_found", "sku"),
        ):
            reply = await d.request("price.audit", args)
            assert reply["error"]["code"] == code and reply["error"]["message"].startswith(field), (args, reply)
        monkeypatch.setattr(proof, "ON_DEMAND_MAX", 2)
        big = await d.request("price.audit", {})
        assert big["error"]["code"] == "invalid_argument" and "3 bound labels match" in big["error"]["message"]
        assert (await d.request("price.audit", {"label": ids[0], "sku": PRODUCTS[1]["sku"]}))["result"]["labels"] == 0
        await d.wait(lambda: d.events("price.audit"))
        assert d.db("SELECT count(*) FROM esl_price_proofs")[0][0] == 1 and len(d.events("price.audit")) == 1


@pytest.fixture
async def bare(tmp_path: Path) -> AsyncIterator[Store]:
    """A store with the catalogue's and the jobs' tables and no daemon."""
    store = await asyncio.to_thread(Store, tmp_path / "s.db", schemas={"catalog": catalog.STEPS, **schemas()})
    yield store
    await store.aclose()


async def test_the_daily_proof_waits_for_its_local_hour(bare: Store, tmp_path: Path) -> None:
    now = [datetime(2026, 11, 24, 21, 59, tzinfo=UTC)]  # 05:59 in Shanghai
    pool = ThreadPoolExecutor(max_workers=1)
    checker = PriceProof(bare, pool, "https://x/", None, SHANGHAI, tmp_path / "reports", "s", 6, 30, clock=lambda: now[0])
    await checker.daily()
    assert await bare.read(lambda db: db.execute("SELECT count(*) FROM esl_price_proofs").fetchone()[0]) == 0
    now[0] = datetime(2026, 11, 24, 22, 0, tzinfo=UTC)
    await checker.daily()
    await checker.daily()
    found = await bare.read(lambda db: db.execute("SELECT kind, day, labels FROM esl_price_proofs").fetchall())
    assert found == [("daily", "2026-11-25", 0)]  # the store's day, not UTC's
    pool.shutdown()
