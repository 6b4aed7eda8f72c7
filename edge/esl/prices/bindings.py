"""`label.bind` and `label.list`: which product each label shows, and the registry listed page by page.

Both run inside the command's store transaction: quick, pure-DB. Binding queues the label's
image (edge.esl.prices.queue); the pusher (edge.esl.prices.pushing) does the radio work.
"""

from __future__ import annotations

import base64
import json
from typing import Annotated, Any, Literal

from pydantic import Field

from edge.esl.prices.queue import queue_push
from edge.store import Tx
from edge.sync.commands import Args, CommandError, CommandRegistry
from edge.sync.fields import Sku, StrictId

STATES = ("unbound", "pending", "ok", "failed")
MAX_OFFSET = 1_000_000


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


class BindArgs(Args):
    """`label.bind` arguments."""

    label: StrictId
    sku: Sku


class ListArgs(Args):
    """`label.list` arguments: optional filters, then `limit` with `offset` or an opaque `cursor`."""

    sku: Sku | None = None
    state: Literal[STATES] | None = None  # type: ignore[valid-type]
    limit: Annotated[int, Field(ge=1, le=1000)] = 100
    offset: Annotated[int, Field(ge=0, le=MAX_OFFSET)] = 0
    cursor: Annotated[str, Field(max_length=256)] | None = None


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
