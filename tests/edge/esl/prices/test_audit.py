"""The price audit trail: hash-chained rows, a tampered row found, retention from an anchor, CSV export, commands."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import json
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from edge import catalog
from edge.esl.prices import audit
from edge.esl.prices.audit import PriceAudit, Shown
from edge.jobs import schemas
from edge.store import Store
from edge.sync.commands import CommandRegistry, Dispatcher
from tests.conftest import wait_online
from tests.edge.esl.jobkit import PRODUCTS, running
from tests.edge.esl.prices.test_push_restart import LABELS, esl_section
from tests.edge.sync.test_delivery import daemon_dir

START = datetime(2026, 11, 1, 2, 0, tzinfo=UTC)


class Trail:
    """A store with the audit trail's commands on the real dispatcher."""

    def __init__(self, store: Store) -> None:
        """Register the commands with a retention of 30 days."""
        self.store = store
        self.now = START
        self.audit = PriceAudit(store, 30, clock=lambda: self.now)
        registry = CommandRegistry()
        self.audit.register(registry)
        self.dispatcher = Dispatcher(registry, store)
        self.ids = 0

    async def send(self, command: str, **args: Any) -> dict[str, Any]:
        """The reply to one request (a fresh id each time)."""
        self.ids += 1
        return await self.dispatcher.handle(command, json.dumps({"id": f"q{self.ids}", **args}).encode())

    async def ok(self, command: str, **args: Any) -> dict[str, Any]:
        """The result of a request that must succeed."""
        reply = await self.send(command, **args)
        assert reply["ok"], reply
        return dict(reply["result"])

    async def shown(self, n: int, **fields: Any) -> list[int]:
        """Record `n` acknowledgements a second apart (labels L0.., product A1 at 12.80 unless told)."""
        def write(tx: Any) -> list[int]:
            ids = []
            for k in range(n):
                row = {"label": f"L{k % 3}", "sku": "A1", "digest": f"{k:064x}", "name": "红富士苹果", "unit": "500g", "price": "12.80"}
                ids.append(audit.record(tx, Shown(**{**row, **fields}), self.now))
                self.now += timedelta(seconds=1)
            return ids
        return await self.store.write(write)


@pytest.fixture
async def trail(tmp_path: Path) -> AsyncIterator[Trail]:
    """A fresh store with the catalogue's and the jobs' tables."""
    store = await asyncio.to_thread(Store, tmp_path / "s.db", schemas={"catalog": catalog.STEPS, **schemas()})
    yield Trail(store)
    await store.aclose()


def _connect(trail: Trail) -> sqlite3.Connection:
    """sqlite3 on the store's file, as someone editing it by hand would."""
    return sqlite3.connect(trail.store.path)


def test_a_rows_hash_is_sha256_over_the_previous_hash_and_its_canonical_json() -> None:
    row = {c: None for c in audit.COLUMNS} | {"id": 1, "label": "L1", "sku": "A1", "name": "苹果", "price": "12.80"}
    text = json.dumps({c: row[c] for c in sorted(audit.COLUMNS)}, separators=(",", ":"), ensure_ascii=False)
    assert text.startswith('{"acknowledged_at":null,"checks":null,"digest":null,"history_id":null,"id":1,')
    assert audit.chain_hash(audit.GENESIS, row) == hashlib.sha256((audit.GENESIS + text).encode()).hexdigest()


