"""Sync packets and responses on air: framing, the 48-octet payload limit, tag-side parsing, wrong keys."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devices.esl.codec import (
    BasicState, BasicStateFlag, DisplayImage, ErrorResponse, LedControl, LedState, Ping, ReadSensorData,
    SensorValue, UnknownCommand, encode_commands,
)
from devices.esl.ead import EadAuthenticationError, EadKey, Randomizer
from devices.esl.errors import EslProtocolError
from devices.esl.led import GREEN, LedParams, RepeatType
from devices.esl.radio import KeyMaterial
from devices.esl.sync_packet import (
    EAD_AD_TYPE, ESL_AD_TYPE, MAX_PAYLOAD, SyncPacket, open_payload, pack_response, pack_sync_packet,
    parse_response, parse_sync_packet, seal_payload,
)

SYNC = EadKey(KeyMaterial(bytes(range(16)), bytes(range(16, 24))))
RAND = Randomizer(start=1).next()
FLASH = LedParams(GREEN, on_ms=200, off_ms=200, repeat_type=RepeatType.SECONDS, repeats=60)


def _led(esl_id: int) -> LedControl:
    """The 13-octet green flash of esl.md §5.2."""
    return LedControl(esl_id, 0, FLASH)


def test_the_packet_is_one_ead_structure_around_one_esl_structure() -> None:
    """`[len][0x31][rand][enc([len][0x34][group][cmd])][MIC]`: lengths count what follows them."""
    data = pack_sync_packet(SYNC, RAND, 3, [Ping(5)])
    assert data[0] == len(data) - 1 and data[1] == EAD_AD_TYPE and data[2:7] == RAND
    inner = SYNC.decrypt(data[2:])
    assert inner == bytes((4, ESL_AD_TYPE, 3, 0x00, 5))
    assert len(data) == 2 + 5 + len(inner) + 4


@pytest.mark.parametrize(("make", "fits"), [(_led, 3), (lambda i: DisplayImage(i, 0, 1), 11), (lambda i: ReadSensorData(i, 0), 15)],
                         ids=["led_control", "display_image", "read_sensor"])
def test_the_48_octet_limit_takes_3_led_11_image_or_15_sensor_commands(make, fits: int) -> None:  # type: ignore[no-untyped-def]
    """esl.md §8.2's counts: one more command than that does not fit beside the Group_ID."""
    commands = [make(i) for i in range(fits)]
    assert 1 + len(encode_commands(commands)) <= MAX_PAYLOAD
    assert parse_sync_packet(SYNC, pack_sync_packet(SYNC, RAND, 1, commands)).commands == tuple(commands)
    with pytest.raises(EslProtocolError, match="at most 48"):
        pack_sync_packet(SYNC, RAND, 1, [*commands, make(fits)])


def test_the_tag_skips_an_unknown_opcode_by_its_length_nibble_and_keeps_slot_positions() -> None:
    """An RFU opcode 0x25 (4 octets) sits in slot 1: the LED command after it is read whole, in slot 2."""
    commands = [Ping(1), UnknownCommand(0x25, 2, b"\xAA\xBB"), _led(3)]
    packet = parse_sync_packet(SYNC, pack_sync_packet(SYNC, RAND, 7, commands))
    assert packet == SyncPacket(7, tuple(commands))


def test_a_tampered_sync_packet_fails_its_mic() -> None:
    """One bit of the ciphertext flipped in the air: the tag drops the packet."""
    data = bytearray(pack_sync_packet(SYNC, RAND, 1, [Ping(1)]))
    data[9] ^= 0x40
    with pytest.raises(EadAuthenticationError):
        parse_sync_packet(SYNC, bytes(data))


def test_a_packet_under_another_ap_sync_key_fails_its_mic() -> None:
    """A neighbouring AP's train: its packets do not decrypt under ours."""
    data = pack_sync_packet(EadKey(KeyMaterial.generate()), RAND, 1, [Ping(1)])
    with pytest.raises(EadAuthenticationError):
        parse_sync_packet(SYNC, data)


