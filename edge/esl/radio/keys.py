"""The keys a PAwR store must keep across restarts, in SQLite: each AP's sync key and identity, each onboarded label's.

A label holds the AP sync key and its own response key from the day it is onboarded; an AP that
forgot them can neither command it nor read its answers. So the hardware path keeps, per access
point (its place in `[esl.pawr] transports` and the transport string), the sync key and the random
static address it advertises and pairs from, and per label the response key, ESL address, serving
AP and what onboarding read (tables in `edge.esl.radio.tables`, step v4).

Rows are read back strictly: a key that is not 24 octets of hex, an address out of range or
information that does not parse makes that row a `StoredKeyError`, named by label and field and
never by value. Keys are hex text in the database and nowhere else: no log line, status field or
MQTT reply carries one (`KeyMaterial` values are only handed to the radio).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sqlite_utils

from devices.esl.codec import EslAddress
from devices.esl.errors import EslProtocolError
from devices.esl.info import (
    MeshSensor,
    encode_display_info,
    encode_led_info,
    encode_sensor_info,
    parse_display_info,
    parse_image_info,
    parse_led_info,
    parse_sensor_info,
)
from devices.esl.radio import KeyMaterial, Label, LabelInfo
from devices.esl.sensors import MeshProperty
from edge.esl.radio.inventory import LabelRecord
from edge.store import Tx
from edge.store.db import utc_now

#: A stored information record is a few dozen octets; anything longer is not ours.
MAX_INFO_CHARS = 4096
_KEY_HEX = re.compile(r"[0-9a-f]{48}")
_STATIC_ADDRESS = re.compile(r"[C-F][0-9A-F]:(?:[0-9A-F]{2}:){4}[0-9A-F]{2}")


class StoredKeyError(ValueError):
    """A stored key row that cannot be used (damaged, truncated, edited by hand); says which field, never its value."""


@dataclass(frozen=True, slots=True)
class StoredAp:
    """One access point's lasting identity: its row id, where it is configured, its sync key and address."""

    id: int
    position: int
    transport: str
    sync_key: KeyMaterial = field(repr=False)
    address: str


@dataclass(frozen=True, slots=True)
class StoredLabel:
    """One label's row: its handle, the AP row that serves it, its response key, and the information onboarding read.

    `info` is None while onboarding has not completed (the row then only reserves the address).
    """

    label: Label
    ap: int
    response_key: KeyMaterial = field(repr=False)
    info: LabelInfo | None


@dataclass(frozen=True, slots=True)
class LabelRows:
    """Every label row, read strictly: the usable ones and, per damaged row, its label and what is wrong."""

    labels: list[StoredLabel]
    damaged: list[tuple[str, str]]
    #: (label, AP row id, ESL address) of damaged rows whose address still reads: kept for that label,
    #: since it may still answer at it.
    reserved: list[tuple[str, int, EslAddress]]


def _key_text(key: KeyMaterial) -> str:
    """The 24 octets as lowercase hex."""
    return key.encode().hex()


def _key(text: object, what: str) -> KeyMaterial:
    """Key material from its stored hex (StoredKeyError naming `what`)."""
    if not isinstance(text, str) or not _KEY_HEX.fullmatch(text):
        raise StoredKeyError(f"{what} is not 24 octets of hex")
    raw = bytes.fromhex(text)
    return KeyMaterial(raw[:16], raw[16:])


def encode_info(info: LabelInfo) -> str:
    """What onboarding read, as the characteristics' own bytes (hex) in a small JSON object."""
    return json.dumps({
        "displays": encode_display_info(list(info.displays)).hex(),
        "max_image_index": info.max_image_index,
        "sensors": encode_sensor_info(list(info.sensors)).hex(),
        "leds": encode_led_info(list(info.leds)).hex(),
    }, separators=(",", ":"))


