"""Label content rules: what a product's shelf label must say, checked before the catalogue accepts the item.

China's 明码标价和禁止价格欺诈规定 (SAMR, in force 2022-07-01) asks every label for 品名, 价格 and 计价单位, prices
in Arabic numerals in RMB, the other price information in standard Chinese characters, and one distinguishing
name per price where one kind is priced by 规格/产地/等级. `[prices] rules = "cn"` (the default) checks that here;
`"none"` checks nothing. The rules here need no rendering: the name is not blank, holds Chinese characters and
no traditional-only ones (so do 规格 and 产地; 产地 is Chinese), and products sharing name, 规格 and 产地 share
their price. A job that draws labels adds a check of what its layout would show (`JobSpec.catalog_check`; the
shelf labels' is edge/esl/prices/content_rules.py), run on the items these rules let through. An item that passes
is answered with the names of the rules it was checked against (`Passed`): its price history row records them, so
the audit trail shows which rule checks a price passed.

"Traditional-only" is judged with the CJK codecs of Python's standard library, no extra data: an ideograph in
Big5 (the traditional set) but not in GB 2312 (the mainland's simplified set) is a traditional form (國, 價,
蘋, 雞). That misses nothing common; it also flags the rare standard characters GB 2312 lacks but Big5 has
(e.g. 昇); an ideograph in neither (喆, 堃) passes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from typing import Any

from edge.prices.promotions import Refusal

#: Rule names, as replies and `price.refused` events give them.
NAME_REQUIRED = "name_required"
CHINESE_TEXT = "chinese_text"
SIMPLIFIED = "simplified_chinese"
DISTINCT_NAMES = "distinct_names"
PRICING_UNIT = "pricing_unit"  # a product sold by weight needs its unit (kg, 500g): checked whatever the rule set

#: The products columns a price change sets; `product.upsert` sets every column.
PRICE_FIELDS = frozenset({"price", "promo_price", "promo_end", "promo_base"})
ALL_FIELDS = frozenset({"name", "name_en", "unit", "sale_mode", "spec", "origin", "qr_url"}) | PRICE_FIELDS

_CHUNK = 500  # names per IN (...) query


@dataclass(frozen=True)
class Proposed:
    """A products row as an item would leave it (text as stored), the fields the item sets, and whether it takes
    effect now (a scheduled change is judged again when due)."""

    row: Mapping[str, Any]
    fields: frozenset[str] = ALL_FIELDS
    now: bool = True

    @property
    def sku(self) -> str:
        """The product."""
        return str(self.row["sku"])


#: The rules an item was checked against and passed, by name (empty: nothing was checked).
Passed = tuple[str, ...]
#: A job's check of the items the core rules let through: one verdict per item, the rule it broke or the rules it passed.
Check = Callable[[sqlite3.Connection, Sequence[Proposed]], Sequence[Refusal | Passed]]
#: The rules `text_problem` checks when an item sets the name (product.upsert).
TEXT_RULES: Passed = (NAME_REQUIRED, CHINESE_TEXT, SIMPLIFIED)


def _ideograph(char: str) -> bool:
    """A CJK Unified Ideograph (the basic block and extensions A to H; compatibility ideographs are not standard)."""
    code = ord(char)
    return 0x4E00 <= code <= 0x9FFF or 0x3400 <= code <= 0x4DBF or 0x20000 <= code <= 0x323AF


@lru_cache(maxsize=8192)
def _traditional(char: str) -> bool:
    """An ideograph in Big5 but not in GB 2312: a traditional form (see the module docstring)."""
    try:
        char.encode("gb2312")
        return False
    except UnicodeEncodeError:
        pass
    try:
        char.encode("big5")
        return True
    except UnicodeEncodeError:
        return False


def _standard(field_name: str, text: str) -> Refusal | None:
    """The first traditional-only character of `text`, as a refusal."""
    for char in text:
        if _ideograph(char) and _traditional(char):
            return Refusal(field_name, SIMPLIFIED, f"'{char}' (U+{ord(char):04X}) is a traditional form: write it in standard"
                                                   " (simplified) Chinese characters")
    return None


def text_problem(row: Mapping[str, Any], fields: frozenset[str]) -> Refusal | None:
    """The first rule the text of `row` breaks among the fields an item sets (品名 present and Chinese, standard characters)."""
    if "name" not in fields:
        return None
    name = str(row.get("name") or "")
    if not name.strip():
        return Refusal("name", NAME_REQUIRED, "品名 (the product name) must not be blank")
    if not any(_ideograph(c) for c in name):
        return Refusal("name", CHINESE_TEXT, "品名 must be written in Chinese characters; an English name goes in name_en,"
                                             " in addition")
    origin = str(row.get("origin") or "")
    if origin.strip() and not any(_ideograph(c) for c in origin):
        return Refusal("origin", CHINESE_TEXT, "产地 must be written in Chinese characters (智利, not Chile)")
    for key in ("name", "spec", "origin"):
        found = _standard(key, str(row.get(key) or ""))
        if found is not None:
            return found
    return None


def _normal(text: Any) -> str:
    """Text as a label draws it (runs of spaces as one) and compared (case folded)."""
    return " ".join(str(text or "").split()).casefold()


def _kind(row: Mapping[str, Any]) -> tuple[str, str, str]:
    """What tells one product from another on a label: name, 规格, 产地."""
    return _normal(row.get("name")), _normal(row.get("spec")), _normal(row.get("origin"))


def _namesakes(conn: sqlite3.Connection, names: set[str]) -> dict[str, tuple[tuple[str, str, str], Decimal]]:
    """Each stored product named in `names`: its kind and regular price."""
    found: dict[str, tuple[tuple[str, str, str], Decimal]] = {}
    ordered = sorted(names)
    for start in range(0, len(ordered), _CHUNK):
        chunk = ordered[start:start + _CHUNK]
        cur = conn.execute(
            f"SELECT sku, name, spec, origin, price FROM products WHERE name IN ({','.join('?' * len(chunk))})", chunk)
        for sku, name, spec, origin, price in cur:
            found[sku] = (_kind({"name": name, "spec": spec, "origin": origin}), Decimal(price))
    return found


def stored(conn: sqlite3.Connection, skus: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The whole products rows of `skus` that exist (a price change is judged on the product it changes)."""
    found: dict[str, dict[str, Any]] = {}
    unique = sorted(set(skus))
    for start in range(0, len(unique), _CHUNK):
        chunk = unique[start:start + _CHUNK]
        cur = conn.execute(f"SELECT * FROM products WHERE sku IN ({','.join('?' * len(chunk))})", chunk)
        columns = [c[0] for c in cur.description]
        found.update((row[0], dict(zip(columns, row))) for row in cur)
    return found


