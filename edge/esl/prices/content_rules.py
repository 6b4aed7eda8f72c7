"""The shelf labels' part of the label content rules (edge/prices/rules.py): what the layout would draw for a product.

Registered through `JobSpec.catalog_check`, so the catalogue (core) runs it on every item before accepting it
without importing the job. It builds the label content the pusher would render (`content_for`) and fits its
text as the renderer does (`layouts.shown`), for every display size the store's labels report (any label may be
bound to any product), or the 2.13-inch strip and 4.2-inch panel while none is known:

- `name_shown`: the whole 品名 is drawn (a name cut with '…' may lose what tells it apart);
- `spec_origin_shown`: 规格 and 产地, where the product has them, are drawn whole on the details line (the
  English name comes first on that line: it may add, never crowd them out);
- `unit_price_shown`: goods sold by weight show their unit-price line whole (e.g. ¥6.40/500g · ¥12.80/kg);
- `price_numerals`: every price the label prints is ¥ and Arabic numerals with two decimals.

A product whose content no label could show at all (e.g. a blank qr_url) is refused with rule `renders`. An item
that passes is answered with the rules it was checked against (`renders` and `price_numerals` always, the others
where the item sets what they judge), which its price history row records.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import structlog

from edge.config import Config
from edge.esl.config import EslSection
from edge.esl.prices.pushing import content_for
from edge.esl.prices.render.content import LabelContent, LabelSpec, format_yuan, to_fen
from edge.esl.prices.render.errors import (
    FontNotFoundError,
    LabelContentError,
    UnsupportedDisplayError,
)
from edge.esl.prices.render.fonts import resolve_font
from edge.esl.prices.render.layouts import (
    Layout,
    drawn_whole,
    fitted,
    layout_for,
    visible,
)
from edge.prices.promotions import Refusal
from edge.prices.rules import PRICE_FIELDS, Passed, Proposed

log = structlog.get_logger("esl.content_rules")

NAME_SHOWN = "name_shown"
SPEC_ORIGIN_SHOWN = "spec_origin_shown"
UNIT_PRICE_SHOWN = "unit_price_shown"
PRICE_NUMERALS = "price_numerals"
RENDERS = "renders"

#: Displays checked while the store knows no label's size: the smallest strip and the panel in common use.
DEFAULT_DISPLAYS = (LabelSpec(250, 122), LabelSpec(400, 300))
_WEIGHT_UNITS = ("kg", "500g")
_PRICE_TEXT = re.compile(r"¥(0|[1-9][0-9]*)\.[0-9]{2}")
_DETAIL_FIELDS = frozenset({"name_en", "spec", "origin"})


def price_text_problem(text: str) -> bool:
    """Whether a printed price is anything but ¥ and ASCII Arabic numerals with two decimals."""
    return _PRICE_TEXT.fullmatch(text) is None


def displays(conn: sqlite3.Connection) -> list[LabelSpec]:
    """Every display size the store's labels report, landscape (sizes no layout covers are left out: nothing renders there)."""
    found: list[LabelSpec] = []
    for width, height in conn.execute(
        "SELECT DISTINCT max(width, height), min(width, height) FROM esl_labels WHERE width IS NOT NULL AND height IS NOT NULL"
    ):
        try:
            found.append(LabelSpec(int(width), int(height)))
        except UnsupportedDisplayError:
            continue
    return sorted(found, key=lambda s: (s.width, s.height)) or list(DEFAULT_DISPLAYS)


def _cut_detail(content: LabelContent, layout: Layout, path: Path) -> str | None:
    """The first of spec / origin the details line cuts, if any."""
    details = " · ".join(content.details())
    if not details or drawn_whole(details, layout.details, layout.details_style, path):
        return None
    shown = len(visible(fitted(details, layout.details, layout.details_style, path)))
    end = 0
    for key, part in (("name_en", content.name_en), ("spec", content.spec), ("origin", f"产地: {content.origin}" if content.origin else None)):
        if not part or not part.strip():
            continue
        end += len(part.replace(" ", "")) + (1 if end else 0)  # the '·' before every part but the first
        if key != "name_en" and end > shown:
            return key
    return None


