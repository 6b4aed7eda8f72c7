"""The label registry and its push work queue in SQLite: registration, `label.bind`, `label.list`, catalogue changes.

Everything here runs inside a store transaction (command handlers, the catalogue watcher):
quick, pure-DB. The pusher (edge.esl.pushing) does the radio work the queue describes.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Annotated, Any, Literal

from pydantic import Field

from edge.store import Tx
from edge.store.db import get_meta, set_meta, utc_now
from edge.sync.commands import Args, CommandError, CommandRegistry

WORK_TOPIC = "esl.work"
REVISION_KEY = "esl.catalog_revision"
STATES = ("unbound", "pending", "ok", "failed")


def queue_push(tx: Tx, label: str, sku: str, revision: int | None, now: float | None = None) -> None:
    """(Re)queue a label for rendering and pushing its product; a newer change replaces older pending work."""
    tx.conn.execute(
        "INSERT INTO esl_work (label, sku, revision, digest, attempts, next_at, status, last_error, queued_at)"
        " VALUES (?, ?, ?, NULL, 0, ?, 'queued', NULL, ?)"
        " ON CONFLICT(label) DO UPDATE SET sku = excluded.sku, revision = excluded.revision, digest = NULL,"
        " attempts = 0, next_at = excluded.next_at, status = 'queued', last_error = NULL, queued_at = excluded.queued_at",
        (label, sku, revision, time.time() if now is None else now, utc_now()),
    )
    tx.conn.execute("UPDATE esl_labels SET state = 'pending' WHERE id = ?", (label,))
    tx.notify(WORK_TOPIC)


def bind(tx: Tx, label: str, sku: str) -> dict[str, Any]:
    """Bind a label to a product and queue its image; unknown label or product raise `not_found`."""
    if tx.conn.execute("SELECT 1 FROM esl_labels WHERE id = ?", (label,)).fetchone() is None:
        raise CommandError("not_found", f"label: unknown label {label!r}")
    product = tx.conn.execute("SELECT revision FROM products WHERE sku = ?", (sku,)).fetchone()
    if product is None:
        raise CommandError("not_found", f"sku: unknown product {sku!r}")
    tx.conn.execute("UPDATE esl_labels SET sku = ? WHERE id = ?", (sku, label))
    queue_push(tx, label, sku, product[0])
    return {"label": label, "sku": sku, "queued": True}


def requeue_sku(tx: Tx, sku: str) -> int:
    """Queue every label bound to `sku` again (e.g. its promotion ended); unchanged images are skipped later."""
    revision = tx.conn.execute("SELECT revision FROM products WHERE sku = ?", (sku,)).fetchone()
    if revision is None:
        return 0
    labels = [r[0] for r in tx.conn.execute("SELECT id FROM esl_labels WHERE sku = ?", (sku,))]
    for label in labels:
        queue_push(tx, label, sku, revision[0])
    return len(labels)


def catalog_changed(tx: Tx) -> int:
    """Queue every bound label whose product's revision is newer than the last one handled; returns labels queued."""
    handled = int(get_meta(tx.db, REVISION_KEY) or 0)
    rows = tx.conn.execute(
        "SELECT l.id, p.sku, p.revision FROM products p JOIN esl_labels l ON l.sku = p.sku WHERE p.revision > ?",
        (handled,),
    ).fetchall()
    top = tx.conn.execute("SELECT coalesce(max(revision), 0) FROM products").fetchone()[0]
    now = time.time()
    for label, sku, revision in rows:
        queue_push(tx, label, sku, revision, now)
    if top > handled:
        set_meta(tx, REVISION_KEY, str(top))
    return len(rows)


class BindArgs(Args):
    """`label.bind` arguments."""

    label: Annotated[str, Field(min_length=1, max_length=64)]
    sku: Annotated[str, Field(min_length=1, max_length=32)]


class ListArgs(Args):
    """`label.list` arguments: optional filters, then `limit` with `offset` or an opaque `cursor`."""

    sku: str | None = None
    state: Literal[STATES] | None = None  # type: ignore[valid-type]
    limit: Annotated[int, Field(ge=1, le=1000)] = 100
    offset: Annotated[int, Field(ge=0)] = 0
    cursor: str | None = None


def _cursor(label_id: str) -> str:
    """An opaque cursor that resumes after `label_id`."""
    return base64.urlsafe_b64encode(json.dumps({"after": label_id}).encode()).decode()


def _after(cursor: str) -> str:
    """The label id a cursor resumes after; a foreign cursor is an invalid argument."""
    try:
        return str(json.loads(base64.urlsafe_b64decode(cursor.encode()))["after"])
    except (ValueError, KeyError, TypeError) as err:
        raise CommandError("invalid_argument", "cursor: not a cursor returned by label.list") from err


def list_labels(tx: Tx, args: ListArgs) -> dict[str, Any]:
    """One page of labels in id order, with the total that matches the filters."""
    where, params = ["1"], []
    if args.sku is not None:
        where.append("sku = ?")
        params.append(args.sku)
    if args.state is not None:
        where.append("state = ?")
        params.append(args.state)
    total = tx.conn.execute(f"SELECT count(*) FROM esl_labels WHERE {' AND '.join(where)}", params).fetchone()[0]
    offset = args.offset
    if args.cursor is not None:
        if args.offset:
            raise CommandError("invalid_argument", "offset: give either offset or cursor, not both")
        where.append("id > ?")
        params.append(_after(args.cursor))
        offset = 0
    rows = tx.conn.execute(
        f"SELECT id, sku, model, state, battery_v, last_seen, last_error, shown_digest FROM esl_labels"
        f" WHERE {' AND '.join(where)} ORDER BY id LIMIT ? OFFSET ?",
        [*params, args.limit + 1, offset],
    ).fetchall()
    more = len(rows) > args.limit
    rows = rows[: args.limit]
    labels = [
        {"id": r[0], "sku": r[1], "model": r[2], "state": r[3], "battery_v": r[4], "last_seen": r[5],
         "last_error": r[6], "digest": r[7]}
        for r in rows
    ]
    return {"total": total, "labels": labels, "next_cursor": _cursor(rows[-1][0]) if more else None}


def register_commands(registry: CommandRegistry) -> None:
    """Add `label.bind` and `label.list`."""
    registry.register("label.bind", BindArgs, lambda tx, a: bind(tx, a.label, a.sku), "Bind a shelf label to a product and push its image")
    registry.register("label.list", ListArgs, list_labels, "List shelf labels with their product, state, battery and last contact")
