"""EAD: the Core Specification Supplement's sample data, round trips with random keys, tampering, randomizers."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devices.esl.ead import DIRECTION_BIT, EadAuthenticationError, EadKey, Randomizer
from devices.esl.errors import EslProtocolError
from devices.esl.radio import KeyMaterial, LabelConfig

# Supplement to the Bluetooth Core Specification v11, Part A §2.3 (Encrypted Advertising Data sample
# data), as Zephyr's tests/bsim/bluetooth/host/adv/encrypted/css_sample_data carries it. The
# supplement prints the key and IV most significant octet first; the key characteristics hold them
# least significant first (Nordic's ead_ccm.py quotes PTS writing exactly these bytes).
SAMPLE_KEY = KeyMaterial(
    key=bytes.fromhex("57A9DA12D12E6E131E20612AD10A6A19")[::-1],
    iv=bytes.fromhex("46E77AB1EF007A9E")[::-1],
)
SAMPLE_AD = bytes.fromhex("0F0953686F7274204D696E692D42757303190A8C")  # "Short Mini-Bus", appearance
SAMPLE_1 = bytes.fromhex("18E157CADE74E4DCAFDC51C7282810C2217F0E4CEF4343181FBA0069CC")
SAMPLE_2 = bytes.fromhex("8D1C976E7A35444076125788C238A58E8BD9CFF0DEFE251A8E7275454C")


def test_the_characteristic_bytes_are_the_ones_pts_writes() -> None:
    """The key material as written on the air, per the PTS log quoted by Nordic."""
    assert SAMPLE_KEY.encode().hex().upper() == "196A0AD12A61201E136E2ED112DAA957" "9E7A00EFB17AE746"


@pytest.mark.parametrize("sample", [SAMPLE_1, SAMPLE_2], ids=["set1", "set2"])
def test_encrypting_the_sample_gives_the_published_bytes(sample: bytes) -> None:
    """Same key, IV, randomizer and AD as the supplement: the same randomizer, ciphertext and MIC."""
    assert EadKey(SAMPLE_KEY).encrypt(sample[:5], SAMPLE_AD) == sample


@pytest.mark.parametrize("sample", [SAMPLE_1, SAMPLE_2], ids=["set1", "set2"])
def test_decrypting_the_sample_gives_the_advertising_data(sample: bytes) -> None:
    """Set 2's randomizer has its direction bit clear: a receiver still decrypts it."""
    assert EadKey(SAMPLE_KEY).decrypt(sample) == SAMPLE_AD


def test_the_key_is_used_reversed() -> None:
    """The key material taken as written (not reversed) does not reproduce the sample."""
    as_written = KeyMaterial(key=SAMPLE_KEY.key[::-1], iv=SAMPLE_KEY.iv)
    assert EadKey(as_written).encrypt(SAMPLE_1[:5], SAMPLE_AD) != SAMPLE_1


@given(st.binary(max_size=60), st.binary(min_size=5, max_size=5))
def test_round_trip_with_random_keys(plaintext: bytes, randomizer: bytes) -> None:
    """Whatever the key, what is encrypted decrypts to itself and grows by 9 octets."""
    key = EadKey(KeyMaterial.generate())
    field = key.encrypt(randomizer, plaintext)
    assert len(field) == len(plaintext) + 9
    assert key.decrypt(field) == plaintext


@pytest.mark.parametrize("where", [0, 4, 5, 12, -4, -1], ids=["rand0", "rand4", "ct0", "ct7", "mic0", "mic3"])
def test_a_tampered_field_fails_its_mic(where: int) -> None:
    """One flipped bit anywhere (randomizer, ciphertext, MIC) is caught."""
    field = bytearray(SAMPLE_1)
    field[where] ^= 0x01
    with pytest.raises(EadAuthenticationError):
        EadKey(SAMPLE_KEY).decrypt(bytes(field))


def test_another_key_fails_the_mic() -> None:
    """A packet for another label (another response key) does not decrypt."""
    with pytest.raises(EadAuthenticationError):
        EadKey(KeyMaterial.generate()).decrypt(SAMPLE_1)


def test_a_field_too_short_to_hold_randomizer_and_mic_is_a_protocol_error() -> None:
    """Eight octets cannot be an Encrypted Data field."""
    with pytest.raises(EslProtocolError):
        EadKey(SAMPLE_KEY).decrypt(bytes(8))


def test_a_randomizer_of_the_wrong_size_is_refused() -> None:
    """The nonce needs exactly five randomizer octets."""
    with pytest.raises(EslProtocolError):
        EadKey(SAMPLE_KEY).encrypt(bytes(4), b"x")


def test_randomizers_count_up_with_the_direction_bit_set() -> None:
    """One per packet, little-endian, the last octet's top bit always 1, wrapping below that bit."""
    r = Randomizer(start=DIRECTION_BIT - 2)
    values = [int.from_bytes(r.next(), "little") for _ in range(3)]
    assert values == [DIRECTION_BIT | (DIRECTION_BIT - 2), DIRECTION_BIT | (DIRECTION_BIT - 1), DIRECTION_BIT]
    assert Randomizer(start=5).next() == bytes((5, 0, 0, 0, 0x80))


def test_randomizers_start_somewhere_random() -> None:
    """Two senders started without a seed do not share a count (a nonce reuse under a shared key)."""
    assert Randomizer().next() != Randomizer().next()


def test_key_material_never_shows_its_bytes_in_a_repr() -> None:
    """A key logged by mistake (a repr in an f-string or a log field) must not leak it."""
    material = KeyMaterial.generate()
    shown = repr(material) + str(material) + repr(LabelConfig(material, material, 0))
    assert material.key.hex() not in shown and material.iv.hex() not in shown
    assert repr(material.key) not in shown and repr(material.iv) not in shown
