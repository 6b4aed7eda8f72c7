"""Object Transfer control-point codec."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devices.esl import ots
from devices.esl.errors import EslProtocolError
import contextlib


def test_go_to_image_slot_bytes() -> None:
    """Go To carries the 48-bit object ID 0x100 + image index, little-endian."""
    assert ots.encode_olcp(ots.OlcpGoTo(ots.image_object_id(1))) == bytes.fromhex("05 01 01 00 00 00 00")
    assert ots.image_index_of(0x105) == 5
    with pytest.raises(EslProtocolError):
        ots.image_index_of(0x99)


def test_write_and_checksum_request_bytes() -> None:
    """Write: offset u32, length u32, mode u8; Calculate Checksum: offset u32, length u32."""
    assert ots.encode_oacp(ots.OacpWrite(0, 4736)) == bytes.fromhex("06 00000000 80120000 02")
    assert ots.encode_oacp(ots.OacpWrite(16, 1, ots.WriteMode.NONE)) == bytes.fromhex("06 10000000 01000000 00")
    assert ots.encode_oacp(ots.OacpCalculateChecksum(0, 10)) == bytes.fromhex("03 00000000 0A000000")


def test_crc32_check_value() -> None:
    """The OTS checksum is the IEEE CRC-32 (check value of '123456789' is 0xCBF43926)."""
    assert ots.checksum(b"123456789") == 0xCBF43926


def test_responses() -> None:
    """OACP 0x60 / OLCP 0x70 responses with result codes; checksum only on success."""
    assert ots.decode_oacp_response(bytes.fromhex("60 03 01 26 39 F4 CB")) == ots.OacpResponse(3, 1, 0xCBF43926)
    assert not ots.decode_oacp_response(bytes.fromhex("60 06 05")).ok
    assert ots.decode_olcp_response(bytes.fromhex("70 05 08")).result == ots.OlcpResult.OBJECT_ID_NOT_FOUND
    for bad in ("60 03 01", "70 05", "61 06 01", "60 06 01 00"):
        with pytest.raises(EslProtocolError):
            (ots.decode_oacp_response if bad.startswith("6") else ots.decode_olcp_response)(bytes.fromhex(bad))


@given(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1), st.sampled_from(list(ots.WriteMode)))
def test_oacp_round_trip(offset: int, length: int, mode: ots.WriteMode) -> None:
    """Server-side decode inverts client-side encode."""
    for req in (ots.OacpWrite(offset, length, mode), ots.OacpCalculateChecksum(offset, length)):
        assert ots.decode_oacp(ots.encode_oacp(req)) == req


@given(st.integers(0, 2**48 - 1))
def test_olcp_round_trip(object_id: int) -> None:
    """Go To with any 48-bit ID round-trips."""
    assert ots.decode_olcp(ots.encode_olcp(ots.OlcpGoTo(object_id))) == ots.OlcpGoTo(object_id)


@given(st.binary(max_size=12))
def test_garbage_never_crashes(data: bytes) -> None:
    """Any bytes decode or raise EslProtocolError."""
    for decode in (ots.decode_oacp, ots.decode_olcp, ots.decode_oacp_response, ots.decode_olcp_response,
                   ots.decode_object_size):
        with contextlib.suppress(EslProtocolError):
            decode(data)
