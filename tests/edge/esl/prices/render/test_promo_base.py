"""A promotion label strikes through the catalogue's proven original price (`promo_base`), never the regular price."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edge.esl.prices.pushing import content_for
from edge.esl.prices.render.content import LabelContent, LabelSpec
from edge.esl.prices.render.errors import LabelContentError
from edge.esl.prices.render.geometry import Box
from edge.esl.prices.render.layouts import layout_for
from edge.esl.prices.render.render import draw_promo_row, render_label
from tests.edge.esl.prices.render.conftest import SAMPLES, ink_box, spec_for

ROW = {"name": "蒙牛纯牛奶", "price": "59.90", "unit": "piece", "promo_price": "45.80", "promo_end": "2026-11-30"}


def test_the_label_content_takes_the_base_from_the_product_row() -> None:
    proven = content_for({**ROW, "promo_base": "52.00"}, "M1", "https://x/p/", date(2026, 11, 30))
    assert proven.promo_base == Decimal("52.00") and proven.price == Decimal("59.90") and proven.on_promotion
    unproven = content_for({**ROW, "promo_base": None}, "M1", "https://x/p/", date(2026, 11, 30))
    assert unproven.promo_base is None and unproven.shown_price == Decimal("45.80")
    over = content_for({**ROW, "promo_base": "52.00"}, "M1", "https://x/p/", date(2026, 12, 1))
    assert over.promo_base is None and not over.on_promotion


@pytest.mark.parametrize(("changes", "words"), [
    ({"promo_base": Decimal("45.80")}, "not above the promotion price"),
    ({"promo_base": Decimal("40.00")}, "not above the promotion price"),
    ({"promo_price": None, "promo_end": None, "promo_base": Decimal("60.00")}, "without promo_price"),
    ({"promo_base": Decimal(100000)}, "promo_base out of range"),
])
def test_a_base_that_is_no_reduction_is_refused(changes: dict, words: str) -> None:
    with pytest.raises(LabelContentError, match=words):
        replace(SAMPLES["promotion"], **changes)


def _row_ink(font_path: Path, content: LabelContent, spec: LabelSpec) -> tuple[int, int, int, int] | None:
    """Where the promotion row has ink."""
    canvas = Image.new("P", (spec.width + 40, spec.height + 40), 0)
    draw_promo_row(canvas, font_path, content, layout_for(spec), 1)
    return ink_box(canvas)


def test_the_struck_price_is_the_base_and_none_is_struck_without_one(font_path: Path, size_name: str) -> None:
    spec = spec_for(size_name)
    based = replace(SAMPLES["promotion"], promo_base=Decimal("52.00"))
    unbased = replace(SAMPLES["promotion"], promo_base=None)
    with_base, without = _row_ink(font_path, based, spec), _row_ink(font_path, unbased, spec)
    row = layout_for(spec).promo_row
    assert with_base is not None and row.contains(Box(*with_base)) and with_base[0] < row.x0 + row.width // 3
    assert without is not None and without[0] > row.x0 + row.width // 3  # only the end date, on the right
    images = {name: np.asarray(render_label(c, spec)) for name, c in (
        ("52", based), ("59.90", replace(based, promo_base=Decimal("59.90"))), ("none", unbased))}
    assert len({a.tobytes() for a in images.values()}) == 3  # the struck figure is the base: a different base, a different label
