"""Control-point codec: the reference's worked bytes, round trips, walking, malformed input."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devices.esl.codec import (
    BasicState, BasicStateFlag, DisplayImage, DisplayState, DisplayTimedImage, EslAddress, ErrorCode,
    ErrorResponse, FactoryReset, LedControl, LedState, LedTimedControl, Ping, ReadSensorData, RefreshDisplay,
    SensorValue, ServiceReset, Unassociate, UnknownCommand, UnknownResponse, UpdateComplete, VendorCommand,
    VendorResponse, decode_command, decode_commands, decode_response, decode_responses, encode_command,
    encode_commands, encode_response, encode_responses, error_name, esl_address, split_address,
)
from devices.esl.errors import EslProtocolError
from devices.esl.led import BLUE, CYAN, GREEN, MAGENTA, RED, WHITE, YELLOW, LedColor, LedParams, RepeatType
import contextlib

GREEN_FLASH = LedParams.flash(GREEN, on_ms=200, off_ms=200, seconds=60)
WORKED_COMMANDS = [
    ("00 05", Ping(5)),
    ("10 05 00", ReadSensorData(5, 0)),
    ("20 05 00 01", DisplayImage(5, 0, 1)),
    ("60 05 00 01 F0 49 02 00", DisplayTimedImage(5, 0, 1, 150_000)),
    ("B0 05 00 CC 02 00 00 00 00 64 64 79 00", LedControl(5, 0, GREEN_FLASH)),
]
WORKED_RESPONSES = [
    ("01 00", LedState(0)),
    ("1E 00 08", SensorValue(0, b"\x08")),
    ("2E 01 9A 01", SensorValue(1, b"\x9a\x01")),
]


@pytest.mark.parametrize(("hex_", "command"), WORKED_COMMANDS)
def test_worked_command_bytes(hex_: str, command: object) -> None:
    """Each reference example encodes to exactly its bytes and decodes back."""
    assert encode_command(command) == bytes.fromhex(hex_)
    assert decode_command(bytes.fromhex(hex_)) == command


@pytest.mark.parametrize(("hex_", "response"), WORKED_RESPONSES)
def test_worked_response_bytes(hex_: str, response: object) -> None:
    """Each reference response example round-trips byte for byte."""
    assert encode_response(response) == bytes.fromhex(hex_)
    assert decode_response(bytes.fromhex(hex_)) == response


def test_led_example_fields_in_natural_units() -> None:
    """The green-flash example means green 100 %, 200 ms on/off, for 60 seconds."""
    cmd = decode_command(bytes.fromhex("B0 05 00 CC 02 00 00 00 00 64 64 79 00"))
    assert isinstance(cmd, LedControl)
    assert cmd.led.color == LedColor(0, 3, 0, 3) and cmd.led.color.brightness_percent == 100
    assert (cmd.led.on_ms, cmd.led.off_ms, cmd.led.repeat_type, cmd.led.repeats) == (200, 200, RepeatType.SECONDS, 60)
    assert cmd.led.pattern == 0b10


@pytest.mark.parametrize(("color", "octet"), [
    (RED, 0xC3), (GREEN, 0xCC), (BLUE, 0xF0), (YELLOW, 0xCF), (CYAN, 0xFC), (MAGENTA, 0xF3), (WHITE, 0xFF),
])
def test_reference_colour_octets(color: LedColor, octet: int) -> None:
    """The full-brightness colours of esl.md §5.1."""
    assert color.to_octet() == octet
    assert LedColor.from_octet(octet) == color


def test_steady_on_and_off_encode_repeats_zero() -> None:
    """N = 0: type 1 is steady on, type 0 steady off; periods may be zero then."""
    on = encode_command(LedControl(5, 0, LedParams.steady_on(RED)))
    off = encode_command(LedControl(5, 0, LedParams.off()))
    assert on[-2:] == b"\x01\x00" and off[-2:] == b"\x00\x00"
    assert decode_command(on).led.lit and not decode_command(off).led.lit


@pytest.mark.parametrize("kwargs", [
    {"on_ms": 201}, {"off_ms": 0}, {"on_ms": 512}, {"pattern": 1 << 40}, {"count": 1 << 15},
])
def test_invalid_led_parameters_are_refused(kwargs: dict) -> None:
    """Odd or out-of-range periods, over-long patterns and repeats raise the typed error."""
    args = {"count": 3} | kwargs
    with pytest.raises(EslProtocolError):
        LedParams.flash(RED, **args)


def test_zero_period_with_repeats_on_the_wire_is_malformed() -> None:
    """A tag answers 0x06 to Bit_On_Period 0 with N > 0; the decoder raises instead of accepting it."""
    with pytest.raises(EslProtocolError):
        decode_command(bytes.fromhex("B0 05 00 CC 02 00 00 00 00 64 00 79 00"))


def test_address_pack_and_split() -> None:
    """Group in bits 14..8, ESL_ID in bits 7..0, RFU bit 15 and broadcast ID refused."""
    assert esl_address(0x12, 0x34) == 0x1234
    assert split_address(0x7FFE) == (0x7F, 0xFE)
    assert EslAddress(3, 9).encode() == b"\x09\x03"
    assert EslAddress.decode(b"\x09\x03") == EslAddress(3, 9)
    with pytest.raises(EslProtocolError):
        split_address(0x8001)
    with pytest.raises(EslProtocolError):
        EslAddress(1, 0xFF)
    with pytest.raises(EslProtocolError):
        EslAddress(128, 1)


def test_walk_concatenated_commands_and_skip_unknown() -> None:
    """Several commands in one packet are cut by their length nibble; an RFU opcode is skipped whole."""
    payload = b"".join(bytes.fromhex(h) for h, _ in WORKED_COMMANDS) + bytes.fromhex("12 05 AA 3F 05 01 02 03")
    decoded = decode_commands(payload)
    assert decoded[:5] == [c for _, c in WORKED_COMMANDS]
    assert decoded[5] == UnknownCommand(0x12, 5, b"\xaa")
    assert decoded[6] == VendorCommand(0x3F, 5, b"\x01\x02\x03")


def test_walk_concatenated_responses() -> None:
    """Responses walk the same way, including Basic State flags and vendor/RFU records."""
    payload = bytes.fromhex("01 00 1E 00 08 10 1F 00 00 0B 1F AB CD 02 07")
    decoded = decode_responses(payload)
    assert decoded[:2] == [LedState(0), SensorValue(0, b"\x08")]
    assert decoded[2] == BasicState(
        BasicStateFlag.SERVICE_NEEDED | BasicStateFlag.SYNCHRONIZED | BasicStateFlag.ACTIVE_LED
        | BasicStateFlag.PENDING_LED_UPDATE | BasicStateFlag.PENDING_DISPLAY_UPDATE
    )
    assert decoded[3:] == [ErrorResponse(ErrorCode.QUEUE_FULL), VendorResponse(0x1F, b"\xab\xcd"),
                           UnknownResponse(0x02, b"\x07")]


def test_basic_state_keeps_rfu_bits() -> None:
    """RFU bits survive a round trip rather than being dropped."""
    raw = bytes.fromhex("10 02 80")
    assert encode_response(decode_response(raw)) == raw


@pytest.mark.parametrize("hex_", [h for h, _ in WORKED_COMMANDS])
def test_every_truncation_is_a_typed_error(hex_: str) -> None:
    """Any prefix of a command is refused by both the single-record and the walking decoder."""
    data = bytes.fromhex(hex_)
    for cut in range(len(data)):
        with pytest.raises(EslProtocolError):
            decode_command(data[:cut])
        if cut:
            with pytest.raises(EslProtocolError):
                decode_commands(data[:cut])


def test_extra_octet_on_a_single_command_is_refused() -> None:
    """One control-point write must be exactly one record."""
    with pytest.raises(EslProtocolError):
        decode_command(bytes.fromhex("00 05 00"))


def test_error_codes_all_named_and_unknown_ones_tolerated() -> None:
    """0x01..0x0C have names; RFU and vendor codes decode without crashing."""
    assert [error_name(c) for c in range(1, 13)] == [e.name.lower() for e in ErrorCode]
    assert error_name(0x0D) == "rfu" and error_name(0x00) == "rfu"
    assert error_name(0xF3) == "vendor_specific"
    assert decode_response(b"\x00\x42") == ErrorResponse(0x42)


def test_encoder_refuses_mismatched_vendor_length_and_opcode() -> None:
    """A vendor command must use a 0x?F opcode and fill exactly its length nibble."""
    with pytest.raises(EslProtocolError):
        encode_command(VendorCommand(0x3E, 5, b"\x00\x00\x00"))
    with pytest.raises(EslProtocolError):
        encode_command(VendorCommand(0x3F, 5, b"\x00"))
    with pytest.raises(EslProtocolError):
        encode_command(DisplayImage(5, 0, 256))


u8 = st.integers(0, 255)
u32 = st.integers(0, 0xFFFFFFFF)
colors = st.builds(LedColor, *[st.integers(0, 3)] * 4)
periods = st.integers(1, 255).map(lambda v: v * 2)
leds = st.one_of(
    st.builds(LedParams, colors, st.integers(0, (1 << 40) - 1), periods, periods,
              st.sampled_from(RepeatType), st.integers(1, 0x7FFF)),
    st.builds(LedParams.steady_on, colors),
    st.just(LedParams.off()),
)


@st.composite
def vendor_commands(draw: st.DrawFn) -> VendorCommand:
    """A vendor command of any length nibble."""
    n = draw(st.integers(0, 15))
    return VendorCommand(n << 4 | 0x0F, draw(u8), draw(st.binary(min_size=n, max_size=n)))


commands = st.one_of(
    *(st.builds(c, u8) for c in (Ping, Unassociate, ServiceReset, FactoryReset, UpdateComplete)),
    st.builds(ReadSensorData, u8, u8), st.builds(RefreshDisplay, u8, u8), st.builds(DisplayImage, u8, u8, u8),
    st.builds(DisplayTimedImage, u8, u8, u8, u32), st.builds(LedControl, u8, u8, leds),
    st.builds(LedTimedControl, u8, u8, leds, u32), vendor_commands(),
)
responses = st.one_of(
    st.builds(ErrorResponse, u8), st.builds(LedState, u8),
    st.builds(BasicState, st.integers(0, 0xFFFF).map(BasicStateFlag)),
    st.builds(DisplayState, u8, u8), st.builds(SensorValue, u8, st.binary(max_size=15)),
)


@given(st.lists(commands, max_size=6))
def test_commands_round_trip(cmds: list) -> None:
    """Any list of valid commands survives encode -> walk."""
    assert decode_commands(encode_commands(cmds)) == cmds
    for cmd in cmds:
        assert decode_command(encode_command(cmd)) == cmd


@given(st.lists(responses, max_size=6))
def test_responses_round_trip(resps: list) -> None:
    """Any list of valid responses survives encode -> walk."""
    assert decode_responses(encode_responses(resps)) == resps


@given(st.binary(max_size=64))
def test_arbitrary_bytes_never_crash_the_decoders(data: bytes) -> None:
    """Garbage either decodes or raises EslProtocolError, nothing else."""
    for decode in (decode_commands, decode_responses, decode_command, decode_response):
        with contextlib.suppress(EslProtocolError):
            decode(data)
