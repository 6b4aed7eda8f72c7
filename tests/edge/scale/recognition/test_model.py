"""Tests for the produce model: preprocessing, gallery bookkeeping, typed errors, real images, eval CLI."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from edge.cli import main as cli_main
from edge.scale.recognition.errors import EmptyGallery, ModelMismatch, RecognitionError, UnusableFrame
from edge.scale.recognition.gallery import Gallery
from edge.scale.recognition.model import DEFAULT_GALLERY, DEFAULT_MODEL, UNSURE_MARGIN, UNSURE_SCORE, ProduceModel, is_unsure, preprocess

DATA = Path(__file__).resolve().parents[5] / "shared/datasets/grocerystore"
needs_data = pytest.mark.skipif(not (DATA / "test_dev.txt").exists(), reason="dataset ../shared absent")


@pytest.fixture(scope="module")
def recognizer() -> ProduceModel:
    """The shipped int8 model."""
    return ProduceModel(DEFAULT_MODEL)


@pytest.fixture(scope="module")
def gallery() -> Gallery:
    """The shipped gallery (made by the shipped int8 model)."""
    return Gallery.load(DEFAULT_GALLERY)


def textured(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A random uint8 BGR frame with visible texture."""
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def unit(v: np.ndarray) -> np.ndarray:
    """Normalise a vector."""
    return v / np.linalg.norm(v)


def test_bgr_frame_and_rgb_pil_preprocess_identically() -> None:
    frame = textured(120, 200)
    pil = Image.fromarray(frame[:, :, ::-1].copy(), "RGB")
    a, b = preprocess(frame), preprocess(pil)
    assert a.shape == (1, 3, 224, 224) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)


def test_preprocess_uses_only_the_centre_square() -> None:
    a = textured(100, 300)
    b = a.copy()
    b[:, :90] = 255  # beyond the centre square (and the bicubic filter's reach at its edges)
    b[:, 210:] = 0
    np.testing.assert_array_equal(preprocess(a), preprocess(b))
    c = a.copy()
    c[40:60, 140:160] = 0  # inside it
    assert not np.array_equal(preprocess(a), preprocess(c))


def test_preprocess_scale_is_pixel_minus_127_over_128() -> None:
    frame = textured(64, 64)
    frame[:32] = 0
    frame[32:, :, :] = 255
    frame[32:40, :8] = 0  # keep some texture so the frame is not blank
    x = preprocess(frame)
    assert x.min() == pytest.approx(-127 / 128)
    assert x.max() == pytest.approx(128 / 128)


@pytest.mark.parametrize(
    "frame",
    [
        np.zeros((480, 640, 3), np.uint8),
        np.full((480, 640, 3), 255, np.uint8),
        np.full((480, 640, 3), 128, np.uint8),
        textured(480, 640).astype(np.float32),
        textured(480, 640)[:, :, :2],
        np.zeros((4, 4, 3), np.uint8),
        b"not a jpeg at all",
        b"",
        "a string",
    ],
    ids=["black", "white", "grey", "float", "two-channel", "tiny", "garbage-bytes", "empty-bytes", "str"],
)
def test_unusable_frames_raise_typed_error(recognizer: ProduceModel, gallery: Gallery, frame: object) -> None:
    with pytest.raises(UnusableFrame):
        recognizer.recognize(frame, gallery)


def test_truncated_jpeg_is_unusable(recognizer: ProduceModel, gallery: Gallery) -> None:
    buf = io.BytesIO()
    Image.fromarray(textured(200, 200)).save(buf, "JPEG")
    with pytest.raises(UnusableFrame):
        recognizer.recognize(buf.getvalue()[:300], gallery)


def test_empty_gallery_raises(recognizer: ProduceModel) -> None:
    with pytest.raises(EmptyGallery):
        recognizer.recognize(textured(224, 224), Gallery(model_version=recognizer.model_version))
    with pytest.raises(EmptyGallery):
        Gallery().prototypes()


def test_gallery_from_another_model_is_refused(recognizer: ProduceModel) -> None:
    g = Gallery(model_version="some-other-model")
    g.add("x", np.ones(256, np.float32))
    with pytest.raises(ModelMismatch):
        recognizer.recognize(textured(224, 224), g)


def test_embed_is_normalised_and_deterministic(recognizer: ProduceModel) -> None:
    e1, e2 = recognizer.embed(textured(300, 400, 1)), recognizer.embed(textured(300, 400, 1))
    assert e1.ndim == 1
    assert np.linalg.norm(e1) == pytest.approx(1.0, abs=1e-3)
    np.testing.assert_allclose(e1, e2)


