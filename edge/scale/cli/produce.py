"""`store-edge produce`: run the shipped produce-recognition model on images (evaluation and one-off checks)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `produce eval` and `produce recognize`."""
    parser = subparsers.add_parser("produce", help="produce recognition model")
    sub = parser.add_subparsers(dest="produce_command", required=True, metavar="ACTION")
    ev = sub.add_parser("eval", help="accuracy on a dataset list (<image path>, <fine id>, <coarse id> per line)")
    ev.add_argument("--list", type=Path, required=True, dest="list_file")
    ev.add_argument("--images", type=Path, required=True, help="folder the list's paths are relative to")
    _model_args(ev)
    ev.set_defaults(handler=run_eval)
    rec = sub.add_parser("recognize", help="top-5 products for image files, one JSON line each")
    rec.add_argument("image", type=Path, nargs="+")
    _model_args(rec)
    rec.set_defaults(handler=run_recognize)


def _model_args(parser: argparse.ArgumentParser) -> None:
    """--model and --gallery, defaulting to the shipped int8 model and the gallery made by it."""
    parser.add_argument("--model", type=Path, default=None, help="ONNX model (default: shipped int8)")
    parser.add_argument("--gallery", type=Path, default=None, help="gallery .npz (default: the one made by --model)")


def _load(args: argparse.Namespace):  # noqa: ANN202 - lazy import keeps onnxruntime out of other commands
    """The model and gallery; the default gallery is the .npz next to the model made by that model."""
    from edge.scale.recognition.model import DEFAULT_MODEL, ProduceModel
    from edge.scale.recognition.gallery import Gallery

    model = args.model or DEFAULT_MODEL
    rec = ProduceModel(model)
    if args.gallery is not None:
        return rec, Gallery.load(args.gallery)
    for path in sorted(Path(model).parent.glob("*.npz")):
        gallery = Gallery.load(path)
        if gallery.model_version == rec.model_version:
            return rec, gallery
    raise SystemExit(f"no gallery made by {rec.model_version} next to {model}; pass --gallery")


def run_eval(args: argparse.Namespace) -> int:
    """Recognise every listed image; print one JSON object with top-1/top-5 fine and coarse top-1 fractions."""
    from edge.scale.recognition.errors import RecognitionError

    rec, gallery = _load(args)
    fine_of = {p: int(m["fine_id"]) for p, m in gallery.meta.items()}
    coarse_of = {p: int(m["coarse_id"]) for p, m in gallery.meta.items()}
    n = top1 = top5 = coarse1 = unsure = errors = 0
    for lineno, line in enumerate(args.list_file.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            rel, fine_s, coarse_s = (s.strip() for s in line.split(","))
            fine, coarse = int(fine_s), int(coarse_s)
            result = rec.recognize((args.images / rel).read_bytes(), gallery, k=5)
        except (OSError, ValueError, RecognitionError) as err:
            errors += 1
            print(f"{args.list_file}:{lineno}: {err}", file=sys.stderr)
            continue
        ranked = [fine_of.get(p, -1) for p, _ in result.candidates]
        n += 1
        top1 += ranked[0] == fine
        top5 += fine in ranked
        coarse1 += coarse_of.get(result.candidates[0][0], -1) == coarse
        unsure += result.unsure
    frac = (lambda v: v / n) if n else (lambda v: 0.0)
    report = {
        "n": n,
        "top1": frac(top1),
        "top5": frac(top5),
        "coarse_top1": frac(coarse1),
        "unsure": frac(unsure),
        "errors": errors,
        "model_version": rec.model_version,
    }
    print(json.dumps(report))
    return 0 if n else 1


def run_recognize(args: argparse.Namespace) -> int:
    """Print the top-5 candidates, unsure flag and timings of each image as one JSON line."""
    from edge.scale.recognition.errors import RecognitionError

    rec, gallery = _load(args)
    status = 0
    for path in args.image:
        try:
            r = rec.recognize(path.read_bytes(), gallery)
        except (OSError, RecognitionError) as err:
            print(f"{path}: {err}", file=sys.stderr)
            status = 1
            continue
        print(json.dumps({"image": str(path), "candidates": r.candidates, "unsure": r.unsure, "timings": r.timings}))
    return status
