"""Choose the recognizer's "unsure" thresholds on val (never test): gallery from train only, queries = val.

    .venv/bin/python models/produce/choose_unsure.py [--model PATH] [--min-precision 0.97]

Grid over (score threshold, top-1/top-2 margin); picks the pair flagging the fewest val answers such that the
answers left "sure" are right at least --min-precision of the time. Prints the grid's best rows and the choice.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(HERE))

from benchmarks.bench_produce import read_list  # noqa: E402  (train.py needs torch; this does not)

from edge.scale.recognition.model import DEFAULT_MODEL, ProduceModel  # noqa: E402
from edge.scale.recognition.gallery import Gallery  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    """Embed train and val, sweep the grid, print the choice as JSON."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=REPO.parent / "shared/datasets/grocerystore")
    p.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    p.add_argument("--min-precision", type=float, default=0.95)
    args = p.parse_args(argv)
    rec = ProduceModel(args.model)
    gallery = Gallery(max_per_product=80)
    for rel, fine, _ in read_list(args.data, "train.txt"):
        with Image.open(args.data / rel) as im:
            gallery.add(str(fine), rec.embed(im))
    val = read_list(args.data, "val.txt")
    cls = np.array([int(i) for i in gallery.products()])
    q = np.stack([rec.embed(Image.open(args.data / rel)) for rel, _, _ in val])
    y = np.array([f for _, f, _ in val])
    sims = np.stack([gallery.scores(e)[1] for e in q])  # the recogniser's own rule
    s = -np.sort(-sims, axis=1)
    right = cls[sims.argmax(1)] == y
    rows = []
    for t_score in np.arange(0.0, 0.95, 0.025):
        for t_margin in np.arange(0.0, 0.2, 0.01):
            unsure = (s[:, 0] < t_score) | (s[:, 0] - s[:, 1] < t_margin)
            sure = ~unsure
            precision = float(right[sure].mean()) if sure.any() else 1.0
            rows.append((float(unsure.mean()), -precision, round(float(t_score), 3), round(float(t_margin), 3)))
    def pick(target: float) -> dict[str, float]:
        """The fewest-flagging grid point whose sure answers reach the target precision."""
        ok = sorted(r for r in rows if -r[1] >= target)
        choice = ok[0] if ok else sorted(rows, key=lambda r: r[1])[0]
        flagged = (s[:, 0] < choice[2]) | (s[:, 0] - s[:, 1] < choice[3])
        return {
            "min_precision": target,
            "unsure_score": choice[2],
            "unsure_margin": choice[3],
            "val_unsure_rate": round(choice[0], 4),
            "val_precision_when_sure": round(-choice[1], 4),
            "val_errors_flagged": round(float(flagged[~right].mean()), 4),
        }

    print(json.dumps({"val_top1": float(right.mean()), "trade_offs": [pick(t) for t in (0.9, 0.93, 0.95, 0.97)]}))
    print(json.dumps({"choice": pick(args.min_precision)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
