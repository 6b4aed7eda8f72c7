"""MT-SICS codec: reply grammar, exact grams, error replies, and a framer that never raises."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devices.scale import mtsics
from devices.scale.errors import ProtocolError
from devices.scale.reading import Garbage, exact_grams


def test_canonical_stable_reply() -> None:
    reply = mtsics.parse_line("S S     100.00 g")
    assert reply == mtsics.WeightReply("S", "S", Decimal("100.00"), "g", "S S     100.00 g")
    reading = mtsics.reading_from(reply)
    assert reading is not None and (reading.grams, reading.stable, reading.state) == (100, True, "ok")


def test_dynamic_inexact_and_limits() -> None:
    dynamic = mtsics.reading_from(mtsics.parse_line("S D     129.07 g"))
    assert dynamic is not None and dynamic.grams is None and not dynamic.stable and dynamic.state == "motion"
    over = mtsics.reading_from(mtsics.parse_line("S +"))
    under = mtsics.reading_from(mtsics.parse_line("S -"))
    assert over is not None and over.state == "overload" and over.grams is None
    assert under is not None and under.state == "underload"
    assert mtsics.reading_from(mtsics.parse_line("S I")) is None


def test_zero_and_negative_and_kg() -> None:
    zero = mtsics.reading_from(mtsics.parse_line("S S      0.000 kg"))
    assert zero is not None and zero.state == "zero" and zero.grams == 0
    neg = mtsics.reading_from(mtsics.parse_line("S S     -0.015 kg"))
    assert neg is not None and neg.grams == -15


@pytest.mark.parametrize(
    ("value", "unit", "grams"),
    [("0.735", "kg", 735), ("0.7355", "kg", None), ("12.00", "g", 12), ("12.5", "g", None), ("1500", "mg", None), ("2000", "mg", 2), ("1.0", "lb", None)],
)
def test_exact_grams_only_when_exact(value: str, unit: str, grams: int | None) -> None:
    assert exact_grams(Decimal(value), unit) == grams


@pytest.mark.parametrize("code", ["ES", "ET", "EL"])
def test_error_replies(code: str) -> None:
    reply = mtsics.parse_line(code)
    assert isinstance(reply, mtsics.ErrorReply) and reply.code == code and reply.meaning


def test_status_replies_with_params() -> None:
    reply = mtsics.parse_line('I4 A "0123456789"')
    assert reply == mtsics.StatusReply("I4", "A", ('"0123456789"',), 'I4 A "0123456789"')
    assert mtsics.parse_line("Z A") == mtsics.StatusReply("Z", "A", (), "Z A")
    tare = mtsics.parse_line("T S      0.005 kg")
    assert isinstance(tare, mtsics.WeightReply) and tare.cmd_id == "T"


@pytest.mark.parametrize("line", ["", "hello world", "S S abc g", "S Q 1.0 g", "s s 1.0 g", "S S 1.0"])
def test_bad_lines_raise_protocol_error(line: str) -> None:
    with pytest.raises(ProtocolError):
        mtsics.parse_line(line)


def test_encode_command() -> None:
    assert mtsics.encode_command("SI") == b"SI\r\n"
    assert mtsics.encode_command("TA", "0.005", "kg") == b"TA 0.005 kg\r\n"
    with pytest.raises(ProtocolError):
        mtsics.encode_command("XYZ")


@given(st.integers(-99_999_999, 99_999_999), st.sampled_from([(0, "g"), (2, "g"), (3, "kg")]), st.sampled_from("SD"))
def test_encode_parse_round_trip(raw: int, fmt: tuple[int, str], status: str) -> None:
    decimals, unit = fmt
    value = Decimal(raw).scaleb(-decimals)
    line = mtsics.encode_weight_reply("S", status, value, unit, decimals)
    (reply,) = list(mtsics.MtSicsFramer().feed(line))
    assert isinstance(reply, mtsics.WeightReply) and reply.value == value and reply.unit == unit


def test_framer_tracks_tare_for_net_flag() -> None:
    framer = mtsics.MtSicsFramer()
    lines = b"S S      0.735 kg\r\nT S      0.735 kg\r\nS S      0.000 kg\r\nTAC A\r\nS S      0.735 kg\r\n"
    readings = [framer.reading(r) for r in framer.feed(lines)]
    assert [r.net for r in readings if r is not None] == [False, True, False]


def test_framer_garbage_then_valid() -> None:
    framer = mtsics.MtSicsFramer()
    items = list(framer.feed(b"\xff\xfe\r\nS S   1"))
    assert len(items) == 1 and isinstance(items[0], Garbage)
    items = list(framer.feed(b"0.00 g\r\n" + b"x" * 300))
    assert isinstance(items[0], mtsics.WeightReply) and items[0].value == Decimal("10.00")
    assert isinstance(items[1], Garbage)


@given(st.lists(st.binary(max_size=40), max_size=20))
def test_framer_never_raises_on_noise(chunks: list[bytes]) -> None:
    framer = mtsics.MtSicsFramer()
    for chunk in chunks:
        for item in framer.feed(chunk):
            assert isinstance(item, Garbage | mtsics.WeightReply | mtsics.StatusReply | mtsics.ErrorReply)


@given(st.binary(max_size=60), st.lists(st.integers(1, 7), min_size=1, max_size=30))
def test_valid_line_after_noise_survives_any_chunking(noise: bytes, cuts: list[int]) -> None:
    stream = noise.replace(b"\n", b"") + b"\r\nS S      1.234 kg\r\n"
    framer = mtsics.MtSicsFramer()
    out, pos, i = [], 0, 0
    while pos < len(stream):
        size = cuts[i % len(cuts)]
        out += list(framer.feed(stream[pos : pos + size]))
        pos, i = pos + size, i + 1
    assert out[-1] == mtsics.WeightReply("S", "S", Decimal("1.234"), "kg", "S S      1.234 kg")


def test_command_framer_flags_framing_errors() -> None:
    framer = mtsics.MtSicsCommandFramer()
    items = list(framer.feed(b"SI\r\nS\x00I\r\nS\xc9\r\nTA 0.005 kg\r\n"))
    assert items[0] == ("SI",) and isinstance(items[1], Garbage) and isinstance(items[2], Garbage)
    assert items[3] == ("TA", "0.005", "kg")