def decode_info(text: object) -> LabelInfo:
    """The information back from `encode_info`'s text (StoredKeyError when it does not parse)."""
    if not isinstance(text, str) or len(text) > MAX_INFO_CHARS:
        raise StoredKeyError("info is missing or too long")
    try:
        data: Any = json.loads(text)
        return LabelInfo(
            displays=tuple(parse_display_info(bytes.fromhex(data["displays"]))),
            max_image_index=parse_image_info(bytes([data["max_image_index"]])),
            sensors=tuple(parse_sensor_info(bytes.fromhex(data["sensors"]))),
            leds=tuple(parse_led_info(bytes.fromhex(data["leds"]))),
        )
    except (ValueError, KeyError, TypeError, EslProtocolError) as err:
        raise StoredKeyError(f"info does not parse ({type(err).__name__})") from err


def record(address: str, esl: EslAddress, info: LabelInfo) -> LabelRecord:
    """The `esl_labels` row of an onboarded label: its first display, LED count, temperature and voltage sensors."""
    display = info.displays[0] if info.displays else None

    def sensor(prop: MeshProperty) -> int | None:
        """Index of the label's sensor measuring `prop`, if any."""
        return next((i for i, s in enumerate(info.sensors) if isinstance(s, MeshSensor) and s.property_id == prop), None)

    return LabelRecord(
        address, esl.group_id, esl.esl_id, None,
        display.width if display else None, display.height if display else None,
        display.display_type if display else None, len(info.leds),
        sensor(MeshProperty.PRESENT_AMBIENT_TEMPERATURE), sensor(MeshProperty.PRESENT_INPUT_VOLTAGE),
    )


# Access points --------------------------------------------------------------------------------------
def _ap_row(row: tuple[Any, ...]) -> StoredAp:
    """An `esl_access_points` row (StoredKeyError when its key or address is damaged)."""
    ap_id, position, transport, sync_key, address = row
    if not isinstance(address, str) or not _STATIC_ADDRESS.fullmatch(address):
        raise StoredKeyError("address is not a random static address")
    return StoredAp(ap_id, position, transport, _key(sync_key, "sync_key"), address)


def access_point(tx: Tx, position: int, transport: str,
                 generate: Callable[[], tuple[KeyMaterial, str]]) -> tuple[StoredAp, str | None]:
    """The stored AP at `position` with `transport`, made (and committed with this transaction) the first time.

    A damaged row is replaced by a new one with a new id, so the labels onboarded under the lost
    key are no longer taken for this AP's (they are onboarded again). Returns the AP and, when its
    row was damaged, what was wrong with it.
    """
    query = "SELECT id, position, transport, sync_key, address FROM esl_access_points WHERE position = ? AND transport = ?"
    row = tx.conn.execute(query, (position, transport)).fetchone()
    problem = None
    if row is not None:
        try:
            return _ap_row(row), None
        except StoredKeyError as err:
            problem = str(err)
            tx.conn.execute("DELETE FROM esl_access_points WHERE id = ?", (row[0],))
    key, address = generate()
    tx.conn.execute(
        "INSERT INTO esl_access_points (position, transport, sync_key, address, created_at) VALUES (?, ?, ?, ?, ?)",
        (position, transport, _key_text(key), address, utc_now()),
    )
    return _ap_row(tx.conn.execute(query, (position, transport)).fetchone()), problem


# Labels ---------------------------------------------------------------------------------------------
def _label_row(row: tuple[Any, ...]) -> StoredLabel:
    """An `esl_label_keys` row (StoredKeyError naming the damaged field)."""
    address, ap, group, esl_id, response_key, state, info = row
    try:
        esl = EslAddress(group, esl_id)
    except (EslProtocolError, TypeError) as err:
        raise StoredKeyError("esl_group/esl_id is not an ESL address") from err
    key = _key(response_key, "response_key")
    if state not in ("onboarding", "onboarded"):
        raise StoredKeyError("state is neither 'onboarding' nor 'onboarded'")
    return StoredLabel(Label(address, esl), ap, key, decode_info(info) if state == "onboarded" else None)


def label_rows(db: sqlite_utils.Database) -> LabelRows:
    """Every label key row, read strictly (see `LabelRows`)."""
    labels: list[StoredLabel] = []
    damaged: list[tuple[str, str]] = []
    reserved: list[tuple[str, int, EslAddress]] = []
    rows = db.execute("SELECT id, ap, esl_group, esl_id, response_key, state, info FROM esl_label_keys ORDER BY id")
    for row in rows:
        try:
            labels.append(_label_row(row))
        except StoredKeyError as err:
            damaged.append((str(row[0]), str(err)))
            try:
                reserved.append((str(row[0]), int(row[1]), EslAddress(row[2], row[3])))
            except (EslProtocolError, TypeError, ValueError):
                pass
    return LabelRows(labels, damaged, reserved)


