"""Encrypted Advertising Data (Core Specification Supplement Part A §1.23): the AES-CCM that hides ESL sync packets.

The field is `Randomizer (5) ‖ ciphertext ‖ MIC (4)`; the CCM nonce is `Randomizer ‖ IV`, the
additional authenticated data the single octet 0xEA, the MIC 4 octets. Checked against the
supplement's sample data sets 1 and 2 as Zephyr's `bt_ead` tests carry them
(tests/bsim/bluetooth/host/adv/encrypted/css_sample_data), Zephyr's `subsys/bluetooth/host/ead.c`
(AAD 0xEA, direction bit = most significant bit of the randomizer's last octet, set to 1 when
made) and Silicon Labs' ESL AP `ap_ead.py` (same AAD; AES key = the key material's first 16
octets reversed, IV used as written).

Key byte order: `KeyMaterial.key` is the 16 octets as written to the ESL key characteristics,
least significant octet first; the AES-128 key is their reverse. Silicon Labs' AP reverses them,
Nordic's tag reverses them after storing, and Nordic's `ead_ccm.py` records PTS writing the
supplement's key 57A9…6A19 as 196A…A957; the IV goes into the nonce as written. Unverified on
hardware: this is what both vendors' code and the PTS log agree on, no tag has been run here.
"""

from __future__ import annotations

import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESCCM

from devices.esl.errors import EslProtocolError
from devices.esl.radio import KeyMaterial

RANDOMIZER_SIZE = 5
MIC_SIZE = 4
OVERHEAD = RANDOMIZER_SIZE + MIC_SIZE
AAD = b"\xea"
DIRECTION_BIT = 1 << 39  # the most significant bit of the randomizer's last (5th) octet
_COUNTER_MASK = DIRECTION_BIT - 1


class EadAuthenticationError(EslProtocolError):
    """The MIC did not match: another key, a tampered packet, or a packet meant for someone else."""


class EadKey:
    """One key material made ready for AES-CCM; the cipher object is built once, not per packet."""

    __slots__ = ("_ccm", "material")

    def __init__(self, material: KeyMaterial) -> None:
        """Reverse the key into AES byte order (see the module docstring)."""
        self.material = material
        self._ccm = AESCCM(material.key[::-1], tag_length=MIC_SIZE)

    def encrypt(self, randomizer: bytes, plaintext: bytes) -> bytes:
        """The Encrypted Data field: `randomizer ‖ ciphertext ‖ MIC`."""
        if len(randomizer) != RANDOMIZER_SIZE:
            raise EslProtocolError(f"the randomizer is {RANDOMIZER_SIZE} octets, got {len(randomizer)}")
        return randomizer + self._ccm.encrypt(randomizer + self.material.iv, plaintext, AAD)

    def decrypt(self, field: bytes) -> bytes:
        """The plaintext of an Encrypted Data field; EadAuthenticationError when the MIC fails.

        The randomizer is taken as it came: the supplement's sample data set 2 has its direction
        bit clear, so a receiver must not insist on it.
        """
        if len(field) < OVERHEAD:
            raise EslProtocolError(f"encrypted data needs at least {OVERHEAD} octets, got {len(field)}")
        randomizer = bytes(field[:RANDOMIZER_SIZE])
        try:
            return self._ccm.decrypt(randomizer + self.material.iv, bytes(field[RANDOMIZER_SIZE:]), AAD)
        except InvalidTag as err:
            raise EadAuthenticationError("encrypted data failed its MIC check") from err


class Randomizer:
    """Randomizers for one sender: a counter from a random start, one per packet, direction bit set.

    Silicon Labs' AP counts its randomizer up by one per sync packet (little-endian, 40 bits);
    Zephyr, Nordic and Atmosic set the direction bit on every randomizer they make. This keeps
    both: the low 39 bits count from a random start, bit 39 is always 1. A nonce repeats under
    one key only after 2^39 packets, or if two senders (or two runs) land on overlapping counts
    from their random starts.
    """

    __slots__ = ("_count",)

    def __init__(self, start: int | None = None) -> None:
        """Start at `start` (tests), else at a random count."""
        self._count = secrets.randbits(39) if start is None else start & _COUNTER_MASK

    def next(self) -> bytes:
        """The next randomizer, as sent on air."""
        value = self._count | DIRECTION_BIT
        self._count = (self._count + 1) & _COUNTER_MASK
        return value.to_bytes(RANDOMIZER_SIZE, "little")
