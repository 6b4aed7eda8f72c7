"""Variable-measure (in-store, prefix 20–29) barcodes: configurable layouts, build and strict parse.

A layout is a pattern string, one letter per digit (spaces ignored):

- ``P`` / ``F``  prefix (flag) digits; a 2-digit prefix must be 20–29, a 1-digit one (UPC-A) must be 2
- ``I``          item / PLU
- ``$`` / ``E``  amount in fen (2 implied decimals)
- ``W`` / ``N``  weight in grams (3 implied decimals of kg)
- ``V``          price/measure verifier over the 4- or 5-digit field that follows it (GS1 §7.9.3)
- ``C``          check digit, always last, GS1 mod-10 anchored on the right (or on the left, a
                 configurable reading some Chinese 18-digit scale codes may use)

Values that do not fit their field are refused, never wrapped or truncated.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

CheckStyle = Literal["right", "left"]
Symbology = Literal["ean13", "upca", "code128"]

_ALIASES = {"P": "P", "F": "P", "I": "I", "$": "$", "E": "$", "W": "W", "N": "W", "V": "V", "C": "C"}
_SYMBOLOGY_LENGTH = {"ean13": 13, "upca": 12}
_AIM_IDS = ("]E0", "]E3", "]C1", "]C0", "]e0")

# GS1 price-verifier weighting functions, indexed by digit.
_W2_MINUS = (0, 2, 4, 6, 8, 9, 1, 3, 5, 7)
_W3 = (0, 3, 6, 9, 2, 5, 8, 1, 4, 7)
_W5_PLUS = (0, 5, 1, 6, 2, 7, 3, 8, 4, 9)
_W5_MINUS = (0, 5, 9, 4, 8, 3, 7, 2, 6, 1)


class BarcodeError(ValueError):
    """Base of every barcode error: the code cannot be built or is not a valid code of that layout."""


class LayoutError(BarcodeError):
    """The layout pattern itself is malformed."""


class FieldOverflow(BarcodeError):
    """A value is negative or does not fit its field; refusing beats printing a wrapped price."""


class InvalidCode(BarcodeError):
    """A scanned code has the wrong length, prefix, check digit or verifier for the layout."""


@dataclass(frozen=True, slots=True)
class Field:
    """One run of same-kind digits in a layout: kind letter, start offset, length."""

    kind: str
    start: int
    length: int

    @property
    def end(self) -> int:
        """Offset just past the field."""
        return self.start + self.length

    @property
    def max_value(self) -> int:
        """Largest value the field can hold."""
        return 10**self.length - 1


@dataclass(frozen=True)
class Layout:
    """A parsed layout pattern plus how the code is printed and how its check digit is anchored."""

    name: str
    pattern: str
    symbology: Symbology
    check_style: CheckStyle = "right"

    def __post_init__(self) -> None:
        """Validate the pattern once, so build/parse can trust it."""
        fields = _fields(self.pattern)
        kinds = [f.kind for f in fields]
        if kinds.count("C") != 1 or kinds[-1] != "C" or fields[-1].length != 1:
            raise LayoutError(f"{self.pattern!r}: exactly one check digit, last")
        if kinds[0] != "P" or kinds.count("P") != 1 or fields[0].length not in (1, 2):
            raise LayoutError(f"{self.pattern!r}: must start with a 1- or 2-digit prefix")
        if kinds.count("I") != 1 or not ({"$", "W"} & set(kinds)):
            raise LayoutError(f"{self.pattern!r}: needs one item field and an amount or weight field")
        if any(kinds.count(k) > 1 for k in "$WV"):
            raise LayoutError(f"{self.pattern!r}: repeated field")
        if "V" in kinds:
            v = kinds.index("V")
            if fields[v].length != 1 or kinds[v + 1] not in "$W" or fields[v + 1].length not in (4, 5):
                raise LayoutError(f"{self.pattern!r}: V must precede a 4- or 5-digit amount/weight")
        expected = _SYMBOLOGY_LENGTH.get(self.symbology)
        if expected is not None and self.length != expected:
            raise LayoutError(f"{self.pattern!r}: {self.symbology} needs {expected} digits")
        if self.symbology == "code128" and self.length % 2:
            raise LayoutError(f"{self.pattern!r}: Code 128 subset C needs an even digit count")

    @property
    def fields(self) -> tuple[Field, ...]:
        """The layout's fields, in order."""
        return _fields(self.pattern)

    @property
    def length(self) -> int:
        """Total number of digits, check digit included."""
        return self.fields[-1].end

    def field(self, kind: str) -> Field | None:
        """The field of this kind, if the layout has one."""
        return next((f for f in self.fields if f.kind == kind), None)


