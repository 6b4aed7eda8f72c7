"""Produce recognition on the scale: image -> embedding (ONNX, CPU) -> nearest products in a gallery."""

from __future__ import annotations

import numpy as np
from PIL import Image

INPUT_SIZE = 224


def square_box(width: int, height: int) -> tuple[int, int, int, int]:
    """Centre square crop box (left, top, right, bottom) of an image of the given size."""
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    return left, top, left + side, top + side


def normalise(rgb: np.ndarray) -> np.ndarray:
    """Map HxWx3 uint8 RGB to the model input 1x3xHxW float32 (pixel - 127) / 128."""
    x = (rgb.astype(np.float32) - 127.0) / 128.0
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None])


def crop_resize(image: Image.Image) -> np.ndarray:
    """Centre square crop, bicubic resize to 224x224, as uint8 RGB (the training-time eval view)."""
    rgb = image.convert("RGB")
    box = square_box(*rgb.size)
    return np.asarray(rgb.resize((INPUT_SIZE, INPUT_SIZE), Image.Resampling.BICUBIC, box=box))
