"""Produce recognition benchmark: accuracy on test_dev (clean and bagged), money errors, onboarding, speed (one frame
and 4 fused frames to top 5), size.

    .venv/bin/python benchmarks/bench_produce.py [--data ../shared/datasets/grocerystore] [--skip-holdout]
    taskset -c 0 .venv/bin/python benchmarks/bench_produce.py --val-study    # flip, frame fusion, unknown rules on val
    .venv/bin/python benchmarks/bench_produce.py --write-train-gallery /tmp/train-gallery.npz   # for --learn on val

Learning on validation (issue 14, part 2): `--write-train-gallery` saves a gallery of the train images only (the
shipped model, 80 per class, de-duplicated at 0.98, the shipped class names and metadata), so that
`store-edge produce eval --list val.txt --gallery /tmp/train-gallery.npz --learn` streams photos the gallery lacks.

Validation study (`--val-study`, never test): gallery = train only, queries = val; test-time flip (the mean of the
view's and its mirror's embeddings), frame fusion (the mean embedding of 4 simulated frames of one stable load: each a
seeded random 88-100 % crop with brightness x0.9-1.1), and the open set: the 20 classes of OPEN_SET left out of the
gallery, unknown rules (top score below s, or top-1 minus top-2 below m) swept.

Bagged variant: each test image's 224x224 centre view goes through models/produce/bagaug.py `bag_glare` with
`numpy.random.default_rng(100_000 + line index)`, so it is the same for every run and model.
Price table: one price per kg per *coarse* class (all apples cost the same, all milks the same), so a wrong fine
class inside the right coarse class costs no money; a "money error" is a top-1 answer in another coarse class.
Onboarding: needs the hold-out model (models/produce/cache/holdout.int8.onnx, see MODEL_CARD.md); its 20 held-out
classes are enrolled from k of their train images next to the 61 known classes (all train + val images), and all
test_dev images of the 81 classes are queried; 5 random draws of the k images per k.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
PRODUCE = REPO / "models/produce"
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(PRODUCE))

from bagaug import bag_glare  # noqa: E402

from edge.scale.recognition.gallery import Gallery  # noqa: E402
from edge.scale.recognition.model import (  # noqa: E402
    DEFAULT_GALLERY,
    DEFAULT_MODEL,
    FP32_GALLERY,
    FP32_MODEL,
    ProduceModel,
    crop_resize,
    normalise,
)

MODELS = {"fp32": (FP32_MODEL, FP32_GALLERY), "int8": (DEFAULT_MODEL, DEFAULT_GALLERY)}
HOLDOUT_MODEL = PRODUCE / "cache/holdout.int8.onnx"
# the 20 classes train.py --holdout 20 leaves out (seeded), also the open-set classes
OPEN_SET = (0, 3, 8, 12, 15, 17, 26, 32, 34, 46, 48, 49, 51, 55, 57, 60, 62, 63, 72, 74)


def read_list(data: Path, name: str) -> list[tuple[str, int, int]]:
    """(relative path, fine id, coarse id) rows of a dataset list."""
    rows = []
    for line in (data / name).read_text().splitlines():
        if line.strip():
            p, f, c = (s.strip() for s in line.split(","))
            rows.append((p, int(f), int(c)))
    return rows


def views(data: Path, rows: list[tuple[str, int, int]], bagged: bool) -> list[np.ndarray]:
    """224x224 uint8 RGB centre views, optionally through the seeded bag/glare augmentation."""
    out = []
    for i, (rel, _, _) in enumerate(rows):
        with Image.open(data / rel) as im:
            v = crop_resize(im)
        out.append(bag_glare(v, np.random.default_rng(100_000 + i)) if bagged else v)
    return out


def embed_all(rec: ProduceModel, imgs: list[np.ndarray]) -> np.ndarray:
    """Embeddings of preprocessed views, one model call each (as in production)."""
    return np.stack([rec.run(normalise(v)) for v in imgs])


def accuracy(emb: np.ndarray, gallery: Gallery, fine: np.ndarray, coarse: np.ndarray) -> dict[str, float]:
    """Top-1/top-5 fine, coarse top-1, money errors and unsure rate, ranking by the gallery's own rule (Gallery.scores)."""
    from edge.scale.recognition.model import is_unsure

    ids = gallery.products()
    fine_of = np.array([gallery.meta[p]["fine_id"] for p in ids])
    coarse_of = np.array([gallery.meta[p]["coarse_id"] for p in ids])
    sims = np.stack([gallery.scores(e)[1] for e in emb])
    order = np.argsort(-sims, axis=1)[:, :5]
    pred5 = fine_of[order]
    top1 = pred5[:, 0] == fine
    coarse1 = coarse_of[order[:, 0]] == coarse
    unsure = np.array([is_unsure(list(np.take_along_axis(s, o, 0))) for s, o in zip(sims, order)])
    wrong = ~top1
    return {
        "top1": float(top1.mean()),
        "top5": float((pred5 == fine[:, None]).any(1).mean()),
        "coarse_top1": float(coarse1.mean()),
        "money_errors_of_all": float((~coarse1).mean()),
        "money_errors_share_of_errors": float((~coarse1).sum() / max(1, wrong.sum())),
        "unsure_rate": float(unsure.mean()),
        "top1_when_sure": float(top1[~unsure].mean()) if (~unsure).any() else 0.0,
        "errors_flagged_unsure": float(unsure[wrong].mean()) if wrong.any() else 1.0,
    }