async def test_rows_chain_and_verify_and_an_edit_or_removal_is_found(trail: Trail) -> None:
    ids = await trail.shown(6)
    assert ids == [1, 2, 3, 4, 5, 6]
    result = await trail.ok("price.audit.verify")
    assert result["intact"] and result["checked"] == 6 and result["broken"] is None
    assert result["anchor"] == {"id": 0, "hash": audit.GENESIS} and result["head"]["id"] == 6

    conn = _connect(trail)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("UPDATE esl_price_audit SET price = '9.90' WHERE id = 3")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("DELETE FROM esl_price_audit WHERE id = 1")
    # Someone with the file drops the triggers and edits history.
    conn.execute("DROP TRIGGER esl_price_audit_no_update")
    conn.execute("DROP TRIGGER esl_price_audit_no_delete")
    conn.execute("UPDATE esl_price_audit SET price = '9.90' WHERE id = 3")
    conn.commit()
    broken = (await trail.ok("price.audit.verify"))
    assert not broken["intact"] and broken["checked"] == 2 and broken["broken"]["id"] == 3 and "edited" in broken["broken"]["problem"]

    # ... and recomputes that row's hash: the next row no longer links to it.
    cols = ", ".join(audit.COLUMNS)
    row = dict(zip(audit.COLUMNS, conn.execute(f"SELECT {cols} FROM esl_price_audit WHERE id = 3").fetchone()))
    prev = conn.execute("SELECT hash FROM esl_price_audit WHERE id = 2").fetchone()[0]
    conn.execute("UPDATE esl_price_audit SET hash = ? WHERE id = 3", (audit.chain_hash(prev, row),))
    conn.commit()
    broken = await trail.ok("price.audit.verify")
    assert broken["broken"]["id"] == 4 and "row 3" in broken["broken"]["problem"]

    conn.execute("DELETE FROM esl_price_audit WHERE id = 5")
    conn.commit()
    paged = await trail.ok("price.audit.verify", cursor="4")  # from a checked row on: the removal is found
    assert paged["broken"] == {"id": 6, "problem": "rows 5-5 are missing (deleted)"}
    conn.close()


async def test_verify_pages_and_refuses_an_unknown_cursor(trail: Trail) -> None:
    await trail.shown(5)
    first = await trail.ok("price.audit.verify", limit=2)
    assert first["checked"] == 2 and first["next_cursor"] == "2"
    rest = await trail.ok("price.audit.verify", limit=10, cursor=first["next_cursor"])
    assert rest["intact"] and rest["checked"] == 3 and rest["next_cursor"] is None and rest["head"]["id"] == 5
    missing = await trail.send("price.audit.verify", cursor="99")
    assert missing["error"]["code"] == "not_found" and "cursor" in missing["error"]["message"]
    bad = await trail.send("price.audit.verify", limit=100_001)
    assert bad["error"]["code"] == "invalid_argument" and "limit" in bad["error"]["message"]


async def test_retention_prunes_the_oldest_rows_from_a_kept_anchor_only(trail: Trail) -> None:
    await trail.shown(4)
    trail.now += timedelta(days=31)
    await trail.shown(3)  # ids 5-7 are recent
    assert await trail.audit.prune() == 4
    assert await trail.audit.prune() == 0
    result = await trail.ok("price.audit.verify")
    assert result["intact"] and result["checked"] == 3 and result["anchor"]["id"] == 4
    assert await trail.shown(1) == [8]  # ids never repeat, the chain goes on from the anchor
    assert (await trail.ok("price.audit.verify"))["checked"] == 4

    conn = _connect(trail)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("DELETE FROM esl_price_audit WHERE id = 5")  # past the anchor: not a prune
    with pytest.raises(sqlite3.IntegrityError, match="anchor"):
        conn.execute("INSERT INTO esl_price_audit_pruned (upto, hash, rows, pruned_at) VALUES (6, 'x', 1, 'now')")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("DELETE FROM esl_price_audit_pruned")
    conn.close()


