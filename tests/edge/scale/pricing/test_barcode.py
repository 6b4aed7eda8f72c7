"""Variable-measure barcodes: the reference's worked examples, verifier tables, strict refusals."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stdnum import ean

from edge.scale.pricing import barcode as bc

_W2M = {d: (2 * d) % 10 - (2 * d) // 10 for d in range(10)}
_W3 = {d: (3 * d) % 10 for d in range(10)}
_W5P = {d: (5 * d) % 10 + (5 * d) // 10 for d in range(10)}
_W5M = {d: ((5 * d) % 10 - (5 * d) // 10) % 10 for d in range(10)}


def _brute_force_v5(field: str) -> int:
    """Independent 5-digit verifier: search the digit that makes the weighted sum ≡ 0 (mod 10)."""
    d = [int(c) for c in field]
    total = _W5P[d[0]] + _W2M[d[1]] + _W5M[d[2]] + _W5P[d[3]] + _W2M[d[4]]
    return next(v for v in range(10) if (total + _W5M[v]) % 10 == 0)


def _formula_v4(field: str) -> int:
    """Independent 4-digit verifier from the arithmetic definitions of the weighting functions."""
    d = [int(c) for c in field]
    return 3 * (_W2M[d[0]] % 10 + _W2M[d[1]] % 10 + _W3[d[2]] + _W5M[d[3]]) % 10


@pytest.mark.parametrize(
    ("preset", "kwargs", "expected"),
    [
        ("weight", {"prefix": 28, "item": 123, "grams": 735}, "2800123007355"),
        ("price", {"prefix": 22, "item": 123, "amount_fen": 1235}, "2200123012357"),
        ("price_v5", {"prefix": 24, "item": 1234, "amount_fen": 1468}, "2412347014684"),
        ("upca_price_v4", {"prefix": 2, "item": 1234, "amount_fen": 299}, "201234602996"),
        ("cn18_amount_weight", {"prefix": 22, "item": 123, "amount_fen": 647, "grams": 735}, "220012300647007354"),
        ("cn18_weight_amount", {"prefix": 22, "item": 123, "amount_fen": 647, "grams": 735}, "220012300735006474"),
    ],
)
def test_worked_examples_build_and_parse(preset: str, kwargs: dict, expected: str) -> None:
    code = bc.build(preset, **kwargs)
    assert code == expected
    parsed = bc.parse(code, preset)
    assert parsed.prefix == kwargs["prefix"] and parsed.item == kwargs["item"]
    assert parsed.amount_fen == kwargs.get("amount_fen") and parsed.grams == kwargs.get("grams")


def test_left_anchored_check_style_gives_the_other_reading() -> None:
    for pattern, expected in (("FF IIIII EEEEE NNNNN C", "220012300647007358"), ("FF IIIII NNNNN EEEEE C", "220012300735006478")):
        lay = bc.layout(pattern, check_style="left")
        assert bc.build(lay, prefix=22, item=123, amount_fen=647, grams=735) == expected
        assert bc.parse(expected, lay).amount_fen == 647
        with pytest.raises(bc.InvalidCode):
            bc.parse(expected[:-1] + "4", lay)


def test_textbook_ean13_check_digits() -> None:
    assert bc.check_digit("400638133393") == 1
    assert bc.check_digit("590123412345") == 7


@pytest.mark.parametrize(("field", "v"), [("2875", 9), ("0000", 0), ("1234", 9), ("0599", 1), ("9999", 6)])
def test_four_digit_verifier_values(field: str, v: int) -> None:
    assert bc.price_verifier(field) == v == _formula_v4(field)


@pytest.mark.parametrize(
    ("field", "v"),
    [("14685", 6), ("00000", 0), ("01234", 1), ("12345", 8), ("00350", 2), ("99999", 6), ("01468", 7)],
)
def test_five_digit_verifier_values(field: str, v: int) -> None:
    assert bc.price_verifier(field) == v == _brute_force_v5(field)


@given(st.integers(0, 99_999))
def test_verifiers_agree_with_independent_implementations(n: int) -> None:
    assert bc.price_verifier(f"{n:05d}") == _brute_force_v5(f"{n:05d}")
    assert bc.price_verifier(f"{n % 10_000:04d}") == _formula_v4(f"{n % 10_000:04d}")


@given(
    preset=st.sampled_from(sorted(bc.PRESETS)),
    prefix=st.integers(20, 29),
    item=st.integers(0, 9999),
    amount=st.integers(0, 9999),
    grams=st.integers(0, 9999),
)
def test_round_trip_every_preset_and_stdnum_check(preset: str, prefix: int, item: int, amount: int, grams: int) -> None:
    lay = bc.PRESETS[preset]
    kwargs = {
        "prefix": 2 if lay.fields[0].length == 1 else prefix,
        "item": item,
        "amount_fen": amount if lay.field("$") else None,
        "grams": grams if lay.field("W") else None,
    }
    code = bc.build(lay, **kwargs)
    assert len(code) == lay.length
    assert ean.calc_check_digit(code[:-1]) == code[-1]
    parsed = bc.parse(code, lay)
    assert (parsed.prefix, parsed.item, parsed.amount_fen, parsed.grams) == tuple(kwargs.values())


@given(st.integers(0, 99_999), st.integers(0, 4), st.integers(1, 9))
def test_single_digit_change_in_price_field_is_always_caught(amount: int, position: int, delta: int) -> None:
    code = bc.build("price_v5", prefix=24, item=1234, amount_fen=amount)
    offset = 7 + position
    changed = code[:offset] + str((int(code[offset]) + delta) % 10) + code[offset + 1 :]
    changed = changed[:-1] + ean.calc_check_digit(changed[:-1])  # a forger who fixes the EAN check
    with pytest.raises(bc.InvalidCode):
        bc.parse(changed, "price_v5")


@pytest.mark.parametrize("prefix", [19, 30, 0, 99])
def test_prefix_outside_restricted_range_is_refused(prefix: int) -> None:
    with pytest.raises(bc.InvalidCode):
        bc.build("price", prefix=prefix, item=1, amount_fen=1)
    data = f"{prefix:02d}0012301235"
    with pytest.raises(bc.InvalidCode):
        bc.parse(data + ean.calc_check_digit(data), "price")


def test_overflow_and_negative_values_are_refused_not_wrapped() -> None:
    with pytest.raises(bc.FieldOverflow):
        bc.build("price", prefix=22, item=123, amount_fen=100_000)
    with pytest.raises(bc.FieldOverflow):
        bc.build("price_v4", prefix=22, item=123, amount_fen=10_000)
    with pytest.raises(bc.FieldOverflow):
        bc.build("weight", prefix=28, item=100_000, grams=1)
    with pytest.raises(bc.FieldOverflow):
        bc.build("weight", prefix=28, item=1, grams=-1)
    with pytest.raises(bc.FieldOverflow):
        bc.build("price", prefix=22, item=1)


@pytest.mark.parametrize(
    ("code", "preset"),
    [
        ("2800123007356", "weight"),  # wrong check digit
        ("280012300735", "weight"),  # too short
        ("28001230073555", "weight"),  # too long
        ("28OO123007355", "weight"),  # not digits
        ("2412348014683", "price_v5"),  # verifier 8 instead of 7, EAN check recomputed
        ("220012300647007358", "cn18_amount_weight"),  # left-anchored check under the right style
    ],
)
def test_bad_codes_are_rejected(code: str, preset: str) -> None:
    with pytest.raises(bc.InvalidCode):
        bc.parse(code, preset)


def test_aim_identifier_is_stripped_and_parse_any_picks_the_layout() -> None:
    assert bc.parse("]E02200123012357", "price").amount_fen == 1235
    assert bc.parse_any("2800123007355", ["price_v5", "weight"]).grams == 735
    with pytest.raises(bc.InvalidCode):
        bc.parse_any("4006381333931", ["price", "weight"])


@pytest.mark.parametrize("pattern", ["PP IIIII $$$$$", "IIIII PP $$$$$ C", "PP IIIII V $$$ C", "PP IIIII XXXXX C", "PP IIIII $$$$$$ C"])
def test_malformed_layouts_are_rejected(pattern: str) -> None:
    with pytest.raises(bc.LayoutError):
        bc.layout(pattern, symbology="ean13")
