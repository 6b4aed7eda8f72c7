"""Shared learning over real Mosquitto with the real model: store A's examples exported, imported at store B, guarded and bounded."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import sqlite_utils

from edge.demo.hq import Hq
from edge.scale.recognition import stored
from edge.scale.schema import STEPS
from edge.store import Tx
from tests.conftest import wait_online
from tests.edge.scale.conftest import (
    dataset_image,
    needs_dataset,
    running,
    scale_config,
)


async def _ask(hq: Hq, name: str, body: dict, request_id: str | None = None) -> dict:
    return await asyncio.to_thread(hq.request, name, body, request_id, 30.0)


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


async def _kiwi_score(job: Any, query: bytes) -> float:
    """Store B's score for P-KIWI of a kiwi photo B has never seen (the embed call also waits for any queued gallery rebuild)."""
    [embedding] = await job.recognition.embed_enrolment([("query", query)])
    ids, sims, _ = job.gallery.scores(embedding)
    return float(sims[ids.index("P-KIWI")])


def _photos() -> tuple[list[str], str, bytes]:
    """Five kiwi photos store A enrols, a banana it mislabels as a kiwi, and the photo store B is asked about (one A learned)."""
    kiwis = [_b64(dataset_image("Kiwi", i)) for i in range(1, 6)]
    return kiwis, _b64(dataset_image("Banana", 0)), dataset_image("Kiwi", 1).read_bytes()


@needs_dataset
async def test_round_trip_a_to_hq_to_b_raises_b_score_and_refuses_poison(tmp_path: Path, broker, hq_factory) -> None:
    hq_a: Hq = hq_factory(broker.port, "sa")
    hq_b: Hq = hq_factory(broker.port, "sb")
    config_a = scale_config(tmp_path / "a", broker.url, None, store="sa", scales=[])
    config_b = scale_config(tmp_path / "b", broker.url, None, store="sb", scales=[])
    kiwis, banana, query = await asyncio.to_thread(_photos)
    async with running(config_a) as app_a, running(config_b) as app_b:
        await asyncio.to_thread(wait_online, hq_a)
        await asyncio.to_thread(wait_online, hq_b)
        job_b = app_b.jobs[0]
        version = app_a.jobs[0].model_version
        enrolled = await _ask(hq_a, "scale.enroll", {"sku": "P-KIWI", "images": [*kiwis, banana]})
        assert enrolled["ok"] and enrolled["result"]["added"] == 6, enrolled

        pages, after = [], 0
        while True:  # HQ pages through A's export with the cursor
            page = await _ask(hq_a, "scale.gallery.export", {"model_version": version, "after": after, "limit": 4, "crops": True})
            assert page["ok"], page
            pages.append(page["result"])
            after = page["result"]["next_after"]
            if not page["result"]["more"]:
                break
        exported = [e for p in pages for e in p["examples"]]
        assert len(pages) == 2 and len(exported) == 6 and {p["store"] for p in pages} == {"sa"}
        assert all(e["sku"] == "P-KIWI" and e["crop"] and e["source"] == "enroll" for e in exported)
        later = await _ask(hq_a, "scale.gallery.export", {"model_version": version, "since": "2099-01-01T00:00:00Z"})
        assert later["ok"] and later["result"]["examples"] == [] and later["result"]["more"] is False  # nothing learned since then
        other = await _ask(hq_a, "scale.gallery.export", {"model_version": "produce-other-v9"})
        assert other["ok"] and other["result"]["examples"] == []  # no example of another model version

        before = await _kiwi_score(job_b, query)
        body = {"model_version": version, "store": "sa", "examples": exported}
        imported = await _ask(hq_b, "scale.gallery.import", body)
        assert imported["ok"], imported
        result = imported["result"]
        assert (result["received"], result["added"], result["duplicates"]) == (6, 5, 0)
        assert result["refused"]["closer_to_other_product"] == 1  # the banana: nearer the banana prototype than the kiwi's
        after_score = await _kiwi_score(job_b, query)
        assert job_b.gallery.learned("P-KIWI") == 5
        assert after_score > before + 0.05 and after_score > 0.99, (before, after_score)  # the very photo A enrolled

        replay = await _ask(hq_b, "scale.gallery.import", body)  # a new request id, the same examples
        assert replay["ok"] and (replay["result"]["added"], replay["result"]["duplicates"]) == (0, 5)
        listed = await _ask(hq_b, "scale.gallery", {"sku": "P-KIWI"})
        assert listed["result"]["imported"] == {"sa": 5} and listed["result"]["products"][0]["stored"] == 5

        # B exports only what it learned itself, never what it imported (no echo round the fleet)
        echo = await _ask(hq_b, "scale.gallery.export", {"model_version": version})
        assert echo["ok"] and echo["result"]["examples"] == [] and echo["result"]["more"] is False

        # a crop that does not embed to the embedding it came with is refused
        forged = dict(exported[0], crop=exported[5]["crop"], embedding=exported[1]["embedding"])
        crop_check = await _ask(hq_b, "scale.gallery.import", {"model_version": version, "store": "sx", "examples": [forged]})
        assert crop_check["ok"] and crop_check["result"]["refused"]["crop_mismatch"] == 1 and crop_check["result"]["added"] == 0

        forgot = await _ask(hq_b, "scale.gallery.forget", {"store": "sa"})
        assert forgot["ok"] and forgot["result"] == {"store": "sa", "removed": 5, "products": ["P-KIWI"]}
        assert abs(await _kiwi_score(job_b, query) - before) < 1e-4  # back to the shipped gallery's score


