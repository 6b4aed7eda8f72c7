"""Toledo 8217 codec: weight and status frames, bit-7 masking, STX resync, garbage never raises."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devices.scale import toledo8217 as t
from devices.scale.errors import ProtocolError
from devices.scale.reading import Garbage


def _frames(data: bytes) -> list:
    """All frames a fresh framer yields for `data`."""
    return list(t.Toledo8217Framer().feed(data))


def test_observed_frames() -> None:
    zero, motion, net = _frames(b"\x0200.000\r\x02?A\r\x0201.234N\r")
    assert zero == t.WeightFrame(Decimal("0.000"), "kg", False, "\x0200.000\r")
    assert t.reading_from(zero).state == "zero"  # type: ignore[union-attr]
    assert isinstance(motion, t.StatusFrame) and t.Status.MOTION in motion.status
    reading = t.reading_from(net)
    assert reading is not None and (reading.grams, reading.net, reading.stable, reading.state) == (1234, True, True, "ok")


@pytest.mark.parametrize(
    ("char", "state"),
    [("A", "motion"), ("Q", "motion"), ("D", "underload"), ("B", "overload"), ("H", "underload"), ("P", "zero"), ("@", "ok")],
)
def test_status_byte_decoding(char: str, state: str) -> None:
    (frame,) = _frames(b"\x02?" + char.encode() + b"\r")
    reading = t.reading_from(frame)
    assert reading is not None and reading.state == state and reading.grams is None
    assert reading.stable == (state in ("zero", "ok"))


def _with_parity(data: bytes) -> bytes:
    """Set bit 7 to even parity, as a 7E1 character looks when read 8 bits wide."""
    return bytes(b | 0x80 if bin(b).count("1") % 2 else b for b in data)


@given(st.integers(0, 99_999), st.booleans())
def test_parity_bit_is_masked(grams: int, net: bool) -> None:
    frame = t.encode_weight(Decimal(grams) / 1000, net)
    assert all(b < 0x80 for b in frame)
    (parsed,) = _frames(_with_parity(frame))
    assert isinstance(parsed, t.WeightFrame) and parsed.value * 1000 == grams and parsed.net == net


@given(st.integers(0, 0x3F))
def test_status_round_trip_is_seven_bit(bits: int) -> None:
    encoded = t.encode_status(t.Status(bits))
    assert all(b < 0x80 for b in encoded) and 0x40 <= encoded[2] <= 0x7F
    (parsed,) = _frames(_with_parity(encoded))
    assert isinstance(parsed, t.StatusFrame) and int(parsed.status) == bits | 0x40


def test_resync_on_stx_and_half_frames() -> None:
    items = _frames(b"noise\x0201.2\x0202.500\r\x02?\r\x0212.3a5\r")
    kinds = [type(i).__name__ for i in items]
    assert kinds == ["Garbage", "Garbage", "WeightFrame", "Garbage", "Garbage"]
    assert items[2].value == Decimal("2.500")


def test_half_frame_completes_on_next_feed() -> None:
    framer = t.Toledo8217Framer()
    assert list(framer.feed(b"\x0200.7")) == []
    (frame,) = list(framer.feed(b"35\r"))
    assert t.reading_from(frame).grams == 735  # type: ignore[union-attr]


def test_lb_mode_gives_no_grams() -> None:
    (frame,) = list(t.Toledo8217Framer(unit="lb").feed(b"\x02001.62\r"))
    reading = t.reading_from(frame)
    assert reading is not None and reading.grams is None and reading.stable


@given(st.lists(st.binary(max_size=30), max_size=20))
def test_framer_never_raises(chunks: list[bytes]) -> None:
    framer = t.Toledo8217Framer()
    for chunk in chunks:
        for item in framer.feed(chunk):
            assert isinstance(item, Garbage | t.WeightFrame | t.StatusFrame | t.TextFrame)


def test_preset_tare_and_probe_encoding() -> None:
    assert t.preset_tare(5) == b"T00005\r"
    assert t.echo_probe("hello") == b"Ehello"
    with pytest.raises(ProtocolError):
        t.preset_tare(100_000)
    with pytest.raises(ProtocolError):
        t.parse_frame("12.34")
