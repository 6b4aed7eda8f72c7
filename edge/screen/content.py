"""What each screen plays: the `screen.content` command, its table, and the in-memory schedule the meter reads.

A screen's schedule is a list of spans (content id, start, optional end). A span without an end
plays until the next span starts (that is how "now playing" is said). A command's spans replace
everything the screen had from the command's first start on (a span already playing then is cut
there), so a player that reports each change and a head office that sends a day's plan use the
same command. Time outside every span has no known content (`null` in the `audience` event).
"""

from __future__ import annotations

import bisect
import sqlite3
import threading
from collections.abc import Callable, Sequence
from typing import Annotated, Any

import sqlite_utils
from pydantic import Field, model_validator

from edge.store import Tx
from edge.sync.commands import Args, CommandError
from edge.sync.fields import StrictId, Timestamp

MAX_SPANS_PER_COMMAND = 500
MAX_SPANS_PER_SCREEN = 2000  # about a week of 5-minute spots; older spans are pruned first
MAX_SPAN_S = 7 * 86400.0
KEEP_PAST_S = 2 * 86400.0  # spans that ended longer ago than this are dropped (periods last at most a day)
TABLE = "screen_content"

Row = tuple[float, float | None, str]  # (start, end or None, content), Unix seconds


class Span(Args):
    """One piece of content on a screen: from `start` to `end` (or, without `end`, until the next span)."""

    content: StrictId
    start: Timestamp
    end: Timestamp | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Span:
        if self.end is not None:
            length = (self.end - self.start).total_seconds()
            if length <= 0:
                raise ValueError("'end' must be later than 'start'")
            if length > MAX_SPAN_S:
                raise ValueError("a span lasts at most 7 days")
        return self


class ContentArgs(Args):
    """`screen.content` arguments: which screen, and its spans in start order, not overlapping."""

    screen: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
    spans: Annotated[list[Span], Field(min_length=1, max_length=MAX_SPANS_PER_COMMAND)]

    @model_validator(mode="after")
    def _no_overlap(self) -> ContentArgs:
        for n in range(1, len(self.spans)):
            before, span = self.spans[n - 1], self.spans[n]
            if span.start <= before.start:
                raise ValueError(f"spans[{n}].start: spans must be in start order, each later than the one before")
            if before.end is not None and span.start < before.end:
                raise ValueError(f"spans[{n}].start: overlaps spans[{n - 1}] (ends {before.end.isoformat()})")
        return self


class ContentSchedule:
    """One screen's spans in memory, replaced after each committed command; read by the meter's worker thread."""

    def __init__(self, rows: Sequence[Row] = ()) -> None:
        self._lock = threading.Lock()
        self._starts: list[float] = []
        self._rows: list[Row] = []
        self.replace(rows)

    def replace(self, rows: Sequence[Row]) -> None:
        """Take a new list of spans (any order); an open span is closed by the next one's start."""
        ordered = sorted(rows)
        closed: list[Row] = []
        for n, (start, end, content) in enumerate(ordered):
            following = ordered[n + 1][0] if n + 1 < len(ordered) else None
            if following is not None and (end is None or end > following):
                end = following
            closed.append((start, end, content))
        with self._lock:
            self._rows, self._starts = closed, [r[0] for r in closed]

    def at(self, ts: float) -> str | None:
        """The content playing at `ts`, None if none is known."""
        with self._lock:
            i = bisect.bisect_right(self._starts, ts) - 1
            if i < 0:
                return None
            _, end, content = self._rows[i]
            return content if end is None or ts < end else None

    def split(self, a: float, b: float) -> list[tuple[str | None, float]]:
        """The interval [a, b) cut at content changes: (content, seconds) in time order, seconds > 0."""
        pieces: list[tuple[str | None, float]] = []
        t = a
        with self._lock:
            for start, end, content in self._rows[max(0, bisect.bisect_right(self._starts, a) - 1):]:
                if start >= b:
                    break
                stop = b if end is None else min(end, b)
                if stop <= t:
                    continue
                if start > t:
                    pieces.append((None, start - t))
                    t = start
                pieces.append((content, stop - t))
                t = stop
        if t < b:
            pieces.append((None, b - t))
        return pieces


def rows(conn: sqlite3.Connection, screen: str) -> list[Row]:
    """The stored spans of one screen, in start order."""
    return [(r[0], r[1], r[2]) for r in conn.execute(
        f"SELECT start, end, content FROM {TABLE} WHERE screen = ? ORDER BY start", (screen,)
    )]


def apply(tx: Tx, args: ContentArgs, now: float, schedules: dict[str, ContentSchedule]) -> dict[str, Any]:
    """Replace the screen's spans from the first new start on; the in-memory schedule follows after commit."""
    schedule = schedules.get(args.screen)
    if schedule is None:
        raise CommandError("not_found", f"screen: no screen {args.screen!r} is configured")
    first = args.spans[0].start.timestamp()
    conn = tx.conn
    conn.execute(f"DELETE FROM {TABLE} WHERE screen = ? AND start >= ?", (args.screen, first))
    conn.execute(
        f"UPDATE {TABLE} SET end = ? WHERE screen = ? AND start < ? AND (end IS NULL OR end > ?)",
        (first, args.screen, first, first),
    )
    conn.execute(f"DELETE FROM {TABLE} WHERE screen = ? AND end < ?", (args.screen, now - KEEP_PAST_S))
    conn.executemany(
        f"INSERT INTO {TABLE} (screen, start, end, content) VALUES (?, ?, ?, ?)",
        [(args.screen, s.start.timestamp(), s.end.timestamp() if s.end else None, s.content) for s in args.spans],
    )
    stored = rows(conn, args.screen)
    if len(stored) > MAX_SPANS_PER_SCREEN:
        raise CommandError(
            "invalid_argument", f"spans: the screen would hold {len(stored)} spans, at most {MAX_SPANS_PER_SCREEN}"
        )
    tx.after_commit(lambda: schedule.replace(stored))
    return {"screen": args.screen, "spans": len(stored), "playing": ContentSchedule(stored).at(now)}


def handler(schedules: dict[str, ContentSchedule], clock: Callable[[], float]) -> Callable[[Tx, ContentArgs], dict[str, Any]]:
    """The `screen.content` handler bound to the job's schedules."""
    return lambda tx, args: apply(tx, args, clock(), schedules)


def table_v1(db: sqlite_utils.Database) -> None:
    """Spans of content played on each screen (start/end in Unix seconds; end NULL: until the next span)."""
    db[TABLE].create({"screen": str, "start": float, "end": float, "content": str}, pk=("screen", "start"),
                     not_null={"content"})
