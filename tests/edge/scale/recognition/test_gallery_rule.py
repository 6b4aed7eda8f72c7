"""The gallery's scoring rule: the larger of prototype and nearest example (base or learned), bounded cost."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge.scale.recognition.gallery import Gallery

DIM = 256


def unit(v: np.ndarray) -> np.ndarray:
    """L2-normalised float32 copy."""
    v = np.asarray(v, np.float32)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def around(centre: np.ndarray, n: int, spread: float, seed: int) -> np.ndarray:
    """n unit vectors scattered around `centre`."""
    return unit(centre + spread * np.random.default_rng(seed).normal(size=(n, centre.shape[0])))


def ranked(gallery: Gallery, query: np.ndarray) -> list[str]:
    """Products best first by the gallery's score."""
    ids, sims, _ = gallery.scores(unit(query))
    return [ids[i] for i in np.argsort(-sims)]


@pytest.fixture
def axes() -> np.ndarray:
    """Three orthogonal directions: 'apple' and 'pear' base clusters and a new look of the pear."""
    return np.eye(3, DIM, dtype=np.float32)


def test_a_product_with_learned_examples_wins_near_them_although_its_base_mean_is_far(axes: np.ndarray) -> None:
    # apple: 80 base examples around a0; pear: 80 base examples around a1, then 8 learned ones around a new look
    # a2 (a store's own light and trays). A query of that look sits much closer to apple's mean than to pear's,
    # and the learned examples move pear's mean of 88 examples very little: the mean rule answers apple.
    look = unit(axes[2] + 0.9 * axes[0])
    g = Gallery.live("m")
    g.replace("apple", around(axes[0], 80, 0.02, 1))
    g.replace("pear", around(axes[1], 80, 0.02, 2), around(look, 8, 0.03, 3))
    query = around(look, 1, 0.03, 4)[0]
    mean_of_all = unit(g.examples("pear").mean(0))
    assert float(mean_of_all @ query) < float(g.prototypes()[1][0] @ query)  # the mean rule would rank apple first
    assert ranked(g, query)[0] == "pear"
    ids, sims, _ = g.scores(query)
    assert sims[ids.index("pear")] == pytest.approx(float(np.max(g.examples("pear")[80:] @ query)), abs=1e-6)


def test_a_product_whose_photos_look_two_ways_is_found_by_the_way_it_looks_now(axes: np.ndarray) -> None:
    # apple: 40 base photos of red apples (a0) and 8 of green ones (a2); pear: 48 around a1. A green apple lying a
    # little towards the pear is nearer pear's prototype than apple's (a mean of mostly red), but its nearest photo
    # is a green apple: the product's score is the larger of the two, so apple comes first.
    g = Gallery.live("m")
    g.replace("apple", np.concatenate([around(axes[0], 40, 0.02, 1), around(axes[2], 8, 0.02, 2)]))
    g.replace("pear", around(axes[1], 48, 0.02, 3))
    query = unit(axes[2] + 0.6 * axes[1])
    ids, protos = g.prototypes()
    assert float(protos[ids.index("pear")] @ query) > float(protos[ids.index("apple")] @ query)  # prototypes alone: pear
    assert ranked(g, query)[0] == "apple"
    assert g.scores(query)[1][ids.index("apple")] == pytest.approx(float(np.max(g.examples("apple") @ query)), abs=1e-6)
    far = unit(axes[0] + axes[1] * 0.5)  # where no photo is nearer than a prototype, the prototype scores
    np.testing.assert_allclose(g.scores(far)[1], np.maximum(protos @ far, [np.max(g.examples(p) @ far) for p in ids]), atol=1e-6)


def test_a_product_known_only_from_enrolled_examples_scores_by_their_mean_or_nearest(axes: np.ndarray) -> None:
    g = Gallery.live("m")
    g.replace("apple", around(axes[0], 20, 0.3, 1))
    enrolled = around(axes[1], 3, 0.3, 5)
    g.replace("kiwi", (), enrolled)
    ids, protos = g.prototypes()
    np.testing.assert_allclose(protos[ids.index("kiwi")], unit(enrolled.mean(0)), atol=1e-6)
    near_one = around(enrolled[0], 1, 0.01, 6)[0]  # a photo like one enrolled photo: the nearest example counts
    assert g.scores(near_one)[1][ids.index("kiwi")] == pytest.approx(float(np.max(enrolled @ near_one)), abs=1e-6)
    assert float(np.max(enrolled @ near_one)) > float(protos[ids.index("kiwi")] @ near_one) + 0.1
    assert g.learned("kiwi") == 3 and g.learned("apple") == 0


def test_learned_examples_are_deduplicated_and_bounded_apart_from_the_base(axes: np.ndarray) -> None:
    g = Gallery(max_per_product=4, dedupe_cosine=0.98)
    for e in around(axes[0], 4, 0.5, 1):
        assert g.add("apple", e)
    assert not g.add("apple", g.examples("apple")[0], learned=False)
    assert g.add("apple", g.examples("apple")[0], learned=True)  # a learned copy of a base example is kept once
    assert not g.add("apple", g.examples("apple")[0], learned=True)
    for e in around(axes[1], 6, 0.5, 2):
        g.add("apple", e, learned=True)
    assert g.learned("apple") == 4 and len(g.examples("apple")) == 8