def distinct_problems(conn: sqlite3.Connection, proposed: Sequence[Proposed]) -> list[Refusal | None]:
    """Products with the same name, 规格 and 产地 must have the same regular price; each item is judged against the
    catalogue as the whole batch would leave it (its other items taking effect now applied)."""
    state = _namesakes(conn, {str(p.row.get("name") or "") for p in proposed})
    for p in proposed:
        if p.now:
            state[p.sku] = (_kind(p.row), Decimal(p.row["price"]))
    by_kind: dict[tuple[str, str, str], dict[str, Decimal]] = {}
    for sku, (kind, price) in state.items():
        by_kind.setdefault(kind, {})[sku] = price
    found: list[Refusal | None] = []
    for p in proposed:
        price = Decimal(p.row["price"])
        clash = sorted(sku for sku, other in by_kind.get(_kind(p.row), {}).items() if sku != p.sku and other != price)
        if not clash:
            found.append(None)
            continue
        other = by_kind[_kind(p.row)][clash[0]]
        who = f"products {clash[0]} and {len(clash) - 1} more have" if len(clash) > 1 else f"product {clash[0]} has"
        found.append(Refusal(
            "name" if "name" in p.fields else "price", DISTINCT_NAMES,
            f"{who} the same name, 规格 and 产地 at {other:.2f}: one kind at several prices needs"
            " a distinguishing 规格, 产地 or 等级 (in spec, origin or the name)"))
    return found


@dataclass
class LabelRules:
    """The store's rule set: the core rules, then each enabled job's check, then distinct names over the batch."""

    rules: str = "cn"
    checks: Sequence[Check] = field(default_factory=tuple)

    @property
    def enabled(self) -> bool:
        """Whether anything is checked."""
        return self.rules != "none"

    def check(self, conn: sqlite3.Connection, proposed: Sequence[Proposed]) -> list[Refusal | Passed]:
        """One verdict per item, in item order: the rule it breaks, or the rules it passed (its label would be lawful)."""
        if not self.enabled:
            return [() for _ in proposed]
        verdicts: list[Refusal | Passed] = []
        for p in proposed:
            problem = text_problem(p.row, p.fields)
            verdicts.append(problem if problem is not None else (TEXT_RULES if "name" in p.fields else ()))
        for check in [*self.checks, _distinct]:
            passing = [i for i, v in enumerate(verdicts) if not isinstance(v, Refusal)]
            for i, verdict in zip(passing, check(conn, [proposed[i] for i in passing]), strict=True):
                before = verdicts[i]
                assert not isinstance(before, Refusal)
                verdicts[i] = verdict if isinstance(verdict, Refusal) else (*before, *verdict)
        return verdicts


def _distinct(conn: sqlite3.Connection, proposed: Sequence[Proposed]) -> list[Refusal | Passed]:
    """`distinct_problems` as a check: the rule broken, or `distinct_names` passed."""
    return [(DISTINCT_NAMES,) if found is None else found for found in distinct_problems(conn, proposed)]
