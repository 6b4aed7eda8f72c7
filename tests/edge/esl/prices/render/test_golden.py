"""Golden images: every layout (size x regular/by-weight/promotion x bw/bwr/bwy) compared pixel-exact.

Regenerate after an intended visual change with:  UPDATE_GOLDEN=1 pytest tests/edge/esl
then look at the PNGs in tests/edge/esl/prices/render/golden/ before committing them. The goldens were drawn with
fonts-wqy-microhei and the FreeType bundled with Pillow; with another CJK font they are skipped.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edge.esl.prices.render.render import render_label
from tests.edge.esl.prices.render.conftest import COLOURS, SAMPLES, spec_for

GOLDEN = Path(__file__).parent / "golden"
GOLDEN_FONT = "wqy-microhei.ttc"


@pytest.mark.parametrize("colours", COLOURS)
@pytest.mark.parametrize("kind", sorted(SAMPLES))
def test_matches_golden(font_path: Path, tmp_path: Path, size_name: str, kind: str, colours: str) -> None:
    """The rendered label equals the committed PNG, pixel for pixel and palette for palette."""
    if font_path.name != GOLDEN_FONT:
        pytest.skip(f"goldens are drawn with {GOLDEN_FONT}, this machine uses {font_path}")
    image = render_label(SAMPLES[kind], spec_for(size_name, colours))
    golden_file = GOLDEN / f"{size_name}_{kind}_{colours}.png"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        image.save(golden_file, optimize=True)
    if not golden_file.is_file():
        pytest.fail(f"{golden_file.name} missing: run UPDATE_GOLDEN=1 pytest tests/edge/esl")
    with Image.open(golden_file) as golden:
        golden.load()
    assert golden.mode == "P" and golden.size == image.size
    actual_file = tmp_path / golden_file.name
    image.save(actual_file)
    differing = int(np.count_nonzero(np.asarray(golden) != np.asarray(image)))
    assert differing == 0, f"{differing} pixels differ from {golden_file}; actual image: {actual_file}"
    assert golden.getpalette()[:9] == image.getpalette()[:9]
