"""Price history: every price in force per product over time, append-only in SQLite.

A row is written in the transaction of each change of a product's prices (`product.upsert`, an immediate
or a scheduled `price.update`). A row is in force from its `valid_from` until the next row of the same
product, so no row is ever updated (a trigger refuses it): intervals are derived from successive rows. A
promotion's end (`promo_end`, its last day in the store's time zone) belongs to its row: the interval
after it, at the regular price, has kind `promo_end`. Rows older than the kept period are deleted, except
the one still in force at its start. Row ids never repeat (AUTOINCREMENT), so others may refer to them.
Each row also says who asked for it (the command's request id and sender; a scheduled change keeps those of the
`price.update` that scheduled it) and which of the catalogue's checks it passed (`checks`: the label content rules
and the promotion base rules), written at insert: `price.history` lists who asked, and the shelf labels' audit trail
(edge/esl/prices/audit.py) copies both for every price a label showed.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import sqlite_utils

from edge.store.db import utc_now
from edge.sync.commands import current_request

#: What made a row: a catalogue command or scheduled change, or `seeded`: the catalogue row itself, for a
#: product the history had not seen change (one older than the history, or inserted by another part of the store).
KINDS = ("seeded", "upsert", "immediate", "scheduled")
#: The kind of the interval after a promotion's end.
PROMO_END = "promo_end"
#: Kinds written by a command's handler, so `current_request()` is the request that asked for them.
_ASKED = ("upsert", "immediate")
#: A check's outcome in `checks`: the row passed it, or its promotion is shown without 原价 because of it.
PASSED, PLAIN = "passed", "plain"

_COLUMNS = "id, sku, valid_from, price, promo_price, promo_end, promo_base, base_limit, kind, change_id, request_id, sender"
_CHUNK = 500  # SKUs per IN (...) query


def create(db: sqlite_utils.Database) -> None:
    """The table, its indexes, the trigger that keeps it append-only, and a first row per product already known."""
    db.execute(
        """CREATE TABLE price_history (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            sku TEXT NOT NULL,
            valid_from TEXT NOT NULL,
            price TEXT NOT NULL,
            promo_price TEXT,
            promo_end TEXT,
            promo_base TEXT,
            base_limit TEXT,
            kind TEXT NOT NULL,
            change_id INTEGER,
            recorded_at TEXT NOT NULL
        )"""
    )
    db.execute("CREATE INDEX price_history_sku ON price_history (sku, id)")
    db.execute("CREATE INDEX price_history_valid_from ON price_history (valid_from)")
    db.execute(
        "CREATE TRIGGER price_history_append_only BEFORE UPDATE ON price_history"
        " BEGIN SELECT RAISE(ABORT, 'price_history is append-only'); END"
    )
    now = utc_now()
    db.execute(
        "INSERT INTO price_history (sku, valid_from, price, promo_price, promo_end, kind, recorded_at)"
        " SELECT sku, coalesce(updated_at, ?), price, promo_price, promo_end, 'seeded', ? FROM products ORDER BY sku",
        [now, now],
    )


def record_requests(db: sqlite_utils.Database) -> None:
    """Who asked for each price and the checks it passed (catalogue schema step 3), written at insert: the trigger
    refuses UPDATE, so rows from before this step keep NULL; a scheduled change keeps its request until it applies."""
    for column in ("request_id", "sender", "checks"):
        db.execute(f"ALTER TABLE price_history ADD COLUMN {column} TEXT")
    for column in ("request_id", "sender"):
        db.execute(f"ALTER TABLE price_changes ADD COLUMN {column} TEXT")


def requested() -> dict[str, str | None]:
    """The running command's request id and sender as `price_changes` columns (both None outside a command)."""
    request = current_request()
    return {"request_id": None if request is None else request.id, "sender": None if request is None else request.sender}


def stamp(when: datetime) -> str:
    """A time as stored and shown: RFC 3339 UTC with milliseconds (so text order is time order)."""
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_stamp(text: str) -> datetime:
    """A stored time back as an aware UTC datetime."""
    return datetime.fromisoformat(text).astimezone(UTC)


