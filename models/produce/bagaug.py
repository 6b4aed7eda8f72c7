"""Clear-plastic-bag and glare augmentation, so training and benchmarks see produce as it lies bagged on a scale.

The recipe (all magnitudes drawn from the given generator, so a seed reproduces an image exactly):
1. a milky veil: blend towards a light grey-white (alpha 0.10-0.35) modulated by smooth low-frequency noise,
   which lowers contrast and saturation unevenly like thin polythene;
2. crinkles: 3-8 thin bright curved streaks (the folds of the bag catching light);
3. glare: 1-3 soft elliptical specular highlights (near-white, alpha up to 0.85);
4. a mild Gaussian blur (radius 0-1.2 px) for the bag's diffusion.
Works on uint8 RGB arrays of any size with numpy and Pillow only.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFilter


def _smooth_noise(rng: np.random.Generator, h: int, w: int, cells: int) -> np.ndarray:
    """Low-frequency noise in [0, 1]: a coarse random grid upsampled bicubically."""
    grid = (rng.random((cells, cells)) * 255).astype(np.uint8)
    up = Image.fromarray(grid, "L").resize((w, h), Image.Resampling.BICUBIC)
    return np.asarray(up, dtype=np.float32) / 255.0


def bag_glare(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Return a copy of an RGB uint8 image as if seen through a clear plastic bag with glare."""
    h, w = image.shape[:2]
    img = image.astype(np.float32)
    # 1. milky veil
    veil_colour = np.array([235.0, 238.0, 240.0]) + rng.uniform(-10, 10, 3)
    alpha = rng.uniform(0.10, 0.35) * (0.5 + _smooth_noise(rng, h, w, 4))[..., None]
    img = img * (1 - alpha) + veil_colour * alpha
    # 2. crinkles and 3. glare drawn on a light mask
    mask = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(mask)
    for _ in range(int(rng.integers(3, 9))):
        pts = [(float(rng.uniform(0, w)), float(rng.uniform(0, h)))]
        for _ in range(3):
            x, y = pts[-1]
            pts.append((x + float(rng.normal(0, w / 6)), y + float(rng.normal(0, h / 6))))
        draw.line(pts, fill=int(rng.integers(90, 200)), width=int(rng.integers(1, 4)), joint="curve")
    for _ in range(int(rng.integers(1, 4))):
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        rx, ry = rng.uniform(0.04, 0.18) * w, rng.uniform(0.02, 0.10) * h
        draw.ellipse((cx - rx, cy - ry, cx + rx, cy + ry), fill=int(rng.integers(150, 220)))
    mask = mask.filter(ImageFilter.GaussianBlur(radius=float(rng.uniform(2.0, 6.0))))
    m = np.asarray(mask, dtype=np.float32)[..., None] / 255.0
    img = img * (1 - m) + 252.0 * m
    out = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), "RGB")
    # 4. diffusion
    blur = float(rng.uniform(0.0, 1.2))
    if blur > 0.2:
        out = out.filter(ImageFilter.GaussianBlur(radius=blur))
    return np.asarray(out)
