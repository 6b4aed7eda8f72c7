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
    ev.add_argument("--learn", action="store_true", help="stream the list in a seeded shuffled order, teaching each confirmation as the scale job does")
    ev.add_argument("--seed", type=int, default=0, help="order of the --learn stream")
    ev.add_argument("--produce-file", type=Path, default=None, help="with --learn: class -> product prices, for the suspicion rule")
    ev.add_argument("--exclude-classes", type=_class_ids, default=set(), metavar="ID,ID,...", help="fine ids left out of the gallery (open set)")
    ev.add_argument(
        "--unrecognised-score", type=_cosine, default=None, metavar="S",
        help="answer unknown below this (as [scale] unrecognised_score; default: the shipped model's)",
    )
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


def _rows(list_file: Path) -> tuple[list[tuple[int, str, int, int]], int]:
    """(line number, relative path, fine id, coarse id) of every well-formed line, and how many lines were not."""
    rows, bad = [], 0
    for lineno, line in enumerate(list_file.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            rel, fine_s, coarse_s = (s.strip() for s in line.split(","))
            rows.append((lineno, rel, int(fine_s), int(coarse_s)))
        except ValueError as err:
            bad += 1
            print(f"{list_file}:{lineno}: {err}", file=sys.stderr)
    return rows, bad


def _class_ids(text: str) -> set[int]:
    """`--exclude-classes 3,17,40` -> {3, 17, 40}."""
    try:
        return {int(part) for part in text.split(",") if part.strip()}
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"expected fine class ids like 3,17,40: {err}") from err


def _cosine(text: str) -> float:
    """A threshold on a cosine: a number from -1 to 1."""
    try:
        value = float(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"expected a number from -1 to 1: {err}") from err
    if not -1.0 <= value <= 1.0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"expected a number from -1 to 1, got {text}")
    return value


def _share(hits: int, n: int) -> float:
    """hits / n, 0.0 for nothing counted."""
    return hits / n if n else 0.0


def run_eval(args: argparse.Namespace) -> int:
    """Recognise every listed image (in a seeded shuffled stream with --learn, teaching as the scale job does); print one JSON object."""
    import random

    from edge.scale.recognition.errors import RecognitionError
    from edge.scale.recognition.model import UNRECOGNISED_SCORE, is_unrecognised

    rec, gallery = _load(args)
    threshold = UNRECOGNISED_SCORE if args.unrecognised_score is None else args.unrecognised_score
    excluded = [p for p, m in gallery.meta.items() if int(m["fine_id"]) in args.exclude_classes]
    for product in excluded:
        gallery.remove(product)
    teacher = None
    if args.learn:
        from edge.scale.recognition.teacher import Teacher, price_table

        prices = None
        if args.produce_file is not None:
            from edge.scale.recognition import produce_map

            prices = price_table(produce_map.load(args.produce_file))
        teacher = Teacher(gallery, prices)
        gallery = teacher.gallery
    fine_of = {p: int(m["fine_id"]) for p, m in gallery.meta.items()}
    coarse_of = {p: int(m["coarse_id"]) for p, m in gallery.meta.items()}
    product_of = {f: p for p, f in fine_of.items()}
    rows, errors = _rows(args.list_file)
    if args.learn:
        random.Random(args.seed).shuffle(rows)
    known: list[tuple[bool, bool]] = []  # (top-1 right, top-5 right) per known-class image, in stream order
    coarse1 = unsure = sure_right = unknown = excluded_n = excluded_unknown = 0
    for lineno, rel, fine, coarse in rows:
        try:
            result = rec.recognize((args.images / rel).read_bytes(), gallery, k=5)
        except (OSError, ValueError, RecognitionError) as err:
            errors += 1
            print(f"{args.list_file}:{lineno}: {err}", file=sys.stderr)
            continue
        ranked = [fine_of.get(p, -1) for p, _ in result.candidates]
        refused = is_unrecognised(result, threshold)
        if fine in args.exclude_classes:
            excluded_n += 1
            excluded_unknown += refused
            continue
        known.append((ranked[0] == fine, fine in ranked))
        coarse1 += coarse_of.get(result.candidates[0][0], -1) == coarse
        unsure += result.unsure
        sure_right += not result.unsure and ranked[0] == fine
        unknown += refused
        if teacher is not None and fine in product_of:  # refused: no tiles, the customer searches, which never teaches
            teacher.confirm([] if refused else result.candidates, product_of[fine], result.embedding)
    n = len(known)
    report: dict[str, object] = {
        "n": n,
        "top1": _share(sum(t1 for t1, _ in known), n),
        "top5": _share(sum(t5 for _, t5 in known), n),
        "coarse_top1": _share(coarse1, n),
        "unsure_rate": _share(unsure, n),
        "top1_when_sure": _share(sure_right, n - unsure),
        "errors": errors,
        "model_version": rec.model_version,
    }
    if args.exclude_classes:
        report.update(
            n_excluded=excluded_n, excluded_unknown=_share(excluded_unknown, excluded_n), known_unknown=_share(unknown, n)
        )
    if teacher is not None:
        bounds = [round(n * q / 4) for q in range(5)]
        report["curve"] = [
            {
                "seen": bounds[q + 1],
                "top1": _share(sum(t1 for t1, _ in known[bounds[q] : bounds[q + 1]]), bounds[q + 1] - bounds[q]),
                "top5": _share(sum(t5 for _, t5 in known[bounds[q] : bounds[q + 1]]), bounds[q + 1] - bounds[q]),
            }
            for q in range(4)
        ]
        report.update(seed=args.seed, learned=teacher.stored_examples(), gallery_examples=teacher.gallery_examples())
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