def reserve(tx: Tx, label: Label, ap: int, response_key: KeyMaterial) -> None:
    """Before onboarding: the label's new key and address, so neither is lost or given twice if the process dies."""
    tx.conn.execute(
        "INSERT INTO esl_label_keys (id, ap, esl_group, esl_id, response_key, state, info, updated_at)"
        " VALUES (?, ?, ?, ?, ?, 'onboarding', NULL, ?)"
        " ON CONFLICT(id) DO UPDATE SET ap = excluded.ap, esl_group = excluded.esl_group, esl_id = excluded.esl_id,"
        " response_key = excluded.response_key, state = 'onboarding', info = NULL, updated_at = excluded.updated_at",
        (label.ble_address, ap, label.esl.group_id, label.esl.esl_id, _key_text(response_key), utc_now()),
    )


def onboarded(tx: Tx, label: Label, info: LabelInfo) -> bool:
    """After onboarding: keep what it read and register the label in `esl_labels` (address and info updated); True if new."""
    now = utc_now()
    tx.conn.execute("UPDATE esl_label_keys SET state = 'onboarded', info = ?, updated_at = ? WHERE id = ?",
                    (encode_info(info), now, label.ble_address))
    r = record(label.ble_address, label.esl, info)
    new = tx.conn.execute("SELECT 1 FROM esl_labels WHERE id = ?", (r.id,)).fetchone() is None
    tx.conn.execute(
        "INSERT INTO esl_labels (id, esl_group, esl_id, model, width, height, display_type, leds, temp_sensor,"
        " volt_sensor, state, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'unbound', ?)"
        " ON CONFLICT(id) DO UPDATE SET esl_group = excluded.esl_group, esl_id = excluded.esl_id,"
        " width = excluded.width, height = excluded.height, display_type = excluded.display_type, leds = excluded.leds,"
        " temp_sensor = excluded.temp_sensor, volt_sensor = excluded.volt_sensor",
        (r.id, r.esl_group, r.esl_id, r.model, r.width, r.height, r.display_type, r.leds, r.temp_sensor, r.volt_sensor, now),
    )
    return new


def onboarded_count(tx: Tx) -> int:
    """How many labels completed onboarding (what `label.onboarding` reports)."""
    return int(tx.conn.execute("SELECT count(*) FROM esl_label_keys WHERE state = 'onboarded'").fetchone()[0])


# Bonds ----------------------------------------------------------------------------------------------
def bonds(db: sqlite_utils.Database, ap: int) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """One AP's stored SMP bonds by peer address, and the peers whose row does not parse (left out)."""
    found: dict[str, dict[str, Any]] = {}
    damaged: list[str] = []
    for peer, text in db.execute("SELECT peer, keys FROM esl_ap_bonds WHERE ap = ? ORDER BY peer", (ap,)):
        try:
            value = json.loads(text) if isinstance(text, str) and len(text) <= MAX_INFO_CHARS else None
        except ValueError:
            value = None
        if isinstance(value, dict):
            found[peer] = value
        else:
            damaged.append(str(peer))
    return found, damaged


def save_bond(tx: Tx, ap: int, peer: str, keys: dict[str, Any]) -> None:
    """Keep (or replace) one bond."""
    tx.conn.execute(
        "INSERT INTO esl_ap_bonds (ap, peer, keys, updated_at) VALUES (?, ?, ?, ?)"
        " ON CONFLICT(ap, peer) DO UPDATE SET keys = excluded.keys, updated_at = excluded.updated_at",
        (ap, peer, json.dumps(keys, separators=(",", ":")), utc_now()),
    )


def delete_bond(tx: Tx, ap: int, peer: str) -> None:
    """Forget one bond (the label forgot it, or was paired again)."""
    tx.conn.execute("DELETE FROM esl_ap_bonds WHERE ap = ? AND peer = ?", (ap, peer))
