"""The one ESL/OTS client: its procedures over a bare tag core, and both backends using it rather than their own."""

from __future__ import annotations

import ast
import asyncio
import random
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from devices.esl import ots, uuids
from devices.esl.bumble.central import EslClientSession
from devices.esl.client import INFORMATION, EslClient, parse_label_info
from devices.esl.codec import EslAddress
from devices.esl.errors import ObjectTransferError
from devices.esl.gatt_ap import EslSession
from devices.esl.radio import KeyMaterial, Label, LabelConfig
from devices.esl.tag_core import MODELS, EslState, TagCore, TagEnvironment

pytestmark = pytest.mark.timeout(10)
T = TypeVar("T")
LABEL = Label("C4:00:00:00:00:07", EslAddress(2, 9))
PROCEDURES = ("read_char", "write", "request", "write_address", "write_config", "write_time", "read_info", "command",
              "raw_command", "update_complete", "onboard", "upload_image")


class CoreLink(EslClient):
    """A third backend, no radio: every link operation goes straight to a tag core and is logged."""

    def __init__(self, core: TagCore) -> None:
        """Serve `core` as LABEL."""
        super().__init__(LABEL)
        self.core = core
        self.log: list[str] = []
        self._listeners: dict[str, Callable[[bytes], None]] = {}

    async def bounded(self, what: str, awaitable: Awaitable[T]) -> T:
        """Within a second."""
        async with asyncio.timeout(1):
            return await awaitable

    async def _read(self, uuid: str) -> Any:
        """Read from the core."""
        self.log.append(f"read {uuid}")
        return self.core.read(uuid)

    async def _write(self, uuid: str, value: bytes) -> None:
        """Write to the core; its answer is notified to a listener."""
        self.log.append(f"write {uuid} {value[:1].hex()}")
        answer = self.core.write(uuid, value)
        if answer is not None and uuid in self._listeners:
            self._listeners[uuid](answer)

    async def _subscribe(self, uuid: str, on_value: Callable[[bytes], None]) -> None:
        """Remember the listener."""
        self.log.append(f"subscribe {uuid}")
        self._listeners[uuid] = on_value

    async def send_object(self, data: bytes) -> None:
        """The whole object on the transfer channel, then its close."""
        self.log.append(f"send {len(data)}")
        self.core.channel_receive(data)
        self.core.channel_close()


def core() -> TagCore:
    """A 2.9" tag being configured (connected)."""
    tag = TagCore(TagEnvironment(lambda: 0.0), LABEL.ble_address, MODELS["2.9-bwr"], rng=random.Random(1))
    tag.on_connect()
    return tag


@pytest.mark.parametrize("backend", [EslSession, EslClientSession])
def test_both_backends_are_thin_adapters_of_the_one_client(backend: type) -> None:
    """bleak's and Bumble's sessions inherit every procedure; none is written again in them."""
    assert issubclass(backend, EslClient)
    assert [name for name in PROCEDURES if name in vars(backend)] == []


async def test_onboarding_writes_address_keys_and_time_then_reads_the_information() -> None:
    """The one onboarding sequence, in order; the information is what the four characteristics hold."""
    tag = core()
    link = CoreLink(tag)
    config = LabelConfig(KeyMaterial.generate(), KeyMaterial.generate(), 5_000)
    info = await link.onboard(config)
    assert tag.esl_address == LABEL.esl and tag.ap_sync_key == config.ap_sync_key.encode()
    assert tag.response_key == config.response_key.encode() and tag.absolute_time_ms() == 5_000
    assert info == parse_label_info([tag.read(uuid) for uuid in INFORMATION])
    assert info.max_image_index == MODELS["2.9-bwr"].max_image_index
    assert link.log == [f"write {uuids.ESL_ADDRESS} 09", f"write {uuids.AP_SYNC_KEY_MATERIAL} {config.ap_sync_key.key[:1].hex()}",
                        f"write {uuids.ESL_RESPONSE_KEY_MATERIAL} {config.response_key.key[:1].hex()}",
                        f"write {uuids.ESL_CURRENT_ABSOLUTE_TIME} 88", *(f"read {uuid}" for uuid in INFORMATION),
                        f"subscribe {uuids.ESL_CONTROL_POINT}", f"write {uuids.ESL_CONTROL_POINT} 04"]
    tag.on_disconnect()
    assert tag.state is EslState.SYNCHRONIZED  # Update Complete was accepted (this tag asks for no PAST)


async def test_an_image_goes_go_to_size_write_bytes_checksum() -> None:
    """OTS as the profile has it, over any link; the slot holds the bytes."""
    tag = core()
    link = CoreLink(tag)
    data = bytes(range(256)) * 3
    await link.upload_image(1, data)
    assert tag.slots[1] == data
    assert link.log == [f"subscribe {uuids.OTS_OLCP}", f"write {uuids.OTS_OLCP} 05", f"read {uuids.OTS_OBJECT_SIZE}",
                        f"subscribe {uuids.OTS_OACP}", f"write {uuids.OTS_OACP} 06", f"send {len(data)}",
                        f"write {uuids.OTS_OACP} 03"]


async def test_upload_refusals_before_and_after_the_bytes() -> None:
    """No such slot (OLCP's result code), too big (nothing sent), damaged on the way (the CRC-32)."""
    tag = core()
    link = CoreLink(tag)
    with pytest.raises(ObjectTransferError) as no_slot:
        await link.upload_image(9, b"\x01")
    assert no_slot.value.result_code == ots.OlcpResult.OBJECT_ID_NOT_FOUND
    with pytest.raises(ObjectTransferError, match="exceeds"):
        await link.upload_image(0, bytes(tag.model.slot_size + 1))
    assert not any(entry.startswith("send") for entry in link.log)
    tag.corrupt_transfers = True
    with pytest.raises(ObjectTransferError, match="checksum"):
        await link.upload_image(0, b"\x10" * 40)


def test_label_information_is_parsed_in_one_place() -> None:
    """In the drivers, onboarding's read (both backends) and the virtual store's labels all use `parse_label_info`."""
    repo = Path(__file__).resolve().parents[3]
    parsers = {"parse_display_info", "parse_image_info", "parse_led_info"}
    callers = sorted(
        str(path.relative_to(repo)) for path in (repo / "devices").rglob("*.py")
        if any(isinstance(node, ast.Call) and getattr(node.func, "id", None) in parsers
               for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))))
    )
    assert callers == ["devices/esl/client.py"]
