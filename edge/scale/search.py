"""Search of the scale catalogue, field by field: name, pinyin, initials, English name, PLU; ranked, never across fields.

Pure and cheap: a product's keys are computed once when the catalogue view is refreshed, and each
query tests them one field at a time, so `td` never matches the end of one field and the start of
the next (the bug of one joined search string). Ranking, best first: a field equal to the query,
a field starting with it, a word of a field starting with it, the query anywhere inside a field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pypinyin import Style, lazy_pinyin

FIELDS = ("name", "initials", "pinyin", "english", "plu")  # on a tie the earlier field is named (the letter pad types initials)
EXACT, PREFIX, WORD, INSIDE = range(4)
_SPACES = re.compile(r"\s+")
_HAN = re.compile(r"[\u3400-\u9fff]")


def normalise(text: str) -> str:
    """Casefolded, with runs of white space as one space and none at the ends."""
    return _SPACES.sub(" ", text.casefold()).strip()


@dataclass(frozen=True, slots=True)
class Keys:
    """One product's search keys, each its own field (normalised)."""

    name: str
    pinyin: str
    initials: str
    english: str
    plu: str

    @classmethod
    def of(cls, name: str, name_en: str | None, plu: str | int | None) -> Keys:
        """Keys of a product: pinyin and initials of its Chinese characters, Latin words kept (`Bravo 苹果汁` → `bravo pingguozhi`, `b pgz`)."""
        words: list[str] = []
        initials: list[str] = []
        for part in lazy_pinyin(name, style=Style.NORMAL):
            if _HAN.search(part) or not part.strip():
                continue
            if part.isascii() and part.isalpha() and part == part.lower() and part.strip() == part:
                words.append(part)  # one Chinese character's pinyin
                initials.append(part[0])
            else:  # a Latin word, a size such as 1L: its own word
                for latin in part.split():
                    words.append(f" {latin} ")
                    initials.append(f" {latin[0]} ")
        plu_text = "" if plu in (None, "") else str(int(str(plu)))
        return cls(normalise(name), normalise("".join(words)), normalise("".join(initials)), normalise(name_en or ""), plu_text)


def match(query: str, keys: Keys) -> tuple[int, str] | None:
    """The best (rank, field) at which `query` (normalised) matches one field of `keys`, or None."""
    if not query:
        return None
    compact = query.replace(" ", "")
    best: tuple[int, str] | None = None
    for field in FIELDS:
        value: str = getattr(keys, field)
        if not value:
            continue
        rank = _rank(query, compact, value, spaced=field in ("name", "english"))
        if rank is not None and (best is None or rank < best[0]):
            best = (rank, field)
    return best


def _rank(query: str, compact: str, value: str, *, spaced: bool) -> int | None:
    """How well one field matches: exact, prefix, a word's prefix, inside; spaces count in names, not in pinyin or PLUs."""
    whole = value.replace(" ", "")
    if compact == whole:
        return EXACT
    if spaced and (value.startswith(query) or whole.startswith(compact)) or not spaced and whole.startswith(compact):
        return PREFIX
    if any(word.startswith(query if spaced else compact) for word in value.split(" ")[1:]):
        return WORD
    if (query in value) if spaced else (compact in whole):
        return INSIDE
    return None