def test_the_learned_flag_survives_save_and_old_files_load_as_base(tmp_path: Path, axes: np.ndarray) -> None:
    g = Gallery(model_version="v1")
    g.replace("pear", around(axes[1], 5, 0.3, 1), around(axes[2], 2, 0.3, 2))
    g.save(tmp_path / "g.npz")
    h = Gallery.load(tmp_path / "g.npz")
    assert h.learned("pear") == 2 and len(h.examples("pear")) == 7 and h.model_version == "v1"
    with np.load(tmp_path / "g.npz") as z:  # a gallery written before the flag existed
        old = {k: z[k] for k in z.files if k != "learned"}
    np.savez_compressed(tmp_path / "old.npz", **old)
    assert Gallery.load(tmp_path / "old.npz").learned("pear") == 0


def test_scoring_a_full_gallery_reuses_one_index_until_it_changes() -> None:
    # 81 products x (80 base + 32 learned): each query is two matrix products over an index built once, not per weighing
    # (its cost is in benchmarks/bench_produce.py, not timed here)
    rng = np.random.default_rng(0)
    g = Gallery.live("m")
    for p in range(81):
        centre = rng.normal(size=DIM)
        g.replace(f"p{p}", around(centre, 80, 0.5, p), around(centre, 32, 0.5, 1000 + p))
    query = unit(rng.normal(size=DIM))
    ids, sims, _ = g.scores(query)
    index = g._index()
    assert len(ids) == 81 and sims.shape == (81,) and index[1].shape == (81, DIM) and index[2].shape == (81 * (80 + 32), DIM) and len(index[3]) == 81
    for _ in range(3):
        g.scores(query)
    assert g._index() is index  # reused
    g.replace("p0", around(rng.normal(size=DIM), 80, 0.5, 7))
    assert g._index() is not index and g.scores(query)[1].shape == (81,)  # rebuilt once the gallery changed


def test_an_unknown_item_near_a_learned_example_is_still_unrecognised(axes: np.ndarray) -> None:
    """Learned examples rank products, but "unrecognised" is judged on the prototypes: a learned example of the pear
    that happens to lie near an item the store does not sell (a hand, a bag) lifts the pear's score above the
    threshold, not the best prototype score, so the screen still says 无法识别 instead of offering the pear."""
    from edge.scale.recognition.model import UNRECOGNISED_SCORE, Recognition, is_unrecognised

    g = Gallery.live("m")
    g.replace("apple", around(axes[0], 40, 0.02, 1))
    g.replace("pear", around(axes[1], 40, 0.02, 2), unit(axes[2] + 0.1 * axes[1])[None, :])
    unknown = unit(axes[2])
    ids, sims, known = g.scores(unknown)
    assert max(sims) > UNRECOGNISED_SCORE > known
    top = int(np.argmax(sims))
    found = Recognition([(ids[top], float(sims[top]))], False, "m", {}, unknown, known)
    assert is_unrecognised(found)
    near_apple = around(axes[0], 1, 0.02, 9)[0]
    ids, sims, known = g.scores(near_apple)
    assert not is_unrecognised(Recognition([(ids[int(np.argmax(sims))], float(max(sims)))], False, "m", {}, near_apple, known))


def test_an_ensemble_item_is_known_only_as_well_as_its_weakest_member_sees_it() -> None:
    """A two-member embedding (two 128-d halves side by side): an item like the apple to the first member and like
    nothing to the second has a full prototype cosine (the mean of the members') of 0.5, at the unrecognised
    threshold, yet the second member's best prototype cosine is near 0; an apple seen as one by both is known."""
    half = DIM // 2
    a, b = np.eye(2, half, dtype=np.float32), np.eye(4, half, dtype=np.float32)[2:]
    apple = np.concatenate([a[0], b[0]]) / np.sqrt(2)
    pear = np.concatenate([a[1], b[1]]) / np.sqrt(2)
    g = Gallery.live("m")
    g.replace("apple", around(apple, 20, 0.002, 1))
    g.replace("pear", around(pear, 20, 0.002, 2))
    odd = unit(np.concatenate([a[0], np.eye(1, half, 40, dtype=np.float32)[0]]))  # member 1: apple; member 2: unseen
    ids, sims, one = g.scores(odd)
    _, _, two = g.scores(odd, members=2)
    assert one == pytest.approx(float(np.max(g.prototypes()[1] @ odd))) and one > 0.45  # one member: half known
    assert two < 0.05  # its weakest member has never seen it
    assert g.scores(unit(apple), members=2)[2] > 0.99
    np.testing.assert_allclose(g.scores(odd, members=2)[1], sims)  # ranking is the same rule either way
    with pytest.raises(ValueError, match="members"):
        g.scores(odd, members=3)