def speed(rec: ProduceModel, runs: int) -> dict[str, float]:
    """Model-only latency on one intra-op thread (p50/p95 ms) on a fixed input."""
    x = normalise(np.random.default_rng(0).integers(0, 256, (224, 224, 3), dtype=np.uint8))
    for _ in range(10):
        rec.run(x)
    t = []
    for _ in range(runs):
        t0 = time.perf_counter()
        rec.run(x)
        t.append((time.perf_counter() - t0) * 1e3)
    return {"p50_ms": float(np.percentile(t, 50)), "p95_ms": float(np.percentile(t, 95))}


def frame_speed(rec: ProduceModel, gallery: Gallery, runs: int) -> dict[str, float]:
    """Whole 1280x720 BGR frame to top-5 (preprocess + model + search), p50/p95 ms."""
    frame = np.random.default_rng(1).integers(0, 256, (720, 1280, 3), dtype=np.uint8)
    t = []
    for _ in range(runs):
        t0 = time.perf_counter()
        rec.recognize(frame, gallery)
        t.append((time.perf_counter() - t0) * 1e3)
    return {"p50_ms": float(np.percentile(t, 50)), "p95_ms": float(np.percentile(t, 95))}


def fused_frame_speed(rec: ProduceModel, gallery: Gallery, runs: int, frames: int = 4) -> dict[str, float]:
    """`frames` 1280x720 BGR frames of one load to top-5 by their mean embedding (frame fusion), p50/p95 ms.

    Not what the recogniser does (one frame: the val study found no gain for the cost); what fusion would cost.
    """
    rng = np.random.default_rng(2)
    shots = [rng.integers(0, 256, (720, 1280, 3), dtype=np.uint8) for _ in range(frames)]
    t = []
    for _ in range(runs):
        t0 = time.perf_counter()
        total = np.sum([rec.embed(f) for f in shots], axis=0)
        ids, sims, _ = gallery.scores(total / np.linalg.norm(total), rec.members)
        _ = [(ids[i], float(sims[i])) for i in np.argsort(-sims)[:5]]  # the candidates, as recognize() builds them
        t.append((time.perf_counter() - t0) * 1e3)
    return {"frames": frames, "p50_ms": float(np.percentile(t, 50)), "p95_ms": float(np.percentile(t, 95))}


def onboarding(data: Path, test_rows: list, test_views: list[np.ndarray]) -> dict[str, dict[str, float]]:
    """Learning curve for products held out of training: k = 1, 3, 5, 10 enrolment images, 81-way."""
    held = set(OPEN_SET)  # train.py --holdout 20 leaves out these (seeded) classes
    rec = ProduceModel(HOLDOUT_MODEL)
    ref_rows = read_list(data, "train.txt") + read_list(data, "val.txt")
    ref_views = views(data, ref_rows, bagged=False)
    ref_emb = embed_all(rec, ref_views)
    ref_y = np.array([r[1] for r in ref_rows])
    is_train = np.arange(len(ref_rows)) < len(read_list(data, "train.txt"))
    # an enrolled photo's example, as `scale.enroll` makes it (ProduceModel.embed_enrolment: five views)
    enrol_emb = {int(i): rec.embed_enrolment(Image.fromarray(ref_views[i]))
                 for i in np.flatnonzero(np.isin(ref_y, list(held)) & is_train)}
    q_emb = embed_all(rec, test_views)
    q_y = np.array([r[1] for r in test_rows])
    new_q = np.isin(q_y, list(held))
    out = {}
    for k in (1, 3, 5, 10):
        res = {"new_top1": [], "new_top5": [], "known_top1": [], "new_among_new_top1": []}
        for draw in range(5):
            rng = np.random.default_rng(1000 * k + draw)
            g = Gallery(max_per_product=80)
            for c in range(81):
                if c in held:  # enrolled, as `scale.enroll` does: learned examples of a product without base ones
                    for i in rng.choice(np.flatnonzero((ref_y == c) & is_train), size=k, replace=False):
                        g.add(str(c), enrol_emb[int(i)], learned=True)
                else:
                    for i in np.flatnonzero(ref_y == c):
                        g.add(str(c), ref_emb[i])
            ids = g.products()
            cls = np.array([int(p) for p in ids])
            sims = np.stack([g.scores(q)[1] for q in q_emb])  # the recogniser's own class rule
            order = np.argsort(-sims, axis=1)[:, :5]
            hit1 = cls[order[:, 0]] == q_y
            hit5 = (cls[order] == q_y[:, None]).any(1)
            new_cols = np.isin(cls, list(held))
            among_new = cls[new_cols][np.argmax(sims[:, new_cols], axis=1)] == q_y
            res["new_top1"].append(hit1[new_q].mean())
            res["new_top5"].append(hit5[new_q].mean())
            res["known_top1"].append(hit1[~new_q].mean())
            res["new_among_new_top1"].append(among_new[new_q].mean())
        out[f"k={k}"] = {m: round(float(np.mean(v)), 4) for m, v in res.items()}
    return out