def money_text(value: Decimal | None) -> str | None:
    """Money as stored and shown (`"12.80"`)."""
    return None if value is None else f"{value:.2f}"


def promotion_end(last_day: date, tz: ZoneInfo) -> datetime | None:
    """When a promotion whose last day is `last_day` stops being in force: the store's next midnight (None: never)."""
    if last_day == date.max:
        return None
    return datetime.combine(last_day + timedelta(days=1), time.min, tz).astimezone(UTC)


@dataclass(frozen=True)
class Entry:
    """One row: a product's prices from `valid_from` until the next row of the same product."""

    sku: str
    valid_from: datetime
    price: Decimal
    promo_price: Decimal | None = None
    promo_end: date | None = None
    promo_base: Decimal | None = None  # the original price its labels strike through (None: none shown)
    base_limit: Decimal | None = None  # the lowest price in force before its promotion began: the highest lawful base
    kind: str = "upsert"
    change_id: int | None = None
    id: int | None = None
    checks: tuple[str, ...] = ()  # further rules the catalogue checked and the row passed (label content rules)
    request_id: str | None = None  # as read back: who asked for it (written by `append` from the running command)
    sender: str | None = None

    def promotion_ends(self, tz: ZoneInfo) -> datetime | None:
        """When its promotion stops being in force (None: no promotion, or one without an end)."""
        return None if self.promo_price is None or self.promo_end is None else promotion_end(self.promo_end, tz)

    def promotion_at(self, when: datetime, tz: ZoneInfo) -> bool:
        """Whether its promotion is in force at `when`."""
        ends = self.promotion_ends(tz)
        return self.promo_price is not None and (ends is None or when < ends)

    def repeats(self, earlier: Entry | None) -> bool:
        """Whether it changes nothing after `earlier` (HQ re-sending its catalogue): then it is not written."""
        return earlier is not None and (self.price, self.promo_price, self.promo_end, self.promo_base) == (
            earlier.price, earlier.promo_price, earlier.promo_end, earlier.promo_base)

    def decided(self) -> dict[str, str]:
        """The catalogue's checks on this row and their outcomes, as `checks` stores them: its promotion's base rules
        (edge/prices/promotions.py; a proven base is at most `base_limit` and above the promotion price) and `checks`."""
        found = dict.fromkeys(self.checks, PASSED)
        if self.promo_price is None or self.kind == "seeded":
            return found
        if self.base_limit is None:
            found["no_history"] = PLAIN
        else:
            found.update(base_above_history=PASSED, no_reduction=PASSED if self.promo_base is not None else PLAIN)
        return found

    def same_prices(self, row: dict[str, Any]) -> bool:
        """Whether a `products` row has this entry's prices (it does, unless something else wrote the row)."""
        end = None if self.promo_end is None else self.promo_end.isoformat()
        return (money_text(self.price), money_text(self.promo_price), end) == (row["price"], row["promo_price"], row["promo_end"])


@dataclass(frozen=True)
class Interval:
    """A stretch of time with one price charged: a row's own, or the regular price after its promotion ended."""

    entry: Entry
    start: datetime
    end: datetime | None  # None: still in force
    after_promotion: bool = False

    @property
    def charged(self) -> Decimal:
        """The price a customer paid in this interval."""
        promo = None if self.after_promotion else self.entry.promo_price
        return self.entry.price if promo is None else promo

    @property
    def position(self) -> tuple[int, int]:
        """(row id, 0 for the row's own interval or 1 for the one after its promotion): the paging order."""
        return (self.entry.id or 0, int(self.after_promotion))

    def overlaps(self, since: datetime | None, until: datetime | None) -> bool:
        """Whether it was in force at some time in [since, until) (an instant one counts where it lies)."""
        if until is not None and self.start >= until:
            return False
        return since is None or self.end is None or self.end > since or self.start >= since

    def as_json(self) -> dict[str, Any]:
        """The interval as `price.history` lists it."""
        entry, after = self.entry, self.after_promotion
        return {
            "id": entry.id, "kind": PROMO_END if after else entry.kind, "valid_from": stamp(self.start),
            "valid_to": None if self.end is None else stamp(self.end), "price": money_text(entry.price),
            "promo_price": None if after else money_text(entry.promo_price),
            "promo_end": None if entry.promo_end is None else entry.promo_end.isoformat(),
            "promo_base": None if after else money_text(entry.promo_base), "charged": money_text(self.charged),
            "change_id": entry.change_id, "request_id": entry.request_id, "sender": entry.sender,
        }


