"""The learning guard (pure) and the gallery's SQLite persistence (bounded, de-duplicated, per model version)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge.scale import schema
from edge.scale import learning
from edge.scale.recognition import stored
from edge.scale.config import LearningSection
from edge.scale.weighing.session import Candidate
from edge.store import Store

OFFER = (Candidate("apple", 0.82), Candidate("pear", 0.55), Candidate("lemon", 0.12))


def test_learns_only_an_offered_plausible_choice() -> None:
    rules = LearningSection(plausible_g=(50, 5000), min_score=0.3, max_rank=2)
    assert learning.judge(rules, OFFER, "apple", by_weight=True, grams=700).learn
    assert learning.judge(rules, OFFER, "pear", by_weight=True, grams=700).learn
    refusals = {
        "not offered": learning.judge(rules, OFFER, "melon", by_weight=True, grams=700),
        "rank": learning.judge(rules, OFFER, "lemon", by_weight=True, grams=700),
        "light": learning.judge(rules, OFFER, "apple", by_weight=True, grams=45),
        "heavy": learning.judge(rules, OFFER, "apple", by_weight=True, grams=5005),
        "nothing offered": learning.judge(rules, (), "apple", by_weight=True, grams=700),
        "off": learning.judge(LearningSection(enabled=False), OFFER, "apple", by_weight=True, grams=700),
        "suspicious": learning.judge(rules, OFFER, "pear", by_weight=True, grams=700, suspicion="cheaper_than_top1"),
    }
    assert not any(v.learn for v in refusals.values()), refusals
    assert all(v.reason for v in refusals.values())
    # by-piece goods: the weight plausibility rule does not apply
    assert learning.judge(rules, OFFER, "apple", by_weight=False, grams=5500).learn
    # a low score at an allowed rank is refused too
    low = LearningSection(min_score=0.6)
    assert not learning.judge(low, OFFER, "pear", by_weight=True, grams=700).learn


def _unit(rng: np.random.Generator) -> np.ndarray:
    v = rng.normal(size=256).astype(np.float32)
    return v / np.linalg.norm(v)


def test_store_bounds_dedupes_and_survives_reopen(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    path = tmp_path / "edge.db"
    store = Store(path, schemas={"scale": schema.STEPS})
    try:
        first = [_unit(rng) for _ in range(5)]
        add = lambda tx, embs: stored.add(tx, "apple", "m1", embs, source="confirm", max_per_product=3, dedupe_cosine=0.98)  # noqa: E731
        assert store.write_sync(lambda tx: add(tx, first)) == 5
        kept = store.read_sync(lambda db: stored.examples(db, "m1", "apple"))
        assert len(kept) == 3  # bounded: the oldest went
        assert all(np.allclose(k, f) for (_, k), f in zip(kept, first[2:]))
        near = first[4] + 0.001 * _unit(rng)
        assert store.write_sync(lambda tx: add(tx, [near])) == 0  # near-duplicate of a kept example
        assert store.read_sync(lambda db: stored.counts(db, "m2")) == {}  # other model version: nothing
    finally:
        store.close()
    reopened = Store(path, schemas={"scale": schema.STEPS})
    try:
        again = reopened.read_sync(lambda db: stored.examples(db, "m1"))
        assert [s for s, _ in again] == ["apple"] * 3
        assert all(np.allclose(a, k) for (_, a), (_, k) in zip(again, kept))
    finally:
        reopened.close()


def test_zero_embedding_is_refused(tmp_path: Path) -> None:
    store = Store(tmp_path / "edge.db", schemas={"scale": schema.STEPS})
    try:
        fut = store.submit(lambda tx: stored.add(tx, "a", "m1", [np.zeros(256)], source="x", max_per_product=3, dedupe_cosine=0.98))
        with pytest.raises(ValueError, match="non-zero"):
            fut.result(timeout=10)
    finally:
        store.close()
