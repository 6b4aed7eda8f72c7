"""SQLite tables of the label inventory (see edge.esl.schema for the order they are created in)."""

from __future__ import annotations

import sqlite_utils


def v1(db: sqlite_utils.Database) -> None:
    """The label registry: one row per label, what it is, what it shows and how it was last seen."""
    db["esl_labels"].create(
        {
            "id": str, "esl_group": int, "esl_id": int, "model": str, "width": int, "height": int,
            "display_type": int, "leds": int, "temp_sensor": int, "volt_sensor": int, "battery_at": float, "sku": str, "state": str, "battery_v": float,
            "last_seen": str, "shown_digest": str, "last_error": str, "created_at": str,
        },
        pk="id",
        not_null={"esl_group", "esl_id", "state"},
    )
    db["esl_labels"].create_index(["sku"])
    db["esl_labels"].create_index(["state"])


def v4(db: sqlite_utils.Database) -> None:
    """Keys that must outlive the process: each PAwR access point's sync key, identity and bonds, each onboarded label's.

    `esl_access_points`: one row per configured controller (its place in `[esl.pawr] transports`
    and the transport string); `id` is never reused, so labels onboarded under a key that was lost
    and generated again are not mistaken for this key's. `esl_label_keys`: a label's response key,
    ESL address and serving AP, written before onboarding starts (`state` 'onboarding', which also
    reserves the address) and completed with what onboarding read (`state` 'onboarded', `info`).
    `esl_ap_bonds`: the SMP bonds (LTK, IRK) of each AP's Bumble host, so a restarted AP encrypts
    with the labels it paired with instead of pairing again. Keys are hex text; nothing here is ever
    logged, reported in `status` or sent over MQTT.
    """
    db.execute(
        """CREATE TABLE esl_access_points (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            position INTEGER NOT NULL,
            transport TEXT NOT NULL,
            sync_key TEXT NOT NULL,
            address TEXT NOT NULL,
            created_at TEXT NOT NULL,
            UNIQUE (position, transport)
        )"""
    )
    db["esl_label_keys"].create(
        {"id": str, "ap": int, "esl_group": int, "esl_id": int, "response_key": str, "state": str, "info": str,
         "updated_at": str},
        pk="id",
        not_null={"ap", "esl_group", "esl_id", "response_key", "state"},
    )
    db["esl_label_keys"].create_index(["ap", "esl_group", "esl_id"])
    db["esl_ap_bonds"].create({"ap": int, "peer": str, "keys": str, "updated_at": str}, pk=("ap", "peer"), not_null={"keys"})