def intervals(entries: Sequence[Entry], tz: ZoneInfo, end: datetime | None = None, now: datetime | None = None) -> list[Interval]:
    """One product's rows (in id order) as intervals; the last one lasts until `end` (None: still in force, and then
    its promotion's end splits it only once passed by `now`)."""
    found = []
    for n, entry in enumerate(entries):
        stop = entries[n + 1].valid_from if n + 1 < len(entries) else end
        ends = entry.promotion_ends(tz)
        horizon = stop if stop is not None else now  # how far the row's time is known
        if ends is None or (horizon is not None and horizon <= ends):
            found.append(Interval(entry, entry.valid_from, stop))
            continue
        if entry.valid_from < ends:
            found.append(Interval(entry, entry.valid_from, ends))
        found.append(Interval(entry, max(ends, entry.valid_from), stop, after_promotion=True))
    return found


def lowest(found: Iterable[Interval], since: datetime, until: datetime) -> Decimal | None:
    """The lowest price charged at any time in [since, until) (None: nothing was in force then)."""
    charged = [i.charged for i in found if max(i.start, since) < (until if i.end is None else min(i.end, until))]
    return min(charged, default=None)


def _entry(row: Sequence[Any]) -> Entry:
    """A row of `_COLUMNS` as an Entry."""
    rid, sku, valid_from, price, promo_price, promo_end, promo_base, base_limit, kind, change_id, request_id, sender = row
    return Entry(
        sku=sku, valid_from=parse_stamp(valid_from), price=Decimal(price),
        promo_price=None if promo_price is None else Decimal(promo_price),
        promo_end=None if promo_end is None else date.fromisoformat(promo_end),
        promo_base=None if promo_base is None else Decimal(promo_base),
        base_limit=None if base_limit is None else Decimal(base_limit), kind=kind, change_id=change_id, id=rid,
        request_id=request_id, sender=sender,
    )


def latest(conn: sqlite3.Connection, skus: Sequence[str]) -> dict[str, Entry]:
    """The newest row of each of `skus` that has one."""
    found: dict[str, Entry] = {}
    unique = sorted(set(skus))
    for start in range(0, len(unique), _CHUNK):
        chunk = unique[start:start + _CHUNK]
        marks = ",".join("?" * len(chunk))
        rows = conn.execute(
            f"SELECT {_COLUMNS} FROM price_history WHERE id IN"
            f" (SELECT max(id) FROM price_history WHERE sku IN ({marks}) GROUP BY sku)",
            chunk,
        )
        found.update((entry.sku, entry) for entry in map(_entry, rows))
    return found


def _in_force_id(conn: sqlite3.Connection, sku: str, when: datetime) -> int:
    """The id of the row of `sku` in force at `when` (0: none had taken effect)."""
    return int(conn.execute(
        "SELECT coalesce(max(id), 0) FROM price_history WHERE sku = ? AND valid_from <= ?", (sku, stamp(when))
    ).fetchone()[0])


def _rows(conn: sqlite3.Connection, sku: str, first_id: int, limit: int = -1) -> list[Entry]:
    """Rows of `sku` from id `first_id` on, in order (at most `limit`; -1: all)."""
    return [_entry(r) for r in conn.execute(
        f"SELECT {_COLUMNS} FROM price_history WHERE sku = ? AND id >= ? ORDER BY id LIMIT ?", (sku, first_id, limit)
    )]


