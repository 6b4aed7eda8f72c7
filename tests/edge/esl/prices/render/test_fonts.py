"""CJK font lookup: a missing or non-CJK font is a clear typed error, never a silent fallback."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.esl.prices.render.errors import FontNotFoundError
from edge.esl.prices.render.fonts import find_font, font
from edge.esl.prices.render.render import render_label
from tests.edge.esl.prices.render.conftest import SAMPLES, spec_for

DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


def test_missing_configured_font_names_path_and_package(tmp_path: Path) -> None:
    """The error says which paths were tried and which apt package fixes it."""
    missing = tmp_path / "nope.ttc"
    with pytest.raises(FontNotFoundError) as caught:
        find_font(missing)
    assert caught.value.tried == (missing,)
    assert str(missing) in str(caught.value) and "fonts-wqy-microhei" in str(caught.value)


def test_no_default_font_installed(tmp_path: Path) -> None:
    """With none of the default paths present the error lists all of them."""
    candidates = (tmp_path / "a.ttc", tmp_path / "b.ttc")
    with pytest.raises(FontNotFoundError) as caught:
        find_font(candidates=candidates)
    assert caught.value.tried == candidates


def test_unreadable_font_file(tmp_path: Path) -> None:
    """A corrupt font file is reported as such."""
    bad = tmp_path / "bad.ttf"
    bad.write_bytes(b"not a font")
    with pytest.raises(FontNotFoundError, match="cannot load"):
        find_font(bad)


@pytest.mark.skipif(not DEJAVU.is_file(), reason="DejaVu Sans not installed")
def test_font_without_cjk_glyphs_is_refused() -> None:
    """A Latin-only font would print tofu boxes for product names: refuse it."""
    with pytest.raises(FontNotFoundError, match="no CJK glyphs"):
        find_font(DEJAVU)


def test_render_with_missing_font_raises(tmp_path: Path) -> None:
    """render_label surfaces the font error instead of drawing with a fallback."""
    with pytest.raises(FontNotFoundError):
        render_label(SAMPLES["regular"], spec_for("290"), font_path=tmp_path / "missing.ttc")


def test_fonts_are_cached_per_size(font_path: Path) -> None:
    """Loading a face is slow; the same size returns the same object, another size another one."""
    assert font(font_path, 20) is font(font_path, 20)
    assert font(font_path, 20) is not font(font_path, 21)
    assert find_font(font_path) == font_path