@dataclass(frozen=True, slots=True)
class ScaleCode:
    """The fields carried by a variable-measure code; amount in fen and weight in grams when present."""

    layout: str
    prefix: int
    item: int
    amount_fen: int | None
    grams: int | None
    digits: str


def _fields(pattern: str) -> tuple[Field, ...]:
    """Split a pattern like 'PP IIIII $$$$$ C' into runs of same-kind letters."""
    letters = pattern.replace(" ", "")
    fields: list[Field] = []
    for offset, letter in enumerate(letters):
        kind = _ALIASES.get(letter.upper() if letter.isalpha() else letter)
        if kind is None:
            raise LayoutError(f"{pattern!r}: unknown field letter {letter!r}")
        if fields and fields[-1].kind == kind and kind not in "VC":
            last = fields[-1]
            fields[-1] = Field(kind, last.start, last.length + 1)
        else:
            fields.append(Field(kind, offset, 1))
    return tuple(fields)


PRESETS: dict[str, Layout] = {
    layout.name: layout
    for layout in (
        Layout("price", "PP IIIII $$$$$ C", "ean13"),
        Layout("weight", "PP IIIII WWWWW C", "ean13"),
        Layout("price_v5", "PP IIII V $$$$$ C", "ean13"),
        Layout("price_v4", "PP IIIII V $$$$ C", "ean13"),
        Layout("weight_v5", "PP IIII V WWWWW C", "ean13"),
        Layout("upca_price_v4", "P IIIII V $$$$ C", "upca"),
        Layout("cn18_amount_weight", "FF IIIII EEEEE NNNNN C", "code128"),
        Layout("cn18_weight_amount", "FF IIIII NNNNN EEEEE C", "code128"),
    )
}


def layout(name_or_pattern: str | Layout, **options: str) -> Layout:
    """A preset by name, or a custom layout from a pattern (options: symbology, check_style)."""
    if isinstance(name_or_pattern, Layout):
        return name_or_pattern
    if name_or_pattern in PRESETS and not options:
        return PRESETS[name_or_pattern]
    length = len(name_or_pattern.replace(" ", ""))
    default = {13: "ean13", 12: "upca"}.get(length, "code128")
    return Layout(
        options.get("name", name_or_pattern),
        name_or_pattern,
        options.get("symbology", default),  # type: ignore[arg-type]
        options.get("check_style", "right"),  # type: ignore[arg-type]
    )


def check_digit(data: str, style: CheckStyle = "right") -> int:
    """GS1 mod-10 check digit; 'right' weights the rightmost data digit 3 (GS1), 'left' the leftmost 1."""
    digits = [int(c) for c in data]
    if style == "right":
        weighted = sum(d * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(digits)))
    else:
        weighted = sum(d * (1 if i % 2 == 0 else 3) for i, d in enumerate(digits))
    return (10 - weighted % 10) % 10