def jittered(view: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One simulated frame of a stable load: a random 88-100 % crop, shifted, brightness x0.9-1.1, back to 224x224."""
    side = int(224 * rng.uniform(0.88, 1.0))
    x, y = rng.integers(0, 224 - side + 1, 2)
    crop = Image.fromarray(view[y : y + side, x : x + side]).resize((224, 224), Image.Resampling.BICUBIC)
    return np.clip(np.asarray(crop, np.float32) * rng.uniform(0.9, 1.1), 0, 255).astype(np.uint8)


def ranked(emb: np.ndarray, gallery: Gallery, y: np.ndarray) -> dict[str, float]:
    """Top-1/top-5 of query embeddings (re-normalised: fused ones are sums) by the gallery's own rule."""
    emb = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    cls = np.array([int(i) for i in gallery.products()])
    order = np.argsort(-np.stack([gallery.scores(e)[1] for e in emb]), axis=1)[:, :5]
    return {"top1": float((cls[order[:, 0]] == y).mean()), "top5": float((cls[order] == y[:, None]).any(1).mean())}


def iconic_views(data: Path) -> list[tuple[int, np.ndarray]]:
    """(fine id, centre view) of the dataset's one iconic (catalogue) image per class, from classes.csv."""
    out = []
    with (data / "classes.csv").open(newline="") as f:
        for row in list(csv.reader(f))[1:]:
            with Image.open(data / row[4].lstrip("/")) as im:
                out.append((int(row[1]), crop_resize(im)))
    return out


def val_study(data: Path, model: Path, frames: int = 4) -> dict[str, object]:
    """Validation only (gallery = train, queries = val): test-time flip, frame fusion, iconic images, unknown rules."""
    rec = ProduceModel(model)
    train, val = read_list(data, "train.txt"), read_list(data, "val.txt")
    gallery = Gallery(max_per_product=80)
    train_emb = embed_all(rec, views(data, train, bagged=False))
    for (_, fine, _), e in zip(train, train_emb):
        gallery.add(str(fine), e)
    y = np.array([r[1] for r in val])
    vv = views(data, val, bagged=False)
    plain = embed_all(rec, vv)
    with_iconic = Gallery(max_per_product=80)
    for product in gallery.products():
        with_iconic.replace(product, gallery.examples(product))
    for fine, v in iconic_views(data):
        with_iconic.add(str(fine), rec.run(normalise(v)))
    assert with_iconic.products() == gallery.products(), "the iconic images add no class"
    flip = embed_all(rec, [v[:, ::-1] for v in vv])
    rng = np.random.default_rng(7)
    frame_sets = [[jittered(v, rng) for _ in range(frames)] for v in vv]
    fused = np.stack([embed_all(rec, fs).mean(0) for fs in frame_sets])
    fused_flip = np.stack([(embed_all(rec, fs) + embed_all(rec, [f[:, ::-1] for f in fs])).mean(0) for fs in frame_sets])
    one_frame = np.stack([rec.run(normalise(fs[0])) for fs in frame_sets])
    out: dict[str, object] = {
        "n_val": len(val),
        "single_view": ranked(plain, gallery, y),
        "single_view_gallery_with_iconic": ranked(plain, with_iconic, y),
        "flip": ranked(plain + flip, gallery, y),
        "one_jittered_frame": ranked(one_frame, gallery, y),
        f"fused_{frames}_frames": ranked(fused, gallery, y),
        f"fused_{frames}_frames_flip": ranked(fused_flip, gallery, y),
    }
    # Open set: the 20 classes left out of the train-only gallery; unknown rules swept on val, each "how known" score
    # from the recogniser's own Gallery.scores: the best prototype cosine (one member), or the weakest member's.
    known_gallery = Gallery(max_per_product=80)
    for (_, fine, _), e in zip(train, train_emb):
        if fine not in OPEN_SET:
            known_gallery.add(str(fine), e)
    known_cls = np.array([int(i) for i in known_gallery.products()])
    outside = np.isin(y, OPEN_SET)
    rules = []
    for members in sorted({1, rec.members}):
        looks = [known_gallery.scores(q, members) for q in plain]
        right = np.array([known_cls[int(np.argmax(s))] for _, s, _ in looks]) == y
        top = np.array([k for _, _, k in looks])
        for score in np.arange(0.40, 0.61, 0.01):
            unknown = top < score
            rules.append({
                "members": members, "score_below": round(float(score), 2),
                "excluded_unknown": round(float(unknown[outside].mean()), 3),
                "known_unknown": round(float(unknown[~outside].mean()), 3),
                "right_hidden": round(float((unknown & right)[~outside].sum() / max(1, right[~outside].sum())), 3),
            })
    out["open_set_val"] = {"n_excluded": int(outside.sum()), "n_known": int((~outside).sum()), "rules": rules}
    x = normalise(vv[0])
    for name, calls in (("single", 1), ("flip", 2), (f"fused_{frames}", frames), (f"fused_{frames}_flip", 2 * frames)):
        t = []
        for _ in range(60):
            t0 = time.perf_counter()
            for _ in range(calls):
                rec.run(x)
            t.append((time.perf_counter() - t0) * 1e3)
        out[f"model_ms_{name}"] = {"p50": round(float(np.percentile(t, 50)), 2), "p95": round(float(np.percentile(t, 95)), 2)}
    return out


def write_train_gallery(data: Path, out: Path) -> None:
    """A gallery of the train images alone, made by the shipped int8 model (validation photos are then unseen)."""
    model, shipped = MODELS["int8"]
    rec, meta = ProduceModel(model), Gallery.load(shipped).meta
    name_of = {int(m["fine_id"]): p for p, m in meta.items()}
    rows = read_list(data, "train.txt")
    gallery = Gallery(model_version=rec.model_version, max_per_product=80, meta=meta)
    for (_, fine, _), v in zip(rows, views(data, rows, bagged=False)):
        gallery.add(name_of[fine], rec.run(normalise(v)))
    gallery.save(out)


def main(argv: list[str] | None = None) -> int:
    """Run everything and print one JSON document."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=REPO.parent / "shared/datasets/grocerystore")
    p.add_argument("--runs", type=int, default=300)
    p.add_argument("--skip-holdout", action="store_true")
    p.add_argument("--val-study", action="store_true", help="only the validation study: flip, frame fusion, unknown rules")
    p.add_argument("--model", type=Path, default=MODELS["int8"][0], help="the model the validation study measures")
    p.add_argument("--write-train-gallery", type=Path, default=None, metavar="NPZ", help="only write a train-only gallery")
    args = p.parse_args(argv)
    if args.write_train_gallery is not None:
        write_train_gallery(args.data, args.write_train_gallery)
        return 0
    if args.val_study:
        print(json.dumps(val_study(args.data, args.model), indent=1))
        return 0
    rows = read_list(args.data, "test_dev.txt")
    fine = np.array([r[1] for r in rows])
    coarse = np.array([r[2] for r in rows])
    clean, bagged = views(args.data, rows, False), views(args.data, rows, True)
    report: dict[str, object] = {"n_test_dev": len(rows)}
    for name, (model, gallery_path) in MODELS.items():
        rec, gallery = ProduceModel(model), Gallery.load(gallery_path)
        report[name] = {
            "size_mb": round(model.stat().st_size / 1e6, 2),
            "clean": accuracy(embed_all(rec, clean), gallery, fine, coarse),
            "bagged": accuracy(embed_all(rec, bagged), gallery, fine, coarse),
            "model_1thread": speed(rec, args.runs),
            "frame_1280x720_to_top5": frame_speed(rec, gallery, args.runs // 3),
            "fused_frames_1280x720_to_top5": fused_frame_speed(rec, gallery, args.runs // 6),
        }
        print(json.dumps({name: report[name]}), flush=True)
    if not args.skip_holdout and HOLDOUT_MODEL.exists():
        report["onboarding_holdout20"] = onboarding(args.data, rows, clean)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
