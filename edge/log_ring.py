"""The recent log lines kept in memory, so headquarters can fetch them (`logs.fetch`) without SSH.

Why memory and not a file: journald (or the unit's stderr) already keeps the durable copy across
restarts; a second copy on disk would compete with the SQLite store for a store's small disk (and
stop when it is full), and the privacy rule wants nothing but the store file in the data dir. The
ring is bounded in bytes (oldest lines dropped first), appending is one lock and a deque append on
the logging thread, and every read, filter and compression happens off the event loop.
"""

from __future__ import annotations

import base64
import gzip
import json
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog

#: The ring holds at most this many bytes of JSON lines (about 20,000 typical lines).
RING_BYTES = 4 * 1024 * 1024
#: One line is at most this long in the ring (values are already clipped by edge.logs).
LINE_BYTES = 16 * 1024
#: A `logs.fetch` chunk's base64 text stays under this: well inside the 1 MiB reply limit (edge.sync.requests.Limits).
CHUNK_BYTES = 512 * 1024
#: At most this many lines in one chunk (the rest comes with `cursor`).
CHUNK_LINES = 10_000
#: Raw text tried for one chunk before compressing (log lines compress about 15x; fewer are kept when they do not).
CHUNK_RAW_BYTES = 8 * CHUNK_BYTES
LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40, "critical": 50}


@dataclass(frozen=True)
class Line:
    """One captured line: its number in this run, when, how severe, what it is about, and its JSON text."""

    seq: int
    ts: float
    level: int
    event: str
    job: str | None
    text: str


@dataclass(frozen=True)
class Chunk:
    """One `logs.fetch` reply's worth of lines: gzip + base64 text and where to go on."""

    data: str
    lines: int
    first_seq: int | None
    last_seq: int | None
    next_cursor: str | None
    oldest_seq: int | None


class LogRing:
    """A byte-bounded ring of structured lines, appended from any thread, read as filtered, compressed chunks."""

    def __init__(self, max_bytes: int = RING_BYTES) -> None:
        self.max_bytes = max_bytes
        self._lines: deque[Line] = deque()
        self._bytes = 0
        self._seq = 0
        self._lock = threading.Lock()

    def append(self, event: dict[str, object]) -> None:
        """Keep one event dict as a JSON line (never raises: a log line must not fail the caller)."""
        try:
            name = str(event.get("event", ""))
            text = json.dumps(event, ensure_ascii=False, default=str, separators=(",", ":"))
            if len(text) > LINE_BYTES:
                text = json.dumps({"timestamp": event.get("timestamp"), "level": event.get("level"), "event": name,
                                   "clipped": f"line of {len(text)} characters over {LINE_BYTES}"}, default=str)
            job = event.get("job")
            level = LEVELS.get(str(event.get("level", "info")), 20)
        except Exception:  # noqa: BLE001 - the logging boundary: an odd value is dropped, never raised into the caller
            return
        with self._lock:
            self._seq += 1
            self._lines.append(Line(self._seq, time.time(), level, name, job if isinstance(job, str) else None, text))
            self._bytes += len(text)
            while self._bytes > self.max_bytes and len(self._lines) > 1:
                self._bytes -= len(self._lines.popleft().text)

    def chunk(self, since: float, until: float, level: int, job: str | None, after: int = 0) -> Chunk:
        """The next chunk of matching lines numbered above `after` (blocking work: call it off the loop)."""
        with self._lock:
            lines = list(self._lines)
        oldest = lines[0].seq if lines else None
        picked: list[Line] = []
        raw = 0
        more = False
        for line in lines:
            if line.seq <= after or not since <= line.ts <= until or line.level < level or not _about(line, job):
                continue
            if len(picked) >= CHUNK_LINES or raw + len(line.text) > CHUNK_RAW_BYTES:
                more = True
                break
            picked.append(line)
            raw += len(line.text) + 1
        while True:
            data = base64.b64encode(gzip.compress("".join(f"{p.text}\n" for p in picked).encode(), 6)).decode()
            if len(data) <= CHUNK_BYTES or len(picked) <= 1:
                break
            picked, more = picked[: len(picked) // 2], True
        last = picked[-1].seq if picked else None
        return Chunk(data, len(picked), picked[0].seq if picked else None, last,
                     str(last) if more and last is not None else None, oldest)


def _about(line: Line, job: str | None) -> bool:
    """Whether a line belongs to `job` (its `job` field, or an event named `<job>.…`); None: every line."""
    return job is None or line.job == job or line.event == job or line.event.startswith(f"{job}.")


RING = LogRing()


def capture(_logger: object, _name: str, event: structlog.typing.EventDict) -> structlog.typing.EventDict:
    """A structlog processor: copy the (already clipped) event into the ring, stamped even under journald."""
    line = dict(event)
    line.setdefault("timestamp", datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"))
    RING.append(line)
    return event