def test_an_enrolment_embedding_is_the_mean_of_five_views_of_the_model_view(recognizer: ProduceModel) -> None:
    # computed here independently: the 224x224 centre view, its mirror, and 179 px crops at (22, 22), (4, 4) and
    # (40, 40) resized back with bicubic; the example is the normalised sum of the five embeddings
    image = Image.fromarray(textured(300, 400, 2))  # a PIL image is RGB
    side, room = int(224 * 0.8), 224 - int(224 * 0.8)
    view = np.asarray(image.convert("RGB").resize((224, 224), Image.Resampling.BICUBIC, box=(50, 0, 350, 300)))
    views = [view, view[:, ::-1]] + [
        np.asarray(Image.fromarray(view[int(room * f) : int(room * f) + side, int(room * f) : int(room * f) + side])
                   .resize((224, 224), Image.Resampling.BICUBIC)) for f in (0.5, 0.1, 0.9)
    ]
    total = sum(recognizer.run(preprocess(Image.fromarray(np.ascontiguousarray(v)))) for v in views)
    got = recognizer.embed_enrolment(image)
    np.testing.assert_allclose(got, total / np.linalg.norm(total), atol=1e-5)
    assert float(got @ recognizer.embed(image)) < 0.9999  # not the one view
    with pytest.raises(UnusableFrame):
        recognizer.embed_enrolment(Image.new("RGB", (300, 300), (128, 128, 128)))  # blank, as for embed


def test_gallery_dedupes_near_identical_examples() -> None:
    g = Gallery()
    base = unit(np.random.default_rng(0).normal(size=64))
    assert g.add("apple", base)
    assert not g.add("apple", unit(base + 0.001))
    assert g.add("banana", base)  # dedupe is per product
    other = unit(np.random.default_rng(1).normal(size=64))
    assert g.add("apple", other)
    assert len(g.examples("apple")) == 2


def test_gallery_is_bounded_per_product_dropping_the_oldest() -> None:
    g = Gallery(max_per_product=3)
    vecs = [unit(v) for v in np.random.default_rng(2).normal(size=(5, 32))]
    for v in vecs:
        g.add("pear", v)
    np.testing.assert_allclose(g.examples("pear"), np.stack(vecs[2:]), rtol=1e-6)


def test_gallery_remove_and_membership() -> None:
    g = Gallery()
    g.add("kiwi", np.ones(8))
    assert "kiwi" in g and len(g) == 1
    assert g.remove("kiwi")
    assert not g.remove("kiwi")
    assert "kiwi" not in g and len(g) == 0


def test_gallery_rejects_bad_embeddings() -> None:
    g = Gallery()
    with pytest.raises(ValueError):
        g.add("x", np.zeros(8))
    g.add("x", np.ones(8))
    with pytest.raises(ValueError):
        g.add("x", np.ones(9))


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("abcde"), st.integers(0, 10_000), st.booleans()), min_size=1, max_size=40))
def test_gallery_round_trips_through_arrays(entries: list[tuple[str, int, bool]]) -> None:
    g = Gallery(max_per_product=4)
    for pid, seed, learned in entries:
        g.add(pid, np.random.default_rng(seed).normal(size=16), learned=learned)
    ids, embs, flags = g.to_arrays()
    h = Gallery.from_arrays(ids, embs, flags, max_per_product=4)
    assert h.products() == g.products()
    for pid in g.products():
        np.testing.assert_allclose(h.examples(pid), g.examples(pid), rtol=1e-6)
        assert h.learned(pid) == g.learned(pid) <= 4 and len(h.examples(pid)) <= 8


def test_gallery_save_load(tmp_path: Path) -> None:
    g = Gallery(model_version="v-test")
    g.add("plum", unit(np.arange(1.0, 9.0)))
    g.save(tmp_path / "g.npz", {"plum": {"fine_id": 7}})
    h = Gallery.load(tmp_path / "g.npz")
    assert h.model_version == "v-test" and h.meta == {"plum": {"fine_id": 7}}
    np.testing.assert_allclose(h.examples("plum"), g.examples("plum"), atol=1e-3)