@pytest.mark.parametrize("data", [b"", b"\x05", b"\x02\x01\x06", bytes((30, EAD_AD_TYPE)) + bytes(10)],
                         ids=["empty", "one_octet", "flags_ad", "length_mismatch"])
def test_data_that_is_not_one_ead_structure_is_a_protocol_error(data: bytes) -> None:
    """Other AD types, or a length octet that disagrees with the data, are refused before decrypting."""
    with pytest.raises(EslProtocolError):
        parse_sync_packet(SYNC, data)


def test_an_encrypted_payload_that_is_not_an_esl_structure_is_refused() -> None:
    """A valid MIC around something other than `[len][0x34]…` (e.g. a name) is not a sync packet."""
    field = SYNC.encrypt(RAND, bytes((3, 0x09, 0x41, 0x42)))
    with pytest.raises(EslProtocolError, match="ESL AD structure"):
        parse_sync_packet(SYNC, bytes((len(field) + 1, EAD_AD_TYPE)) + field)


def test_a_group_beyond_127_cannot_be_packed() -> None:
    """Group_ID has 7 bits."""
    with pytest.raises(EslProtocolError):
        pack_sync_packet(SYNC, RAND, 128, [Ping(1)])


def test_responses_round_trip_under_the_tags_response_key() -> None:
    """`[len][0x31][rand][enc([len][0x34][resp]…)][MIC]`, no Group_ID; several responses of one tag."""
    key = EadKey(KeyMaterial.generate())
    responses = [LedState(0), BasicState(BasicStateFlag.SYNCHRONIZED | BasicStateFlag.ACTIVE_LED)]
    data = pack_response(key, RAND, responses)
    assert key.decrypt(data[2:])[:3] == bytes((1 + 2 + 3, ESL_AD_TYPE, 0x01))
    assert parse_response(key, data) == tuple(responses)
    with pytest.raises(EadAuthenticationError):
        parse_response(SYNC, data)


def test_a_tag_working_on_raw_payloads_meets_the_ap_halfway() -> None:
    """The tag opens the AP's packet to its raw payload and seals raw responses; the AP reads them as objects."""
    key = EadKey(KeyMaterial.generate())
    payload = open_payload(SYNC, pack_sync_packet(SYNC, RAND, 2, [Ping(4), _led(5)]))
    assert payload == bytes((2,)) + encode_commands([Ping(4), _led(5)])
    raw_answer = bytes((0x10, 0x02, 0x00))  # Basic State: synchronized
    assert parse_response(key, seal_payload(key, RAND, raw_answer)) == (BasicState(BasicStateFlag.SYNCHRONIZED),)
    with pytest.raises(EslProtocolError, match="at most 48"):
        seal_payload(key, RAND, bytes(49))


def test_responses_are_held_to_48_octets_too() -> None:
    """Three 17-octet sensor values are 51 octets: too many for one slot."""
    big = [SensorValue(i, bytes(15)) for i in range(3)]
    with pytest.raises(EslProtocolError, match="at most 48"):
        pack_response(SYNC, RAND, big)
    assert parse_response(SYNC, pack_response(SYNC, RAND, [*big[:2], ErrorResponse(7)]))[-1] == ErrorResponse(7)


@given(st.binary(max_size=80), st.sampled_from(["noise", "encrypted", "esl_structure"]))
def test_any_bytes_parse_or_raise_a_protocol_error(data: bytes, how: str) -> None:
    """Noise in a slot, any plaintext under a valid MIC, any ESL payload: a result or EslProtocolError, nothing else."""
    if how == "esl_structure":
        data = bytes((len(data) + 1, ESL_AD_TYPE)) + data
    if how != "noise":
        field = SYNC.encrypt(RAND, data)
        data = bytes((len(field) + 1, EAD_AD_TYPE)) + field
    for parse in (parse_response, parse_sync_packet):
        try:
            parse(SYNC, data)
        except EslProtocolError:
            pass