def _vector(dim: int, dtype: str = "<f4", seed: int = 0) -> str:
    rng = np.random.default_rng(seed)
    v = rng.standard_normal(dim).astype(np.float32)
    return base64.b64encode((v / np.linalg.norm(v)).astype(dtype).tobytes()).decode()


async def test_bad_imports_are_refused_and_the_daemon_keeps_serving(tmp_path: Path, broker, hq_factory) -> None:
    hq: Hq = hq_factory(broker.port)
    config = scale_config(tmp_path / "data", broker.url, None, scales=[])
    async with running(config) as app:
        await asyncio.to_thread(wait_online, hq)
        job = app.jobs[0]
        version, dim = job.model_version, job.recognition.dim
        at = "2026-11-25T10:00:00Z"

        def one(**example: Any) -> dict[str, Any]:
            return {"model_version": version, "store": "s9",
                    "examples": [{"sku": "P-KIWI", "embedding": _vector(dim), "learned_at": at, **example}]}

        nan = np.full(dim, np.nan, np.float32).tobytes()
        long = np.ones(dim, np.float32) / np.sqrt(dim) * 3
        cases = {
            "other version": dict(one(), model_version="produce-other-v9"),
            "wrong dim": one(embedding=_vector(dim + 1)),
            "nan": one(embedding=base64.b64encode(nan).decode()),
            "not unit": one(embedding=base64.b64encode(long.astype(np.float32).tobytes()).decode()),
            "not base64": one(embedding="%%%"),
            "huge batch": dict(one(), examples=one()["examples"] * 65),
            "bad crop": one(crop=base64.b64encode(b"\xff\xd8\xff not a jpeg").decode()),
        }
        replies = {k: await _ask(hq, "scale.gallery.import", v) for k, v in cases.items()}
        codes = {k: (r["ok"], r["error"]["code"]) for k, r in replies.items()}
        assert codes == {
            "other version": (False, "conflict"),
            "wrong dim": (False, "invalid_argument"),
            "nan": (False, "invalid_argument"),
            "not unit": (False, "invalid_argument"),
            "not base64": (False, "invalid_argument"),
            "huge batch": (False, "invalid_argument"),
            "bad crop": (False, "invalid_argument"),
        }
        assert "this store runs" in replies["other version"]["error"]["message"]
        assert replies["wrong dim"]["error"]["message"].startswith("examples[0].embedding:")
        assert "not finite" in replies["nan"]["error"]["message"]
        assert "norm" in replies["not unit"]["error"]["message"]

        unknown = await _ask(hq, "scale.gallery.import", dict(one(), examples=[dict(one()["examples"][0], sku="P-NO-SUCH")]))
        assert unknown["ok"] and unknown["result"]["refused"]["unknown_sku"] == 1 and unknown["result"]["added"] == 0

        # a half-precision export is taken too (norm within tolerance)
        half = await _ask(hq, "scale.gallery.import", dict(one(embedding=_vector(dim, "<f2", seed=3)), dtype="float16"))
        assert half["ok"] and half["result"]["added"] + sum(half["result"]["refused"].values()) == 1

        counts = await _ask(hq, "scale.gallery", {})
        assert counts["ok"] and counts["result"]["model_version"] == version  # still serving
        wrong = await _ask(hq, "scale.gallery.export", {"model_version": version, "limit": 0})
        assert not wrong["ok"] and wrong["error"]["code"] == "invalid_argument"


