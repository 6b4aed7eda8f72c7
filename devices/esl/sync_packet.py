"""ESL sync packets (AP → a group's subevent) and responses (a tag → its slot), as they go on air.

Both are one Encrypted Advertising Data structure around one ESL structure (esl.md §8.2, §8.3):

    [len][0x31][Randomizer 5][ enc( [len][0x34][ESL payload] ) ][MIC 4]

A sync packet's ESL payload is the Group_ID then commands, a response's is responses; either is
at most 48 octets (NCS `ESL_SYNC_PKT_PAYLOAD_MAX_LEN`; so 3 LED Control, 11 Display Image or 15
Read Sensor Data commands fit one packet). Records are codec.py's: a tag walks them by each
opcode's length nibble, so an opcode it does not know costs it nothing but that command.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from devices.esl.codec import (
    MAX_GROUP_ID, Command, Response, decode_commands, decode_responses, encode_commands, encode_responses,
)
from devices.esl.ead import EadKey
from devices.esl.errors import EslProtocolError

EAD_AD_TYPE = 0x31
ESL_AD_TYPE = 0x34
MAX_PAYLOAD = 48


@dataclass(frozen=True, slots=True)
class SyncPacket:
    """What a tag reads from its subevent: the group the packet is for and its commands in slot order."""

    group_id: int
    commands: tuple[Command, ...]


def seal_payload(key: EadKey, randomizer: bytes, payload: bytes) -> bytes:
    """Put an encoded ESL payload in its AD structure, encrypt it, and frame the Encrypted Data structure.

    For senders that hold the payload as bytes already (a tag's concatenated responses).
    """
    if len(payload) > MAX_PAYLOAD:
        raise EslProtocolError(f"the ESL payload is at most {MAX_PAYLOAD} octets, this one is {len(payload)}")
    field = key.encrypt(randomizer, bytes((len(payload) + 1, ESL_AD_TYPE)) + payload)
    return bytes((len(field) + 1, EAD_AD_TYPE)) + field


def open_payload(key: EadKey, data: bytes) -> bytes:
    """The encoded ESL payload inside one Encrypted Data structure (EadAuthenticationError on a bad MIC).

    For receivers that walk the records themselves (a tag executing its commands in place).
    """
    if len(data) < 2 or data[1] != EAD_AD_TYPE or data[0] != len(data) - 1:
        raise EslProtocolError(f"not one Encrypted Advertising Data structure: {bytes(data[:8]).hex()}…")
    inner = key.decrypt(data[2:])
    if len(inner) < 2 or inner[1] != ESL_AD_TYPE or inner[0] != len(inner) - 1:
        raise EslProtocolError("the encrypted data does not hold one ESL AD structure")
    if len(inner) - 2 > MAX_PAYLOAD:
        raise EslProtocolError(f"the ESL payload is at most {MAX_PAYLOAD} octets, this one is {len(inner) - 2}")
    return inner[2:]


def pack_sync_packet(key: EadKey, randomizer: bytes, group_id: int, commands: Sequence[Command]) -> bytes:
    """The subevent data for one group: its commands encrypted with the AP Sync Key."""
    if not 0 <= group_id <= MAX_GROUP_ID:
        raise EslProtocolError(f"Group_ID must be 0..{MAX_GROUP_ID}, got {group_id}")
    return seal_payload(key, randomizer, bytes((group_id,)) + encode_commands(list(commands)))


def parse_sync_packet(key: EadKey, data: bytes) -> SyncPacket:
    """A tag's reading of its subevent's data: the Group_ID and every command, unknown opcodes kept in place.

    An RFU opcode decodes as `UnknownCommand` (its length comes from its nibble), so the commands
    after it keep their positions, which are their response slots.
    """
    payload = open_payload(key, data)
    if not payload:
        raise EslProtocolError("a sync packet without a Group_ID")
    return SyncPacket(payload[0], tuple(decode_commands(payload[1:])))


def pack_response(key: EadKey, randomizer: bytes, responses: Sequence[Response]) -> bytes:
    """A tag's response slot data: its responses encrypted with its ESL Response Key."""
    return seal_payload(key, randomizer, encode_responses(list(responses)))


def parse_response(key: EadKey, data: bytes) -> tuple[Response, ...]:
    """The AP's reading of one response slot, decrypted with the answering tag's response key."""
    return tuple(decode_responses(open_payload(key, data)))