class LabelChecks:
    """The check the catalogue runs: each item's label content fitted on every display size the store has."""

    def __init__(self, section: EslSection, tz: ZoneInfo) -> None:
        """The font and QR base of `[esl]` (the pusher's), and the store's time zone (an ended promotion is not drawn)."""
        self._font_setting = section.font
        self._qr_base_url = section.qr_base_url
        self._tz = tz
        self._font: Path | None = None
        self._no_font = False

    def _path(self) -> Path | None:
        """The label font, found once; without one no label renders, and the job reports that itself."""
        if self._font is None and not self._no_font:
            try:
                self._font = resolve_font(self._font_setting)
            except FontNotFoundError as err:
                self._no_font = True
                log.warning("esl.content_rules.no_font", error=str(err))
        return self._font

    def __call__(self, conn: sqlite3.Connection, proposed: Sequence[Proposed]) -> list[Refusal | Passed]:
        """One verdict per item: the rule broken, or the rules passed where every display would show it lawfully
        (none without a font: nothing could be checked)."""
        path = self._path()
        if path is None or not proposed:
            return [() for _ in proposed]
        layouts = [(f"{spec.width}x{spec.height}", layout_for(spec)) for spec in displays(conn)]
        today = datetime.now(self._tz).date()
        return [self._one(p, layouts, path, today) for p in proposed]

    def _one(self, p: Proposed, layouts: Sequence[tuple[str, Layout]], path: Path, today: date) -> Refusal | Passed:
        """The first rule one item's label breaks, or the rules it was checked against."""
        try:
            content = content_for(dict(p.row), p.sku, self._qr_base_url, today)
        except LabelContentError as err:
            return Refusal("qr_url" if "qr_url" in str(err) else "name", RENDERS, f"no label can show it: {err}")
        price_field = "promo_price" if content.on_promotion else "price"
        printed = [format_yuan(to_fen(content.shown_price)), *re.findall(r"¥[^/ ]*", content.unit_price_line())]
        if content.promo_base is not None:
            printed.append(format_yuan(content.promo_base))
        if any(price_text_problem(text) for text in printed):
            return Refusal(price_field, PRICE_NUMERALS, "a price would not print as ¥ and Arabic numerals")
        unit_line = content.unit_price_line()
        weighed = bool(p.fields & (PRICE_FIELDS | {"unit"})) and content.unit in _WEIGHT_UNITS
        for size, layout in layouts:
            if "name" in p.fields and not drawn_whole(content.name, layout.name, layout.name_style, path):
                return Refusal("name", NAME_SHOWN, f"品名 does not fit a {size} label whole (cut with '…'): shorten it")
            if p.fields & _DETAIL_FIELDS:
                cut = _cut_detail(content, layout, path)
                if cut is not None:
                    what = "规格" if cut == "spec" else "产地"
                    return Refusal(cut, SPEC_ORIGIN_SHOWN, f"{what} does not fit a {size} label whole (cut with '…');"
                                                           " shorten it, or name_en, which comes first on its line")
            if weighed and not drawn_whole(unit_line, layout.unit_line, layout.small_style, path):
                return Refusal(price_field, UNIT_PRICE_SHOWN, f"the unit-price line ({unit_line}) does not fit a {size} label whole")
        checked = (("name" in p.fields, NAME_SHOWN), (bool(p.fields & _DETAIL_FIELDS), SPEC_ORIGIN_SHOWN), (weighed, UNIT_PRICE_SHOWN))
        return (RENDERS, PRICE_NUMERALS, *(rule for judged, rule in checked if judged))


def catalog_check(config: Config, section: EslSection) -> LabelChecks | None:
    """`JobSpec.catalog_check` of the esl job: the label checks for the `cn` rule set, nothing for `none`."""
    return LabelChecks(section, ZoneInfo(config.store.timezone)) if config.prices.rules == "cn" else None
