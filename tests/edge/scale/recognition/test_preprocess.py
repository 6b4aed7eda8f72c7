"""Preprocessing gives the model exactly the input it was trained and measured with, faster (issue 11, item 19).

`reference_preprocess` is the implementation the shipped model's figures were measured with (full-size
BGR->RGB reorder, two more full-size copies, then the resize), kept here only as the yardstick.
"""

from __future__ import annotations

import io
import statistics
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from edge.scale.recognition.errors import UnusableFrame
from edge.scale.recognition.model import BLANK_STD, INPUT_SIZE, normalise, preprocess, square_box

DATA = Path(__file__).resolve().parents[5] / "shared/datasets/grocerystore"
needs_data = pytest.mark.skipif(not (DATA / "test_dev.txt").exists(), reason="dataset ../shared absent")


def reference_preprocess(image: np.ndarray | Image.Image | bytes) -> np.ndarray:
    """The preprocessing before issue 11, verbatim in what it computes."""
    if isinstance(image, bytes):
        image = Image.open(io.BytesIO(image))
        image.load()
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image) if image.ndim == 2 else Image.fromarray(np.ascontiguousarray(image[:, :, ::-1]), "RGB")
    rgb_image = image.convert("RGB")
    rgb = np.asarray(rgb_image.resize((INPUT_SIZE, INPUT_SIZE), Image.Resampling.BICUBIC, box=square_box(*rgb_image.size)))
    if float(rgb.astype(np.float32).mean(axis=2).std()) < BLANK_STD:
        raise UnusableFrame("blank frame (no texture)")
    return normalise(rgb)


def same(image: np.ndarray | Image.Image | bytes) -> None:
    """Both implementations give bit-identical arrays, or both call the frame blank."""
    try:
        expected = reference_preprocess(image)
    except UnusableFrame:
        with pytest.raises(UnusableFrame, match="blank"):
            preprocess(image)
        return
    actual = preprocess(image)
    assert actual.dtype == expected.dtype == np.float32 and actual.shape == expected.shape == (1, 3, 224, 224)
    assert actual.tobytes() == expected.tobytes()


@settings(max_examples=40, deadline=None)
@given(
    height=st.integers(16, 1080),
    width=st.integers(16, 1920),
    seed=st.integers(0, 2**32 - 1),
    grey=st.booleans(),
)
def test_random_frames_give_the_reference_input(height: int, width: int, seed: int, grey: bool) -> None:
    rng = np.random.default_rng(seed)
    shape = (height, width) if grey else (height, width, 3)
    # smooth gradients plus noise, so that the bicubic filter's overshoot and clipping are exercised too
    base = rng.integers(0, 256, size=(4, 4) + shape[2:]).astype(np.float32)
    frame = cv2.resize(base, (width, height), interpolation=cv2.INTER_CUBIC) + rng.normal(0, rng.uniform(0, 60), shape)
    same(np.clip(frame, 0, 255).astype(np.uint8))


@pytest.mark.parametrize("size", [(1280, 720), (720, 1280), (1920, 1080), (640, 480), (224, 224), (17, 16)])
def test_camera_sizes_give_the_reference_input(size: tuple[int, int]) -> None:
    width, height = size
    same(np.random.default_rng(width * height).integers(0, 256, (height, width, 3), dtype=np.uint8))


def test_frames_that_are_views_give_the_reference_input() -> None:
    """A crop or a decimated frame (not contiguous in memory) is read the same way."""
    frame = np.random.default_rng(3).integers(0, 256, (720, 1280, 3), dtype=np.uint8)
    for view in (frame[100:600, 200:1100], frame[::2, ::2], frame[:, ::-1], np.asfortranarray(frame)):
        same(view)


@pytest.mark.parametrize("mode", ["RGB", "L", "P", "RGBA", "LA", "CMYK", "YCbCr", "I;16", "1"])
def test_pil_images_of_every_mode_give_the_reference_input(mode: str) -> None:
    rgb = Image.fromarray(np.random.default_rng(5).integers(0, 256, (300, 420, 3), dtype=np.uint8), "RGB")
    if mode == "RGBA":
        image = rgb.convert("RGBA")
        image.putalpha(Image.linear_gradient("L").resize(rgb.size))
    elif mode == "I;16":
        image = Image.fromarray((np.random.default_rng(6).integers(0, 65536, (300, 420))).astype(np.uint16))
    else:
        image = rgb.convert(mode)
    same(image)


def test_blank_and_nearly_blank_frames_are_judged_alike() -> None:
    """The blank rule is unchanged at its threshold: faint noise around BLANK_STD gets the same verdict."""
    rng = np.random.default_rng(7)
    verdicts = set()
    for sigma in np.linspace(20.0, 28.0, 33):  # the 224x224 view keeps about a quarter of the noise
        frame = np.clip(128 + rng.normal(0, sigma, (720, 1280, 1)), 0, 255).astype(np.uint8).repeat(3, axis=2)
        same(frame)
        try:
            preprocess(frame)
            verdicts.add("kept")
        except UnusableFrame:
            verdicts.add("blank")
    assert verdicts == {"kept", "blank"}  # the sweep crossed the threshold
    for value in (0, 128, 255):
        with pytest.raises(UnusableFrame, match="blank"):
            preprocess(np.full((720, 1280, 3), value, np.uint8))


@needs_data
def test_dataset_photos_give_the_reference_input() -> None:
    """Shop photos as files, as decoded images, as BGR frames and blown up to a camera's 1280x720."""
    rows = [line.split(",")[0].strip() for line in (DATA / "test_dev.txt").read_text().splitlines() if line.strip()]
    for rel in rows[:: max(1, len(rows) // 25)]:
        data = (DATA / rel).read_bytes()
        with Image.open(io.BytesIO(data)) as photo:
            photo.load()
        bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        for image in (data, photo, bgr, cv2.resize(bgr, (1280, 720), interpolation=cv2.INTER_LINEAR)):
            same(image)


def test_camera_frame_costs_well_under_the_reference() -> None:
    """At 1280x720 the new path does one full-size copy instead of three and skips the full-size reorder."""
    frame = np.random.default_rng(8).integers(0, 256, (720, 1280, 3), dtype=np.uint8)
    times: dict[str, list[float]] = {"new": [], "reference": []}
    for _ in range(25):
        for name, run in (("new", preprocess), ("reference", reference_preprocess)):
            start = time.thread_time()
            run(frame)
            times[name].append(time.thread_time() - start)
    ratio = statistics.median(times["new"]) / statistics.median(times["reference"])
    assert ratio < 0.75, f"new / reference CPU time = {ratio:.2f}"