def test_nearest_prototype_wins_and_k_is_respected(recognizer: ProduceModel) -> None:
    frame = textured(240, 320, 5)
    emb = recognizer.embed(frame)
    g = Gallery(model_version=recognizer.model_version)
    rng = np.random.default_rng(3)
    for i in range(8):
        g.add(f"p{i}", rng.normal(size=emb.shape))
    g.add("target", emb)
    r = recognizer.recognize(frame, g, k=3)
    assert r.candidates[0][0] == "target"
    assert r.candidates[0][1] == pytest.approx(1.0, abs=1e-3)
    assert len(r.candidates) == 3
    assert [s for _, s in r.candidates] == sorted((s for _, s in r.candidates), reverse=True)
    assert set(r.timings) == {"preprocess_ms", "model_ms", "search_ms"}
    assert r.model_version == recognizer.model_version


def test_unsure_rule() -> None:
    assert is_unsure([])
    assert is_unsure([UNSURE_SCORE - 0.01, 0.0])
    assert is_unsure([0.95, 0.95 - UNSURE_MARGIN / 2])
    assert not is_unsure([0.95, 0.95 - 2 * UNSURE_MARGIN])
    assert not is_unsure([0.95])


def sample_rows(n: int, seed: int = 0) -> list[tuple[str, int, int]]:
    """n test_dev rows from n different fine classes."""
    rows = [tuple(s.strip() for s in line.split(",")) for line in (DATA / "test_dev.txt").read_text().splitlines()]
    by_class: dict[str, tuple[str, str, str]] = {}
    for row in np.random.default_rng(seed).permutation(np.array(rows)):
        by_class.setdefault(row[1], tuple(row))
    return [(p, int(f), int(c)) for p, f, c in list(by_class.values())[:n]]


@needs_data
def test_real_images_are_found_in_top5(recognizer: ProduceModel, gallery: Gallery) -> None:
    fine_of = {p: m["fine_id"] for p, m in gallery.meta.items()}
    rows = sample_rows(10)
    hits = 0
    for path, fine, _ in rows:
        r = recognizer.recognize((DATA / path).read_bytes(), gallery)
        hits += fine in [fine_of[p] for p, _ in r.candidates]
    assert hits >= 9  # top-5 is ~99 % on test_dev; one miss in ten is tolerated


@needs_data
def test_bgr_opencv_frame_of_a_real_image(recognizer: ProduceModel, gallery: Gallery) -> None:
    import cv2

    path, fine, _ = sample_rows(1, seed=4)[0]
    frame = cv2.imread(str(DATA / path))
    np.testing.assert_allclose(recognizer.embed(frame), recognizer.embed(Image.open(DATA / path)), atol=1e-6)


@needs_data
def test_eval_cli_on_a_tiny_list(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = sample_rows(8, seed=1)
    lines = [f"{p}, {f}, {c}" for p, f, c in rows] + ["test/missing/none.jpg, 0, 0"]
    (tmp_path / "list.txt").write_text("\n".join(lines) + "\n")
    assert cli_main(["produce", "eval", "--list", str(tmp_path / "list.txt"), "--images", str(DATA)]) == 0
    out, err = capsys.readouterr()
    report = json.loads(out)
    assert report["n"] == 8 and report["errors"] == 1
    assert "missing" in err
    assert report["top5"] >= 7 / 8
    assert 0.0 <= report["top1"] <= report["top5"] <= 1.0
    assert report["coarse_top1"] >= report["top1"]


def test_a_decompression_bomb_is_an_unusable_frame_not_a_crash(recognizer: ProduceModel, gallery: Gallery) -> None:
    # A PNG whose header claims 20000 x 20000 pixels (400 Mpx, above Pillow's bomb limit) with almost no data behind it.
    buf = io.BytesIO()
    Image.new("1", (20000, 20000)).save(buf, "PNG")
    with pytest.raises(UnusableFrame, match="cannot decode"):
        recognizer.recognize(buf.getvalue(), gallery)


@pytest.mark.parametrize("text", ["0", "-1", "two", "", "2.5", "17", "9" * 50, "\u0662"])
def test_an_unusable_member_count_in_a_model_file_is_a_recognition_error(text: str, tmp_path: Path) -> None:
    # the 'members' metadata splits every embedding (Gallery.scores); a damaged or foreign value must not load
    from edge.scale.recognition.model import _member_count

    with pytest.raises(RecognitionError, match="members"):
        _member_count(text, tmp_path / "m.onnx")
    assert _member_count("2", tmp_path / "m.onnx") == 2


def test_a_member_count_that_does_not_split_the_embedding_is_a_recognition_error(gallery: Gallery) -> None:
    frame = np.random.default_rng(4).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    rec = ProduceModel(DEFAULT_MODEL)
    rec.members = 3  # as a damaged file's metadata would set it: 512 does not split in 3
    with pytest.raises(RecognitionError, match="members"):
        rec.recognize(frame, gallery)
