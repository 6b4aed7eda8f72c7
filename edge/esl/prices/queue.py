"""The push work queue in SQLite (`esl_work`): which labels to render and push, and for which product revision.

Everything here runs inside a store transaction (command handlers, the catalogue watcher):
quick, pure-DB. The pusher (edge.esl.prices.pushing) does the radio work the queue describes.
"""

from __future__ import annotations

import time

from edge.store import Tx
from edge.store.db import get_meta, set_meta, utc_now

WORK_TOPIC = "esl.work"
REVISION_KEY = "esl.catalog_revision"


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