def price_verifier(field: str) -> int:
    """GS1 / GB/T 18283 Annex A price-or-measure verifier digit for a 4- or 5-digit field."""
    d = [int(c) for c in field]
    if len(d) == 4:
        total = _W2_MINUS[d[0]] + _W2_MINUS[d[1]] + _W3[d[2]] + _W5_MINUS[d[3]]
        return (3 * total) % 10
    if len(d) == 5:
        total = _W5_PLUS[d[0]] + _W2_MINUS[d[1]] + _W5_MINUS[d[2]] + _W5_PLUS[d[3]] + _W2_MINUS[d[4]]
        return _W5_MINUS.index((10 - total % 10) % 10)
    raise BarcodeError(f"verifier needs 4 or 5 digits, got {field!r}")


def _put(value: int | None, field: Field | None, what: str) -> str:
    """Zero-pad a value into its field, refusing negatives and overflow."""
    if field is None:
        if value is not None:
            raise FieldOverflow(f"layout has no {what} field")
        return ""
    if value is None:
        raise FieldOverflow(f"{what} is required by this layout")
    if not 0 <= value <= field.max_value:
        raise FieldOverflow(f"{what} {value} does not fit {field.length} digits")
    return f"{value:0{field.length}d}"


def _check_prefix(prefix: int, field: Field) -> None:
    """Only restricted-circulation prefixes: 20–29 (EAN-13/18-digit) or number system 2 (UPC-A)."""
    allowed = range(20, 30) if field.length == 2 else range(2, 3)
    if prefix not in allowed:
        raise InvalidCode(f"prefix {prefix} is not an in-store prefix ({allowed.start}–{allowed.stop - 1})")


def build(
    layout_: str | Layout,
    *,
    prefix: int,
    item: int,
    amount_fen: int | None = None,
    grams: int | None = None,
) -> str:
    """Build the digit string of a code; every value must fit its field exactly."""
    lay = layout(layout_)
    fields = lay.fields
    _check_prefix(prefix, fields[0])
    values = {
        "P": _put(prefix, fields[0], "prefix"),
        "I": _put(item, lay.field("I"), "item"),
        "$": _put(amount_fen, lay.field("$"), "amount (fen)"),
        "W": _put(grams, lay.field("W"), "weight (g)"),
    }
    out: list[str] = []
    for index, field in enumerate(fields):
        if field.kind == "V":
            out.append(str(price_verifier(values[fields[index + 1].kind])))
        elif field.kind == "C":
            data = "".join(out)
            out.append(str(check_digit(data, lay.check_style)))
        else:
            out.append(values[field.kind])
    return "".join(out)


def parse(code: str, layout_: str | Layout) -> ScaleCode:
    """Parse a scanned code against one layout; reject wrong length, prefix, check digit or verifier."""
    lay = layout(layout_)
    digits = code.strip()
    for aim in _AIM_IDS:
        digits = digits.removeprefix(aim)
    if not digits.isascii() or not digits.isdigit():
        raise InvalidCode(f"{code!r} is not all digits")
    if len(digits) != lay.length:
        raise InvalidCode(f"{code!r} has {len(digits)} digits, layout {lay.name!r} needs {lay.length}")
    fields = lay.fields
    _check_prefix(int(digits[: fields[0].length]), fields[0])
    if int(digits[-1]) != check_digit(digits[:-1], lay.check_style):
        raise InvalidCode(f"{code!r}: wrong check digit")
    values: dict[str, int] = {}
    for index, field in enumerate(fields[:-1]):
        text = digits[field.start : field.end]
        if field.kind == "V":
            measured = fields[index + 1]
            if int(text) != price_verifier(digits[measured.start : measured.end]):
                raise InvalidCode(f"{code!r}: wrong price verifier")
        else:
            values[field.kind] = int(text)
    return ScaleCode(lay.name, values["P"], values["I"], values.get("$"), values.get("W"), digits)


def parse_any(code: str, layouts: Iterable[str | Layout]) -> ScaleCode:
    """Parse against the configured layouts in order; the first that accepts the code wins."""
    reasons = []
    for candidate in layouts:
        try:
            return parse(code, candidate)
        except InvalidCode as err:
            reasons.append(str(err))
    raise InvalidCode(f"{code!r} matches no configured layout: " + "; ".join(reasons))