def rows_since(conn: sqlite3.Connection, sku: str, when: datetime) -> list[Entry]:
    """The row of `sku` in force at `when` (if any) and every later one, in order."""
    return _rows(conn, sku, _in_force_id(conn, sku, when))


def first_seen(conn: sqlite3.Connection, sku: str) -> datetime | None:
    """When the oldest kept row of `sku` took effect."""
    row = conn.execute("SELECT valid_from FROM price_history WHERE sku = ? ORDER BY id LIMIT 1", (sku,)).fetchone()
    return None if row is None else parse_stamp(row[0])


def _asked_by(conn: sqlite3.Connection, entry: Entry) -> tuple[str | None, str | None]:
    """The request id and sender behind `entry`: the running command's, or those of the `price.update` that scheduled it."""
    if entry.kind == "scheduled" and entry.change_id is not None:
        row = conn.execute("SELECT request_id, sender FROM price_changes WHERE id = ?", (entry.change_id,)).fetchone()
        return (None, None) if row is None else (row[0], row[1])
    request = current_request() if entry.kind in _ASKED else None
    return (None, None) if request is None else (request.id, request.sender)


def append(conn: sqlite3.Connection, entry: Entry, recorded_at: str) -> int:
    """Write `entry` (in the caller's transaction), recorded at `recorded_at`, with who asked and the checks passed; returns its row id."""
    request_id, sender = _asked_by(conn, entry)
    cur = conn.execute(
        "INSERT INTO price_history (sku, valid_from, price, promo_price, promo_end, promo_base, base_limit, kind, change_id,"
        " recorded_at, request_id, sender, checks) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            entry.sku, stamp(entry.valid_from), money_text(entry.price), money_text(entry.promo_price),
            None if entry.promo_end is None else entry.promo_end.isoformat(), money_text(entry.promo_base),
            money_text(entry.base_limit), entry.kind, entry.change_id, recorded_at, request_id, sender,
            json.dumps(entry.decided(), sort_keys=True, separators=(",", ":")),
        ),
    )
    return int(cur.lastrowid or 0)


def page(
    conn: sqlite3.Connection, sku: str, tz: ZoneInfo, window: tuple[datetime | None, datetime | None],
    after: tuple[int, int] | None, limit: int, now: datetime,
) -> tuple[list[Interval], tuple[int, int] | None]:
    """Up to `limit` intervals of `sku` in force during `window` (from, to), oldest first, after the position `after`,
    as of `now`; and the position to continue from (None: that was all)."""
    start, until = window
    first = _in_force_id(conn, sku, start) if start is not None else 0
    rows = _rows(conn, sku, max(first, after[0] if after else 0), limit + 2)  # the cursor's row, `limit` more, one to end them
    complete = len(rows) < limit + 2
    derived = intervals(rows, tz, now=now) if complete else intervals(rows[:-1], tz, rows[-1].valid_from)
    chosen = [i for i in derived if i.overlaps(start, until) and (after is None or i.position > after)]
    more = len(chosen) > limit or (not complete and (until is None or rows[-1].valid_from < until))
    taken = chosen[:limit]
    return taken, (taken[-1].position if more and taken else None)


def prune(conn: sqlite3.Connection, cutoff: datetime, limit: int) -> int:
    """Delete up to `limit` rows no longer needed: in force only before `cutoff` (a later row of the product took
    effect by then). The row in force at `cutoff` stays, so a look-back that starts there sees its price."""
    return conn.execute(
        "DELETE FROM price_history WHERE id IN (SELECT h.id FROM price_history h WHERE h.valid_from < ?1 AND EXISTS"
        " (SELECT 1 FROM price_history n WHERE n.sku = h.sku AND n.id > h.id AND n.valid_from <= ?1) LIMIT ?2)",
        (stamp(cutoff), limit),
    ).rowcount