def test_imports_keep_the_per_product_bound_and_skip_replays() -> None:
    """The stored side of an import: 32 per product (oldest dropped), a replay by hash adds nothing, provenance listed and removable."""
    db = sqlite_utils.Database(memory=True)
    for step in STEPS:
        step(db)
    tx = Tx(db)
    rng = np.random.default_rng(7)
    items = []
    for i in range(40):
        v = rng.standard_normal(256).astype(np.float32)
        items.append(stored.Incoming("P-KIWI", v / np.linalg.norm(v), None, "2026-11-25T10:00:00.000Z", hashlib.sha256(v.tobytes()).hexdigest()))
    added, duplicates = stored.add_imported(tx, "m1", "s2", items, max_per_product=32, dedupe_cosine=0.98)
    assert (added, duplicates) == (40, 0) and stored.counts(db, "m1") == {"P-KIWI": 32}  # the oldest dropped past 32
    assert stored.add_imported(tx, "m1", "s2", items[-5:], max_per_product=32, dedupe_cosine=0.98) == (0, 5)
    assert stored.origins(db, "m1") == {"s2": 32}
    assert stored.remove_imported(tx, "s2") == ["P-KIWI"] and stored.counts(db, "m1") == {}


_KILLED_MID_IMPORT = """
import hashlib, os, signal, sys
import numpy as np, sqlite_utils
from edge.scale.recognition import stored
from edge.scale.schema import STEPS
from edge.store import Tx

db = sqlite_utils.Database(sys.argv[1])
db.conn.execute("PRAGMA journal_mode=WAL")
for step in STEPS:
    step(db)
rng = np.random.default_rng(1)
items = [stored.Incoming("P-KIWI", v / np.linalg.norm(v), b"\\xff\\xd8" * 4000, "2026-11-25T10:00:00.000Z", hashlib.sha256(v.tobytes()).hexdigest())
         for v in rng.standard_normal((30, 512)).astype(np.float32)]
inserts = 0
def trace(sql):
    global inserts
    if sql.startswith("INSERT INTO scale_gallery"):
        inserts += 1
        if inserts == 12:
            os.kill(os.getpid(), signal.SIGKILL)  # kill -9 in the middle of the import's transaction
db.conn.set_trace_callback(trace)
db.conn.execute("BEGIN IMMEDIATE")  # as the store runs every command: one write transaction
stored.add_imported(Tx(db), "m1", "s2", items, max_per_product=32, dedupe_cosine=0.98)
db.conn.execute("COMMIT")
"""


def test_kill_9_mid_import_leaves_nothing(tmp_path: Path) -> None:
    """An import is one SQLite transaction: killed after 12 of its 30 rows, the reopened database holds none of them."""
    path = tmp_path / "store.db"
    done = subprocess.run([sys.executable, "-c", _KILLED_MID_IMPORT, str(path)], capture_output=True, timeout=60, check=False)
    assert done.returncode == -signal.SIGKILL, done.stderr.decode()[-2000:]
    db = sqlite_utils.Database(path)
    assert db["scale_gallery"].count == 0 and stored.origins(db, "m1") == {}
