"""Text fitting: shrink, then wrap, then ellipsize, and never draw outside the box."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from edge.esl.prices.render.errors import LayoutError
from edge.esl.prices.render.geometry import Box
from edge.esl.prices.render.layouts import TextStyle, layout_for
from edge.esl.prices.render.text import ELLIPSIS, FittedText, draw_fitted, fit_text
from tests.edge.esl.prices.render.conftest import LONG_NAMES, ink_box, spec_for

MARGIN = 40


def fit(text: str, path: Path, box: Box, style: TextStyle) -> FittedText:
    """fit_text with a layout style."""
    return fit_text(text, path, box.width, box.height, style.max_size, style.min_size, style.max_lines, style.stroke)


def assert_inside(text: str, path: Path, box: Box, style: TextStyle, align: str = "left") -> FittedText:
    """Draw the fitted text alone on a canvas larger than the label and check every inked pixel lies in box."""
    fitted = fit(text, path, box, style)
    canvas = Image.new("P", (box.x1 + MARGIN, box.y1 + MARGIN), 0)
    draw_fitted(canvas, fitted, path, box, 1, align=align, valign="middle")
    ink = ink_box(canvas)
    assert ink is not None, f"nothing drawn for {text!r}"
    assert box.contains(Box(*ink)), f"{text!r} inked {ink}, outside {box}"
    return fitted


@pytest.mark.parametrize("name", LONG_NAMES)
@pytest.mark.parametrize("align", ["left", "center", "right"])
def test_long_names_stay_in_their_box(font_path: Path, size_name: str, name: str, align: str) -> None:
    """Deliberately long names, at every label size, stay inside the name box."""
    layout = layout_for(spec_for(size_name))
    fitted = assert_inside(name, font_path, layout.name, layout.name_style, align)
    assert len(fitted.lines) <= layout.name_style.max_lines


@pytest.mark.parametrize("text", LONG_NAMES)
def test_details_and_unit_line_stay_in_their_box(font_path: Path, size_name: str, text: str) -> None:
    """The one-style small-print fields obey the same rule."""
    layout = layout_for(spec_for(size_name))
    assert_inside(text, font_path, layout.details, layout.details_style)
    assert_inside(text, font_path, layout.unit_line, layout.small_style, "center")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    text=st.text(
        alphabet=st.sampled_from("红富士苹果纯牛奶进口礼盒装鳞WMil 1234567890.,-×()（）·"),
        min_size=1,
        max_size=80,
    ).filter(str.strip),
    size_name=st.sampled_from(["213", "290", "420"]),
)
def test_any_name_stays_in_its_box(font_path: Path, text: str, size_name: str) -> None:
    """Property: whatever the name, no pixel of it leaves the name box."""
    layout = layout_for(spec_for(size_name))
    assert_inside(text, font_path, layout.name, layout.name_style)


def test_shrink_then_wrap_then_ellipsize(font_path: Path) -> None:
    """A short name gets the largest size, a longer one a smaller size, then two lines, then '…'."""
    layout = layout_for(spec_for("290"))
    box, style = layout.name, layout.name_style
    short = fit("苹果", font_path, box, style)
    assert short.lines == ("苹果",) and short.size == style.max_size
    medium = fit("红富士苹果山东烟台栖霞特级", font_path, box, style)
    assert medium.lines == ("红富士苹果山东烟台栖霞特级",) and style.min_size < medium.size < style.max_size
    long = fit("红富士苹果山东烟台栖霞特级大果脆甜多汁新鲜采摘当季现发整箱装", font_path, box, style)
    assert len(long.lines) == 2 and not long.lines[-1].endswith(ELLIPSIS)
    assert "".join(long.lines) == "红富士苹果山东烟台栖霞特级大果脆甜多汁新鲜采摘当季现发整箱装"
    huge = fit("鳞" * 200, font_path, box, style)
    assert len(huge.lines) == 2 and huge.lines[-1].endswith(ELLIPSIS) and huge.size == style.min_size


def test_wrap_keeps_latin_words_whole(font_path: Path) -> None:
    """Two-line names break at spaces rather than inside an English word."""
    text = "Zespri SunGold Kiwifruit Jumbo Gift Box Extra Sweet"
    fitted = fit_text(text, font_path, 300, 60, 40, 18, 2)
    assert len(fitted.lines) == 2
    assert [w for line in fitted.lines for w in line.split()] == text.split()


def test_box_too_small_for_one_line(font_path: Path) -> None:
    """A layout bug (box lower than one line) is a LayoutError, not clipped text."""
    with pytest.raises(LayoutError):
        fit_text("苹果", font_path, 100, 5, 12, 10, 1)
