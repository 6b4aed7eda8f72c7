"""Face detector accuracy study: a synthetic shop set built at run time from ../shared, scored by face size band.

The set pastes the shared set's large faces (and the public-domain astronaut) at 16–120 px, with varied light, blur,
rotation, yaw and JPEG quality, onto real grocery-store photos, with the ground truth known. It is generated
deterministically and never written into the repository. Identities and backgrounds are split: even-numbered ones
build the *choosing* part (settings are picked there), odd-numbered ones the *checking* part.

Run alone: `.venv/bin/python benchmarks/faces_accuracy.py` (prints the option table and the figures by band).
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from devices.camera.scene import FaceSprite, astronaut_face, paste_face
from edge.screen.detector import UPSCALE_BELOW_PX, Face, YuNetDetector, merge, plausible
from edge.screen.evaluation import (
    by_band,
    load_ground_truth,
    loose_match,
    score,
)
from edge.screen.tracker import Box

SHARED = ROOT.parent / "shared"
FACES = SHARED / "datasets" / "faces"
GROCERY = SHARED / "datasets" / "grocerystore"
SIZE = (640, 480)
SIZES_PX = (16.0, 120.0)
IMAGES_PER_PART = 120


@dataclass(frozen=True, slots=True)
class Sample:
    """One synthetic image and the boxes of the faces pasted into it."""

    name: str
    image: np.ndarray
    boxes: list[Box]


def sprites() -> list[FaceSprite]:
    """Heads cut from the shared set's consensus-boxed faces at least 60 px wide, plus the astronaut."""
    truth = load_ground_truth(FACES / "ground_truth.csv")
    out = [astronaut_face()]
    for name in sorted(truth):
        if not name.startswith(("fr_", "dlib_")):
            continue
        image = cv2.imread(str(FACES / "images" / name))
        if image is None:
            continue
        h, w = image.shape[:2]
        for x, y, bw, bh in truth[name]:
            if bw < 60:
                continue
            x0, y0 = max(0, int(x - 0.45 * bw)), max(0, int(y - 0.35 * bh))
            x1, y1 = min(w, int(x + 1.45 * bw)), min(h, int(y + 1.35 * bh))
            head = np.ascontiguousarray(image[y0:y1, x0:x1])
            out.append(FaceSprite(head, (round(x - x0), round(y - y0), round(bw), round(bh))))
    return out


def backgrounds() -> list[np.ndarray]:
    """Grocery shelf photos (the shared set's negatives and the grocery-store test photos), 640×480."""
    paths = sorted(p for p in (FACES / "images").glob("grocery_*.jpg"))
    paths += sorted((GROCERY / "test").rglob("*.jpg"))[::25]
    out = []
    for path in paths:
        image = cv2.imread(str(path))
        if image is not None:
            out.append(cv2.resize(image, SIZE, interpolation=cv2.INTER_AREA))
    return out