async def test_the_prune_is_bounded_per_write(trail: Trail, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(audit, "PRUNE_ROWS", 2)
    await trail.shown(5)
    trail.now += timedelta(days=31)
    await trail.shown(1)
    assert await trail.audit.prune() == 5
    anchors = await trail.store.read(lambda db: db.execute("SELECT upto, rows FROM esl_price_audit_pruned ORDER BY id").fetchall())
    assert anchors == [(2, 2), (4, 2), (5, 1)]
    assert (await trail.ok("price.audit.verify"))["intact"]


async def test_export_pages_by_time_label_and_product_as_csv(trail: Trail) -> None:
    await trail.shown(6)
    await trail.shown(2, sku="B2", name="=HYPERLINK(\"http://x\")", price="3.50")
    page = await trail.ok("price.audit.export", limit=4)
    rows = list(csv.DictReader(io.StringIO(page["csv"])))
    assert page["rows"] == 4 and page["next_cursor"] == "4" and [r["id"] for r in rows] == ["1", "2", "3", "4"]
    assert list(rows[0]) == [*audit.COLUMNS, "prev_hash", "hash"] and rows[0]["prev_hash"] == audit.GENESIS
    assert rows[0]["acknowledged_at"] == "2026-11-01T02:00:00.000Z" and rows[0]["promo_price"] == ""
    rest = await trail.ok("price.audit.export", limit=100, cursor=page["next_cursor"])
    tail = list(csv.DictReader(io.StringIO(rest["csv"])))
    assert [r["id"] for r in tail] == ["5", "6", "7", "8"] and rest["next_cursor"] is None
    assert tail[-1]["name"] == "'=HYPERLINK(\"http://x\")"  # a spreadsheet does not run it

    window = await trail.ok("price.audit.export", **{"from": "2026-11-01T02:00:01Z", "to": "2026-11-01T02:00:04Z"})
    assert [r["id"] for r in csv.DictReader(io.StringIO(window["csv"]))] == ["2", "3", "4"]
    label = await trail.ok("price.audit.export", label="L1")
    assert [r["id"] for r in csv.DictReader(io.StringIO(label["csv"]))] == ["2", "5", "8"]
    sku = await trail.ok("price.audit.export", sku="B2")
    assert [r["id"] for r in csv.DictReader(io.StringIO(sku["csv"]))] == ["7", "8"]
    none = await trail.ok("price.audit.export", **{"from": "2027-01-01T00:00:00Z"})
    assert none["rows"] == 0 and none["csv"].count("\r\n") == 1

    backwards = await trail.send("price.audit.export", **{"from": "2026-11-02T00:00:00Z", "to": "2026-11-01T00:00:00Z"})
    assert backwards["error"]["code"] == "invalid_argument" and "'to' must be later" in backwards["error"]["message"]
    for bad in ({"limit": 501}, {"label": "x" * 200}, {"sku": "no spaces"}, {"cursor": "-1"}, {"from": "yesterday"}):
        reply = await trail.send("price.audit.export", **bad)
        assert reply["error"]["code"] == "invalid_argument", (bad, reply)
        assert next(iter(bad)) in reply["error"]["message"]


@pytest.mark.both_radios
async def test_each_acknowledged_price_is_audited_with_its_command_checks_digest_and_place(broker, tmp_path):
    async with running(broker.port, tmp_path / "data") as d:
        assert (await d.request("product.upsert", {"items": PRODUCTS[:1], "sender": "hq-pricing"}))["ok"]
        label = (await d.request("label.list", {"limit": 1}))["result"]["labels"][0]["id"]
        await d.app.store.write(lambda tx: (
            tx.conn.execute("INSERT INTO esl_positions (label, run, bay, level, confidence, located_at) VALUES (?, 'A', 3, 2, 0.9, 'x')", (label,)),
            tx.conn.execute("INSERT INTO esl_planogram (sku, run, bay, set_at) VALUES (?, 'A', 3, 'x')", (PRODUCTS[0]["sku"],)),
        ))
        assert (await d.request("label.bind", {"label": label, "sku": PRODUCTS[0]["sku"]}))["ok"]
        await d.wait(lambda: d.events("label.updated"))
        promo = {"sku": PRODUCTS[0]["sku"], "price": "12.80", "promo_price": "9.90"}
        reply = await asyncio.to_thread(d.hq.request, "price.update", {"items": [promo], "sender": "活动中心"}, "pu-77", 15.0)
        assert reply["ok"], reply
        await d.wait(lambda: len(d.events("label.updated")) >= 2)
        updated = [e["data"] for e in d.events("label.updated")]

        page = (await d.request("price.audit.export", {"label": label}))["result"]
        rows = list(csv.DictReader(io.StringIO(page["csv"])))
        assert [r["digest"] for r in rows] == [u["digest"] for u in updated]
        first, second = rows
        assert (first["price"], first["promo_price"], first["sender"]) == ("12.80", "", "hq-pricing")
        assert json.loads(first["checks"]) == dict.fromkeys((  # the label content rules it passed (issue 15 item 2)
            "pricing_unit", "name_required", "chinese_text", "simplified_chinese", "renders", "price_numerals", "name_shown",
            "spec_origin_shown", "unit_price_shown", "distinct_names"), "passed")
        assert first["request_id"] and first["history_id"]
        assert (second["promo_price"], second["request_id"], second["sender"]) == ("9.90", "pu-77", "活动中心")
        assert json.loads(second["checks"]) == {"no_history": "plain", **dict.fromkeys(  # under a day of prices: no 原价
            ("renders", "price_numerals", "unit_price_shown", "distinct_names"), "passed")}
        assert json.loads(second["position"]) == {"run": "A", "bay": 3, "level": 2, "confidence": 0.9, "located_at": "x"}
        assert json.loads(second["planogram"]) == {"run": "A", "bay": 3}
        assert second["label"] == label and second["name"] == PRODUCTS[0]["name"] and second["prev_hash"] == first["hash"]
        assert (await d.request("price.audit.verify", {}))["result"]["checked"] == 2


def test_kill_9_during_pushes_never_loses_or_reorders_an_entry(broker, daemon_factory, hq_factory):
    daemon = daemon_factory(broker.url, esl=esl_section()).start()
    hq = hq_factory(broker.port)
    wait_online(hq, timeout=30)

    def acknowledged() -> list[dict[str, Any]]:
        """The `label.updated` events received, once each, in the order they were recorded."""
        return sorted({e["id"]: e for e in hq.events("label.updated")}.values(), key=lambda e: e["seq"])

    hq.wait(lambda _: len(acknowledged()) >= 10, timeout=30)
    daemon.kill()  # SIGKILL in the middle of the first refresh
    assert len(acknowledged()) < LABELS, "the refresh finished before the kill; slow the radio down"
    daemon.start()
    wait_online(hq, count=2, timeout=30)
    hq.wait(lambda _: len(acknowledged()) >= LABELS, timeout=40)
    db = sqlite3.connect(daemon_dir(daemon) / "store-edge.db")
    prices = db.execute("SELECT sku, price FROM products ORDER BY sku").fetchall()
    items = [{"sku": sku, "price": f"{Decimal(price) + 1:.2f}"} for sku, price in prices]
    reply = hq.request("price.update", {"items": items, "sender": "hq-pricing"}, "wave-2", 15.0)
    assert reply["ok"], reply
    hq.wait(lambda _: len(acknowledged()) >= LABELS + 10, timeout=30)
    daemon.kill()  # and again in the middle of the re-push
    assert len(acknowledged()) < 2 * LABELS, "the re-push finished before the kill; slow the radio down"
    daemon.start()
    wait_online(hq, count=3, timeout=30)
    hq.wait(lambda _: len(acknowledged()) >= 2 * LABELS, timeout=40)
    verified = hq.request("price.audit.verify", {}, None, 15.0)["result"]

    rows = db.execute("SELECT id, label, digest, acknowledged_at, price, request_id, sender FROM esl_price_audit ORDER BY id").fetchall()
    events = acknowledged()
    assert verified["intact"] and verified["checked"] == len(rows) == len(events) == 2 * LABELS
    assert [r[0] for r in rows] == list(range(1, len(rows) + 1))
    assert [(r[1], r[2]) for r in rows] == [(e["data"]["label"], e["data"]["digest"]) for e in events], "every entry, in order"
    assert [r[3] for r in rows] == sorted(r[3] for r in rows)
    shown = dict(db.execute("SELECT id, shown_digest FROM esl_labels"))
    assert {r[1]: r[2] for r in rows} == shown  # each label's newest entry is the image it shows
    new = {f"{Decimal(p) + 1:.2f}" for _, p in prices}
    assert all((r[5], r[6]) == ("wave-2", "hq-pricing") for r in rows[LABELS:]) and all(r[4] in new for r in rows[LABELS:])
    assert all(r[5] is None for r in rows[:LABELS])  # the demo store is loaded by the job itself, not by a command
    db.close()
    daemon.terminate()


async def test_each_labels_last_acknowledged_entry_is_found_for_the_daily_proof(trail: Trail) -> None:
    await trail.shown(5)  # L0, L1, L2, L0, L1
    found = await trail.store.read(lambda db: audit.last_shown(db.conn, ["L0", "L1", "L2", "L9"]))
    assert {label: row["id"] for label, row in found.items()} == {"L0": 4, "L1": 5, "L2": 3}
    assert found["L0"]["digest"] == f"{3:064x}" and found["L0"]["price"] == "12.80"
