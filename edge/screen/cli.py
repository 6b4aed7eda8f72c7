"""`store-edge faces`: run the screen's face detector on photos (2x pass on), and score it against ground truth."""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `faces detect` and `faces eval`."""
    parser = subparsers.add_parser("faces", help="face detector for the audience screens")
    sub = parser.add_subparsers(dest="faces_command", required=True, metavar="ACTION")

    detect = sub.add_parser("detect", help="print the faces found in each image, one JSON line per image")
    detect.add_argument("images", nargs="+", metavar="IMAGE")
    _detector_options(detect)
    detect.set_defaults(handler=_detect)

    evaluate = sub.add_parser("eval", help="precision/recall against a ground_truth.csv")
    evaluate.add_argument("--truth", required=True, type=Path, help="CSV with image,x,y,w,h,annotation")
    evaluate.add_argument("--images", required=True, type=Path, help="folder holding the images")
    _detector_options(evaluate)
    evaluate.set_defaults(handler=_eval)


def _detector_options(parser: argparse.ArgumentParser) -> None:
    """Options shared by `detect` and `eval`."""
    parser.add_argument(
        "--threshold", type=_threshold, default=None,
        help="minimum score in (0, 1] (default: the detector's, see MODEL_CARD.md)",
    )
    parser.add_argument(
        "--no-upscale", dest="upscale", action="store_false",
        help="skip the 2x second pass that finds faces below ~40 px (about 5x faster, lower recall on small faces)",
    )
    parser.add_argument(
        "--min-face", type=int, default=None,
        help="smallest face width wanted, px; larger values shrink images first (default: the model's own minimum)",
    )


def _threshold(text: str) -> float:
    """A score threshold in (0, 1], or a usage error naming the value."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be a number in (0, 1], got {text!r}")
    return value


def _detector(args: argparse.Namespace) -> Any:
    """Build the detector only when a command runs, so other commands do not load the model."""
    from edge.screen.detector import DEFAULT_THRESHOLD, MODEL_MIN_FACE_PX, YuNetDetector

    return YuNetDetector(
        score_threshold=DEFAULT_THRESHOLD if args.threshold is None else args.threshold,
        min_face_px=args.min_face or MODEL_MIN_FACE_PX,
        upscale=args.upscale,
    )


def _read(path: Path) -> Any:
    """Decode an image, or None when it cannot be read."""
    import cv2

    try:
        return cv2.imread(str(path), cv2.IMREAD_COLOR)
    except cv2.error:
        return None


def _detect(args: argparse.Namespace) -> int:
    """One JSON object per image; unreadable images get an `error` and make the exit code 1."""
    from edge.screen.errors import ScreenError

    detector = _detector(args)
    failed = False
    for name in args.images:
        image = _read(Path(name))
        try:
            if image is None:
                raise ScreenError("cannot read image")
            faces = [[*f.box, round(f.score, 2)] for f in detector.detect(image)]
            line: dict[str, Any] = {"image": name, "faces": faces}
        except ScreenError as err:
            failed = True
            line = {"image": name, "error": str(err) or type(err).__name__}
        print(json.dumps(line), flush=True)
    return 1 if failed else 0


def _eval(args: argparse.Namespace) -> int:
    """Detect on every image of the truth file; print one JSON object: both rules, the loose one by size band too."""
    from edge.screen.errors import ScreenError
    from edge.screen.evaluation import (
        by_band,
        load_ground_truth,
        loose_match,
        score,
        strict_match,
    )

    try:
        truth = load_ground_truth(args.truth)
    except ScreenError as err:
        print(json.dumps({"error": str(err)}))
        return 2
    detector = _detector(args)
    detections: dict[str, list[tuple[float, ...]]] = {}
    errors: dict[str, str] = {}
    elapsed = 0.0
    for name in truth:
        image = _read(args.images / name)
        if image is None:
            errors[name] = "cannot read image"
            continue
        start = time.perf_counter()
        try:
            detections[name] = [tuple(float(v) for v in f.box) for f in detector.detect(image)]
        except ScreenError as err:
            errors[name] = str(err)
            continue
        finally:
            elapsed += time.perf_counter() - start
    scored = {k: v for k, v in truth.items() if k in detections}
    strict, loose = score(detections, scored, strict_match), score(detections, scored, loose_match)
    result: dict[str, Any] = {
        "n_images": len(scored),
        "n_faces": sum(len(v) for v in scored.values()),
        "threshold": detector.score_threshold,
        "upscale": detector.upscale,
        "precision": round(loose.precision, 4),
        "recall": round(loose.recall, 4),
        "top_level_rule": "loose",
        "strict": strict.as_dict(),
        "loose": loose.as_dict(),
        "bands": {band: sc.as_dict() for band, sc in by_band(detections, scored, loose_match).items()},
        "mean_ms": round(1000 * elapsed / max(1, len(detections)), 2),
    }
    if errors:
        result["errors"] = errors
    print(json.dumps(result))
    return 1 if errors else 0