def _light(patch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Gamma, dimming or backlight-like darkening, and blur, applied to one head."""
    kind = rng.choice(["normal", "gamma", "dim", "backlit"])
    img = patch.astype(np.float32) / 255.0
    if kind == "gamma":
        img = img ** float(rng.uniform(0.5, 2.0))
    elif kind == "dim":
        img = img * float(rng.uniform(0.3, 0.6))
    elif kind == "backlit":
        img = img ** 1.6 * float(rng.uniform(0.35, 0.6))
    out = np.clip(img * 255.0, 0, 255).astype(np.uint8)
    sigma = float(rng.choice([0.0, 0.0, 0.7, 1.2]))
    return cv2.GaussianBlur(out, (0, 0), sigma) if sigma else out


def _rotated(sprite: FaceSprite, degrees: float) -> FaceSprite:
    """The sprite turned about its face centre; the face box stays the upright box (what annotators draw)."""
    x, y, w, h = sprite.box
    turn = cv2.getRotationMatrix2D((x + w / 2, y + h / 2), degrees, 1.0)
    image = cv2.warpAffine(sprite.image, turn, sprite.image.shape[1::-1], borderMode=cv2.BORDER_REPLICATE)
    return FaceSprite(image, sprite.box)


def build_part(part: int, n_images: int = IMAGES_PER_PART) -> list[Sample]:
    """Part 0 (choosing) or 1 (checking): its own identities and backgrounds, 1–4 faces per image, seeded."""
    heads = sprites()[part::2]
    shelves = backgrounds()[part::2]
    rng = np.random.default_rng(1600 + part)
    samples = []
    for n in range(n_images):
        canvas = shelves[int(rng.integers(len(shelves)))].copy()
        if rng.random() < 0.3:  # a brighter scene, as with a window or lights behind the shopper
            canvas = cv2.convertScaleAbs(canvas, alpha=1.0, beta=float(rng.uniform(40, 90)))
        boxes: list[Box] = []
        for _ in range(int(rng.integers(1, 5))):
            width = math.exp(rng.uniform(*np.log(SIZES_PX)))
            sprite = heads[int(rng.integers(len(heads)))]
            sprite = _rotated(FaceSprite(_light(sprite.image, rng), sprite.box), float(rng.uniform(-12, 12)))
            cx = float(rng.uniform(width, SIZE[0] - width))
            cy = float(rng.uniform(width * 1.2, SIZE[1] - width * 1.2))
            if any(abs(cx - (b[0] + b[2] / 2)) < (width + b[2]) * 0.9 and abs(cy - (b[1] + b[3] / 2))
                   < (width + b[3]) * 1.1 for b in boxes):
                continue  # keep faces apart: a pasted head must not cover another face
            box = paste_face(canvas, sprite, cx, cy, width, yaw_deg=float(rng.uniform(-35, 35)))
            if box is not None:
                boxes.append(box)
        quality = int(rng.integers(30, 96))
        _, jpeg = cv2.imencode(".jpg", canvas, [cv2.IMWRITE_JPEG_QUALITY, quality])
        samples.append(Sample(f"part{part}_{n:03d}.jpg", cv2.imdecode(jpeg, cv2.IMREAD_COLOR), boxes))
    return samples


def shared_samples() -> list[Sample]:
    """The 32-image shared set as samples (negatives included)."""
    truth = load_ground_truth(FACES / "ground_truth.csv")
    return [Sample(n, cv2.imread(str(FACES / "images" / n)), list(b)) for n, b in sorted(truth.items())]


def figures_of(found: dict[str, list[Box]], samples: Sequence[Sample]) -> dict:
    """Loose-rule figures, total and by face size band."""
    truth = {s.name: s.boxes for s in samples}
    out = {"all": score(found, truth, loose_match).as_dict()}
    out.update({band: sc.as_dict() for band, sc in by_band(found, truth, loose_match).items()})
    return out


def evaluate(detector: YuNetDetector, samples: Sequence[Sample]) -> tuple[dict, float]:
    """The detector's loose-rule figures by band and its mean CPU ms per image."""
    found: dict[str, list[Box]] = {}
    start = time.process_time()
    for s in samples:
        found[s.name] = [f.box for f in detector.detect(s.image)]
    ms = 1000 * (time.process_time() - start) / max(1, len(samples))
    return figures_of(found, samples), ms


@dataclass(frozen=True, slots=True)
class Option:
    """One setting studied: score threshold, 2× pass (faces kept below `below_px`), landmark check, extra NMS."""

    threshold: float
    upscale: bool = False
    below_px: float = UPSCALE_BELOW_PX
    landmarks: bool = False
    nms: bool = False

    @property
    def label(self) -> str:
        """Short name for the table."""
        parts = [f"{self.threshold:.2f}"]
        parts += [f"2x<{self.below_px:.0f}"] if self.upscale else []
        parts += ["landmarks"] * self.landmarks + ["nms"] * self.nms
        return " ".join(parts)


def _nms(faces: list[Face]) -> list[Face]:
    """Drop any face loosely overlapping a higher-scored one (the wheel's own NMS is IoU-only)."""
    kept: list[Face] = []
    for face in sorted(faces, key=lambda f: -f.score):
        if not any(loose_match(face.box, k.box) for k in kept):
            kept.append(face)
    return kept


def apply(option: Option, first: list[Face], second: list[Face], factor: float) -> list[Face]:
    """The faces an option keeps from the raw candidates of both passes (as `YuNetDetector.detect` does)."""
    def keep(faces: list[Face]) -> list[Face]:
        """Candidates above the threshold (and plausible, with the landmark check)."""
        return [f for f in faces if f.score >= option.threshold and (not option.landmarks or plausible(f))]

    faces = merge(keep(first), keep(second) if option.upscale else [], option.below_px * factor)
    return _nms(faces) if option.nms else faces


def candidates(samples: Sequence[Sample]) -> tuple[dict[str, tuple[list[Face], list[Face], float]], float, float]:
    """Raw candidates (score ≥ 0.2, no check) of both passes per image, and CPU ms per image of each pass."""
    raw = YuNetDetector(score_threshold=0.2, min_face_px=24, upscale=False, check_landmarks=False)
    both = YuNetDetector(score_threshold=0.2, min_face_px=24, upscale=True, check_landmarks=False)
    out = {}
    t0 = time.process_time()
    for s in samples:
        raw.passes(s.image)
    t1 = time.process_time()
    for s in samples:
        out[s.name] = both.passes(s.image)
    t2 = time.process_time()
    n = max(1, len(samples))
    return out, 1000 * (t1 - t0) / n, 1000 * (t2 - t1) / n


OPTIONS = [
    *(Option(t) for t in (0.5, 0.6, 0.7, 0.8, 0.85, 0.9)),
    Option(0.6, landmarks=True), Option(0.6, landmarks=True, nms=True),
    *(Option(t, upscale=True) for t in (0.6, 0.7, 0.75, 0.8, 0.85, 0.9)),
    Option(0.8, upscale=True, below_px=64), Option(0.85, upscale=True, below_px=64),
    Option(0.85, upscale=True, below_px=24),
    Option(0.8, upscale=True, landmarks=True), Option(0.85, upscale=True, landmarks=True),
    Option(0.85, upscale=True, landmarks=True, nms=True),
]


def _line(label: str, figures: dict, ms: float) -> str:
    """One table row: totals then P/R per band."""
    cells = [f"{figures['all']['precision']:.3f}/{figures['all']['recall']:.3f}"]
    cells += [f"{figures[b]['precision']:.3f}/{figures[b]['recall']:.3f} ({figures[b]['tp'] + figures[b]['fn']})"
              for b in ("<24", "24-48", ">=48")]
    return f"| {label} | " + " | ".join(cells) + f" | {ms:.0f} |"


def study(options: Sequence[Option] = OPTIONS, part: int = 0) -> list[str]:
    """The option table on one part (the choosing part, 0, is what the defaults were chosen on)."""
    samples = build_part(part)
    cached, ms_one, ms_both = candidates(samples)
    rows = [f"| option (part {part}) | P/R all | <24 px | 24–48 | ≥48 | CPU ms/image 640×480 |",
            "| --- | --- | --- | --- | --- | --- |"]
    for option in options:
        found = {name: [f.box for f in apply(option, *c)] for name, c in cached.items()}
        rows.append(_line(option.label, figures_of(found, samples), ms_both if option.upscale else ms_one))
    return rows


def accuracy_parts() -> list[tuple[str, dict]]:
    """Shipped-default CLI detector figures (loose rule, by band) on the shared set and both synthetic parts."""
    detector = YuNetDetector(min_face_px=24, upscale=True)
    parts = [("shared set (32 images)", shared_samples()), ("synthetic choosing", build_part(0)),
             ("synthetic checking", build_part(1))]
    out = []
    for label, samples in parts:
        figures, ms = evaluate(detector, samples)
        figures["ms_per_image"] = round(ms, 1)
        out.append((label, figures))
    return out


def main() -> None:
    """Print the option table, then the chosen settings' figures on every part."""
    start = time.perf_counter()
    print("\n".join(study()))
    print()
    print("\n".join(study(part=1)))
    print()
    for label, figures in accuracy_parts():
        print(_line(label, figures, figures["ms_per_image"]))
    print(f"\nrun time {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
