"""Shared fixtures for the shelf-label renderer tests: sample products and the installed CJK font."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edge.esl.prices.render.content import LabelContent, LabelSpec
from edge.esl.prices.render.errors import FontNotFoundError
from edge.esl.prices.render.fonts import resolve_font

SIZES = {"213": (250, 122), "290": (296, 128), "420": (400, 300)}
COLOURS = ("bw", "bwr", "bwy")

SAMPLES = {
    "regular": LabelContent(
        sku="6901028075831",
        name="农夫山泉饮用天然水",
        name_en="Nongfu Spring Water",
        price=Decimal("3.50"),
        unit="piece",
        spec="550ml",
        qr_url="https://shop.example.cn/p/6901028075831",
    ),
    "by_weight": LabelContent(
        sku="2000001",
        name="红富士苹果",
        name_en="Fuji Apple",
        price=Decimal("6.40"),
        unit="500g",
        spec="约250g/个",
        origin="山东",
        qr_url="https://shop.example.cn/p/2000001",
    ),
    "promotion": LabelContent(
        sku="6923644272159",
        name="蒙牛纯牛奶 250ml×12盒",
        name_en="Mengniu Pure Milk",
        price=Decimal("59.90"),
        unit="件",
        spec="250ml×12",
        promo_price=Decimal("45.80"),
        promo_end=date(2026, 11, 30),
        promo_base=Decimal("59.90"),  # the original price the catalogue proved (issue 15): struck through
        qr_url="https://shop.example.cn/p/6923644272159",
    ),
}

LONG_NAMES = (
    "新西兰进口佳沛阳光金奇异果特大果超甜多汁礼盒装十二个装再加上一些更长的描述文字",
    "Supercalifragilisticexpialidocious-Organic-Extra-Virgin-Olive-Oil-Cold-Pressed",
    "德芙 Dove 丝滑牛奶巧克力 Silky Milk Chocolate 分享装 252g 碗装 x3 超值组合",
    "WWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWW",
    "鳞" * 60,
    "苹",
)


@pytest.fixture(scope="session")
def font_path() -> Path:
    """The CJK font the renderer will use; tests that draw text skip when none is installed."""
    try:
        return resolve_font()
    except FontNotFoundError as err:
        pytest.skip(str(err))


@pytest.fixture(params=sorted(SIZES))
def size_name(request: pytest.FixtureRequest) -> str:
    """Each supported label size by its short name (213 = 2.13 inch, ...)."""
    return request.param


def spec_for(size_name: str, colours: str = "bwr") -> LabelSpec:
    """The LabelSpec of a named size."""
    width, height = SIZES[size_name]
    return LabelSpec(width, height, colours)


def ink_box(image: Image.Image, background: int = 0) -> tuple[int, int, int, int] | None:
    """Bounding box (x0, y0, x1, y1 exclusive) of every pixel that differs from background."""
    pixels = np.asarray(image)
    ys, xs = np.nonzero(pixels != background)
    if len(xs) == 0:
        return None
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1
