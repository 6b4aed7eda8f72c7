"""Produce recognition benchmark: accuracy on test_dev (clean and bagged), money errors, onboarding, speed, size.

    .venv/bin/python benchmarks/bench_produce.py [--data ../shared/datasets/grocerystore] [--skip-holdout]

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
from edge.scale.recognition.model import ProduceModel, crop_resize, normalise  # noqa: E402

MODELS = {
    "fp32": (PRODUCE / "produce-effnetlite0-v1.onnx", PRODUCE / "gallery-fp32.npz"),
    "int8": (PRODUCE / "produce-effnetlite0-v1.int8.onnx", PRODUCE / "gallery.npz"),
}
HOLDOUT_MODEL = PRODUCE / "cache/holdout.int8.onnx"
HOLDOUT_CKPT = PRODUCE / "cache/holdout.pt"


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
    """Top-1/top-5 fine, coarse top-1, money errors and unsure rate, ranking by gallery prototypes."""
    from edge.scale.recognition.model import is_unsure

    ids, protos = gallery.prototypes()
    fine_of = np.array([gallery.meta[p]["fine_id"] for p in ids])
    coarse_of = np.array([gallery.meta[p]["coarse_id"] for p in ids])
    sims = emb @ protos.T
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


def onboarding(data: Path, test_rows: list, test_views: list[np.ndarray]) -> dict[str, dict[str, float]]:
    """Learning curve for products held out of training: k = 1, 3, 5, 10 enrolment images, 81-way."""
    import torch

    held = set(torch.load(HOLDOUT_CKPT, map_location="cpu", weights_only=False)["held_out"])
    rec = ProduceModel(HOLDOUT_MODEL)
    ref_rows = read_list(data, "train.txt") + read_list(data, "val.txt")
    ref_emb = embed_all(rec, views(data, ref_rows, bagged=False))
    ref_y = np.array([r[1] for r in ref_rows])
    is_train = np.arange(len(ref_rows)) < len(read_list(data, "train.txt"))
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
                idx = np.flatnonzero(ref_y == c)
                if c in held:
                    idx = rng.choice(np.flatnonzero((ref_y == c) & is_train), size=k, replace=False)
                for i in idx:
                    g.add(str(c), ref_emb[i])
            ids, protos = g.prototypes()
            cls = np.array([int(p) for p in ids])
            sims = q_emb @ protos.T
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


def main(argv: list[str] | None = None) -> int:
    """Run everything and print one JSON document."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=REPO.parent / "shared/datasets/grocerystore")
    p.add_argument("--runs", type=int, default=300)
    p.add_argument("--skip-holdout", action="store_true")
    args = p.parse_args(argv)
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
        }
        print(json.dumps({name: report[name]}), flush=True)
    if not args.skip_holdout and HOLDOUT_MODEL.exists():
        report["onboarding_holdout20"] = onboarding(args.data, rows, clean)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
