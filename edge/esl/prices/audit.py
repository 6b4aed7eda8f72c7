"""The price audit trail: every price a label ever showed, append-only and hash-chained, exportable as CSV for an inspector.

A row is written in the transaction that records a label's acknowledgement of a new image (edge/esl/prices/pushing.py):
the label and where it was located (and where its product belongs, by the planogram), what it showed, the image's
digest, when it was acknowledged, and from the price history row behind it (edge/prices/history.py) the command that
asked for the price (request id, sender) and the catalogue's checks it passed. Each row's `hash` is SHA-256 over the
previous row's hash and the row's canonical content (`canonical`), so editing, removing or reordering a row breaks
the chain at that row. Triggers refuse UPDATE and DELETE, except the retention prune: it deletes the oldest rows only
after recording the last one's id and hash as an anchor (`esl_price_audit_pruned`), from which the kept chain verifies.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import hashlib
import io
import json
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import sqlite_utils
from pydantic import Field, model_validator

from edge.store import Store, Tx
from edge.sync.commands import Args, CommandError, CommandRegistry
from edge.sync.fields import Sku, StrictId, Timestamp

TABLE = "esl_price_audit"
#: The `prev_hash` of the first row ever written.
GENESIS = "0" * 64
#: The columns a row's hash covers, in the order `canonical` and the CSV list them (`prev_hash` and `hash` follow in the CSV).
COLUMNS = (
    "id", "acknowledged_at", "label", "sku", "name", "unit", "price", "promo_price", "promo_base", "promo_end", "digest",
    "history_id", "request_id", "sender", "checks", "position", "planogram",
)
#: Rows per `price.audit.export` page, and rows per `price.audit.verify` call.
EXPORT_LIMIT = 500
VERIFY_LIMIT = 100_000
#: How often rows older than `[prices]` keeps are deleted, and how many per write.
PRUNE_EVERY_S = 3600
PRUNE_ROWS = 5_000
#: A CSV cell starting with one of these is a formula to a spreadsheet: it is exported with a leading `'` (OWASP).
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def v5(db: sqlite_utils.Database) -> None:
    """The audit trail, its prune anchors, and the triggers that keep both append-only (esl schema step 5)."""
    db.execute(
        f"""CREATE TABLE {TABLE} (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            acknowledged_at TEXT NOT NULL, label TEXT NOT NULL, sku TEXT NOT NULL, name TEXT, unit TEXT,
            price TEXT, promo_price TEXT, promo_base TEXT, promo_end TEXT, digest TEXT NOT NULL,
            history_id INTEGER, request_id TEXT, sender TEXT, checks TEXT, position TEXT, planogram TEXT,
            prev_hash TEXT NOT NULL, hash TEXT NOT NULL
        )"""
    )
    db.execute(f"CREATE INDEX {TABLE}_acknowledged ON {TABLE} (acknowledged_at, id)")
    db.execute(f"CREATE INDEX {TABLE}_label ON {TABLE} (label, id)")
    db.execute(f"CREATE INDEX {TABLE}_sku ON {TABLE} (sku, id)")
    db.execute(
        f"CREATE TABLE {TABLE}_pruned (id INTEGER PRIMARY KEY AUTOINCREMENT, upto INTEGER NOT NULL, hash TEXT NOT NULL,"
        " rows INTEGER NOT NULL, pruned_at TEXT NOT NULL)"
    )
    db.execute(f"CREATE TRIGGER {TABLE}_no_update BEFORE UPDATE ON {TABLE} BEGIN SELECT RAISE(ABORT, '{TABLE} is append-only'); END")
    db.execute(
        f"CREATE TRIGGER {TABLE}_no_delete BEFORE DELETE ON {TABLE}"
        f" WHEN OLD.id > (SELECT coalesce(max(upto), 0) FROM {TABLE}_pruned)"
        f" BEGIN SELECT RAISE(ABORT, '{TABLE} is append-only: only rows up to a recorded anchor may be pruned'); END"
    )
    db.execute(
        f"CREATE TRIGGER {TABLE}_anchor_is_a_row BEFORE INSERT ON {TABLE}_pruned"
        f" WHEN NEW.hash IS NOT (SELECT hash FROM {TABLE} WHERE id = NEW.upto)"
        f" BEGIN SELECT RAISE(ABORT, 'a prune anchor must name a kept row and its hash'); END"
    )
    for action in ("UPDATE", "DELETE"):
        db.execute(
            f"CREATE TRIGGER {TABLE}_pruned_no_{action.lower()} BEFORE {action} ON {TABLE}_pruned"
            f" BEGIN SELECT RAISE(ABORT, '{TABLE}_pruned is append-only'); END"
        )


def stamp(when: datetime) -> str:
    """A time as stored and shown: RFC 3339 UTC with milliseconds (so text order is time order)."""
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def canonical(row: dict[str, Any]) -> bytes:
    """A row's content as its hash covers it: a JSON object of `COLUMNS` (stored values), keys sorted, no spaces, UTF-8."""
    return json.dumps({c: row[c] for c in COLUMNS}, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def chain_hash(prev_hash: str, row: dict[str, Any]) -> str:
    """SHA-256 (hex) of the previous row's hash (64 hex characters, ASCII) followed by the row's canonical content."""
    return hashlib.sha256(prev_hash.encode("ascii") + canonical(row)).hexdigest()


def _compact(value: dict[str, Any] | None) -> str | None:
    """A JSON column's text: keys sorted, no spaces, nulls left out (None: nothing known)."""
    if value is None:
        return None
    kept = {k: v for k, v in value.items() if v is not None}
    return json.dumps(kept, sort_keys=True, separators=(",", ":"), ensure_ascii=False) if kept else None


@dataclass(frozen=True)
class Shown:
    """What a label acknowledged: its product's content as rendered, the image digest and the history row it was priced from."""

    label: str
    sku: str
    digest: str
    name: str
    unit: str
    price: str
    promo_price: str | None = None
    promo_base: str | None = None
    promo_end: str | None = None
    history_id: int | None = None  # the newest price_history row of the product when the content was read


def _anchor(conn: sqlite3.Connection) -> tuple[int, str]:
    """The newest prune anchor (the last deleted row's id and hash), or (0, GENESIS) when nothing was pruned."""
    row = conn.execute(f"SELECT upto, hash FROM {TABLE}_pruned ORDER BY id DESC LIMIT 1").fetchone()
    return (0, GENESIS) if row is None else (int(row[0]), str(row[1]))


def _asked(conn: sqlite3.Connection, shown: Shown) -> tuple[int | None, str | None, str | None, str | None]:
    """The history row behind `shown` (id, request id, sender, checks) if it holds the prices shown; else all None."""
    if shown.history_id is None:
        return None, None, None, None
    row = conn.execute(
        "SELECT price, promo_price, request_id, sender, checks FROM price_history WHERE id = ?", (shown.history_id,)
    ).fetchone()
    if row is None or row[0] != shown.price or (shown.promo_price is not None and row[1] != shown.promo_price):
        return None, None, None, None  # pruned, or the product's prices were written by something other than the catalogue
    return shown.history_id, row[2], row[3], row[4]


def _places(conn: sqlite3.Connection, label: str, sku: str) -> tuple[str | None, str | None]:
    """Where the label was located (with how sure and when) and where its product belongs, as JSON text (None: not known)."""
    pos = conn.execute(
        "SELECT run, bay, level, endcap, confidence, located_at FROM esl_positions WHERE label = ?", (label,)
    ).fetchone()
    plan = conn.execute("SELECT run, bay, level, endcap FROM esl_planogram WHERE sku = ?", (sku,)).fetchone()
    located = None
    if pos is not None and (pos[0] is not None or pos[3] is not None):
        located = dict(zip(("run", "bay", "level", "endcap", "confidence", "located_at"), pos))
    return _compact(located), _compact(None if plan is None else dict(zip(("run", "bay", "level", "endcap"), plan)))


def record(tx: Tx, shown: Shown, acknowledged_at: datetime) -> int:
    """Append the row for an acknowledged image, chained to the newest row (in the acknowledgement's transaction); its id."""
    conn = tx.conn
    last = conn.execute(f"SELECT id, hash FROM {TABLE} ORDER BY id DESC LIMIT 1").fetchone()
    prev_hash = _anchor(conn)[1] if last is None else str(last[1])
    seq = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = ?", (TABLE,)).fetchone()
    history_id, request_id, sender, checks = _asked(conn, shown)
    position, planogram = _places(conn, shown.label, shown.sku)
    row: dict[str, Any] = {
        "id": (0 if seq is None else int(seq[0])) + 1, "acknowledged_at": stamp(acknowledged_at), "label": shown.label,
        "sku": shown.sku, "name": shown.name, "unit": shown.unit, "price": shown.price, "promo_price": shown.promo_price,
        "promo_base": shown.promo_base, "promo_end": shown.promo_end, "digest": shown.digest, "history_id": history_id,
        "request_id": request_id, "sender": sender, "checks": checks, "position": position, "planogram": planogram,
    }
    row.update(prev_hash=prev_hash, hash=chain_hash(prev_hash, row))
    conn.execute(f"INSERT INTO {TABLE} ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})", list(row.values()))
    return int(row["id"])


def _rows(conn: sqlite3.Connection, sql: str, params: Sequence[Any]) -> list[dict[str, Any]]:
    """Query rows of the table as dicts of `COLUMNS` plus `prev_hash` and `hash`."""
    cols = (*COLUMNS, "prev_hash", "hash")
    return [dict(zip(cols, r)) for r in conn.execute(sql.format(cols=", ".join(cols)), params)]


def verify(conn: sqlite3.Connection, after: int | None, limit: int) -> dict[str, Any]:
    """Check up to `limit` rows after row `after` (None: from the kept anchor): each links to the one before and matches
    its hash. Returns the rows checked, the first broken one (None: none) and the head reached, as `price.audit.verify` replies."""
    if after is None:
        prev_id, prev_hash = _anchor(conn)
        anchor: dict[str, Any] | None = {"id": prev_id, "hash": prev_hash}
    else:
        found = conn.execute(f"SELECT hash FROM {TABLE} WHERE id = ?", (after,)).fetchone()
        if found is None:
            raise CommandError("not_found", f"cursor: no audit row {after} (pruned, or never written)")
        prev_id, prev_hash, anchor = after, str(found[0]), None
    rows = _rows(conn, f"SELECT {{cols}} FROM {TABLE} WHERE id > ? ORDER BY id LIMIT ?", (prev_id, limit + 1))
    more = len(rows) > limit
    broken = None
    checked = 0
    for row in rows[:limit]:
        if row["id"] != prev_id + 1:
            broken = {"id": row["id"], "problem": f"rows {prev_id + 1}-{row['id'] - 1} are missing (deleted)"}
        elif row["prev_hash"] != prev_hash:
            broken = {"id": row["id"], "problem": f"prev_hash is not the hash of row {prev_id}: that row was edited"
                                                  " (its hash recomputed) or rows were removed or reordered"}
        elif chain_hash(prev_hash, row) != row["hash"]:
            broken = {"id": row["id"], "problem": "its content does not match its hash: the row was edited"}
        if broken is not None:
            break
        checked += 1
        prev_id, prev_hash = row["id"], row["hash"]
    return {
        "intact": broken is None, "checked": checked, "broken": broken, "anchor": anchor,
        "head": {"id": prev_id, "hash": prev_hash},
        "next_cursor": str(prev_id) if more and broken is None else None,
    }


def _cell(value: Any) -> str:
    """A CSV cell: empty for null, and text a spreadsheet would run as a formula made inert with a leading `'`."""
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(_FORMULA) else text


def export(conn: sqlite3.Connection, args: ExportArgs) -> dict[str, Any]:
    """A page of rows acknowledged in [from, to), optionally of one label or product, in chain order, as CSV (RFC 4180)."""
    where, params = ["id > ?"], [int(args.cursor or 0)]
    if args.from_ is not None:
        where.append(f"id >= coalesce((SELECT min(id) FROM {TABLE} WHERE acknowledged_at >= ?), 0)")
        where.append("acknowledged_at >= ?")
        params += [stamp(args.from_)] * 2
    if args.to is not None:
        where.append("acknowledged_at < ?")
        params.append(stamp(args.to))
    for column, value in (("label", args.label), ("sku", args.sku)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    rows = _rows(conn, f"SELECT {{cols}} FROM {TABLE} WHERE {' AND '.join(where)} ORDER BY id LIMIT ?", [*params, args.limit + 1])
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow((*COLUMNS, "prev_hash", "hash"))
    for row in rows[:args.limit]:
        writer.writerow([_cell(v) for v in row.values()])
    more = len(rows) > args.limit
    return {"csv": out.getvalue(), "rows": min(len(rows), args.limit),
            "next_cursor": str(rows[args.limit - 1]["id"]) if more else None}


def prune(conn: sqlite3.Connection, cutoff: datetime, limit: int, now: datetime) -> int:
    """Delete up to `limit` of the oldest rows acknowledged before `cutoff`, after recording the last one as the anchor
    the kept chain verifies from; returns the rows deleted. Only a run of the oldest rows goes, so the chain stays whole."""
    first_kept = conn.execute(f"SELECT min(id) FROM {TABLE} WHERE acknowledged_at >= ?", (stamp(cutoff),)).fetchone()[0]
    bound = conn.execute(f"SELECT max(id) FROM {TABLE}").fetchone()[0] if first_kept is None else int(first_kept) - 1
    if bound is None:
        return 0
    last = conn.execute(
        f"SELECT id, hash FROM (SELECT id, hash FROM {TABLE} WHERE id <= ? ORDER BY id LIMIT ?) ORDER BY id DESC LIMIT 1",
        (bound, limit),
    ).fetchone()
    if last is None:
        return 0
    upto = int(last[0])
    count = conn.execute(f"SELECT count(*) FROM {TABLE} WHERE id <= ?", (upto,)).fetchone()[0]
    conn.execute(f"INSERT INTO {TABLE}_pruned (upto, hash, rows, pruned_at) VALUES (?, ?, ?, ?)", (upto, last[1], count, stamp(now)))
    return conn.execute(f"DELETE FROM {TABLE} WHERE id <= ?", (upto,)).rowcount


def last_shown(conn: sqlite3.Connection, labels: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The newest row of each of `labels` that has one (kept): what it last acknowledged, for the daily proof."""
    found: dict[str, dict[str, Any]] = {}
    unique = sorted(set(labels))
    for start in range(0, len(unique), 500):
        chunk = unique[start:start + 500]
        marks = ",".join("?" * len(chunk))
        for row in _rows(conn, f"SELECT {{cols}} FROM {TABLE} WHERE id IN (SELECT max(id) FROM {TABLE}"
                               f" WHERE label IN ({marks}) GROUP BY label)", chunk):
            found[row["label"]] = row
    return found


class ExportArgs(Args):
    """`price.audit.export` arguments: rows acknowledged in [from, to), optionally of one label or product, a page at a time."""

    from_: Timestamp | None = Field(default=None, alias="from")
    to: Timestamp | None = None
    label: StrictId | None = None
    sku: Sku | None = None
    limit: Annotated[int, Field(ge=1, le=EXPORT_LIMIT)] = 100
    cursor: Annotated[str, Field(pattern=r"^[0-9]{1,18}$")] | None = None

    @model_validator(mode="after")
    def _ordered(self) -> ExportArgs:
        if self.from_ is not None and self.to is not None and self.to <= self.from_:
            raise ValueError("'to' must be later than 'from'")
        return self


class VerifyArgs(Args):
    """`price.audit.verify` arguments: how many rows to check, after which row (the previous reply's `next_cursor`)."""

    limit: Annotated[int, Field(ge=1, le=VERIFY_LIMIT)] = VERIFY_LIMIT
    cursor: Annotated[str, Field(pattern=r"^[0-9]{1,18}$")] | None = None


class PriceAudit:
    """The audit trail's commands (read on the store's reader thread in their prepare phase) and its retention."""

    def __init__(self, store: Store, kept_days: int, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        """`kept_days`: `[prices]`' retention (the audit trail is kept as long as the price history)."""
        self._store = store
        self._kept_days = kept_days
        self._clock = clock

    def register(self, registry: CommandRegistry) -> None:
        """Add `price.audit.export` and `price.audit.verify`."""
        registry.register("price.audit.export", ExportArgs, _answer, "The prices labels showed, as CSV for an inspector",
                          prepare=self._export)
        registry.register("price.audit.verify", VerifyArgs, _answer, "Check the audit trail's hash chain", prepare=self._verify)

    async def _export(self, args: ExportArgs) -> dict[str, Any]:
        """Read the page off the writer."""
        return await self._store.read(lambda db: export(db.conn, args))

    async def _verify(self, args: VerifyArgs) -> dict[str, Any]:
        """Check the chain on a worker thread with a read-only connection of its own (seconds for 100,000 rows: the
        store's reader thread, which the status page shares, is not held)."""
        after = None if args.cursor is None else int(args.cursor)

        def check() -> dict[str, Any]:
            """Runs on the worker thread."""
            with contextlib.closing(sqlite3.connect(f"file:{self._store.path}?mode=ro", uri=True)) as conn:
                return verify(conn, after, args.limit)

        return await asyncio.to_thread(check)

    async def prune(self) -> int:
        """Delete rows older than the retention, a bounded write at a time; returns the rows deleted."""
        now = self._clock()
        cutoff = now - timedelta(days=self._kept_days)
        total = 0
        while True:
            removed = await self._store.write(lambda tx: prune(tx.conn, cutoff, PRUNE_ROWS, now))
            total += removed
            if removed < PRUNE_ROWS:
                return total


def _answer(tx: Tx, args: Args, prepared: dict[str, Any]) -> dict[str, Any]:
    """The prepared read is the reply (nothing to write)."""
    return prepared
