"""The proof that shelf = catalogue: each bound label's acknowledged image against what its product renders to now, and
its place against the planogram (货签对位); failing labels are re-queued and listed, with a `price.audit` event and a report.

A label's content is proven by rendering its product's content as the pusher would push it now (`content_for`,
`render_packed`, on the job's render pool, so proof and pushes take turns) and comparing the packed image's content hash
with the digest the label acknowledged (`esl_labels.shown_digest`), which must also be the digest of its newest row of
the price audit trail. Its place is compared at bay (or endcap) level, as the planogram's deviations are. Labels are read
`BATCH` at a time on the store's reader thread and rendered `RENDER_CHUNK` at a time, so neither the loop nor a push waits
long; a proof keeps the counts and the failing labels only. It runs once a day after `[esl.price_proof] hour` (store
time; once per day across restarts) and on demand (`price.audit`, for a label, a product or a store of up to
`ON_DEMAND_MAX` labels); each is a row of `esl_price_proofs` with its failing labels, and a report written by
`run_reports` (edge.esl.prices.proof_report).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import sqlite_utils
import structlog

from devices.esl.errors import FramebufferError
from edge.esl.prices import audit
from edge.esl.prices.proof_report import Report, write_csv, write_html
from edge.esl.prices.proof_tables import LABELS as LABELS_TABLE
from edge.esl.prices.proof_tables import PROOFS as TABLE
from edge.esl.prices.pushing import content_for, render_packed
from edge.esl.prices.queue import queue_push
from edge.esl.prices.render.content import LabelContent
from edge.esl.prices.render.errors import RenderError
from edge.store import Store, Tx
from edge.sync.commands import Args, CommandError, CommandRegistry, current_request
from edge.sync.fields import Sku, StrictId

log = structlog.get_logger("esl.proof")

REPORT_TOPIC = "esl.price_proof"
#: Labels read per trip to the reader thread, and renders per call on the render pool.
BATCH = 500
RENDER_CHUNK = 32
#: Rendered digests remembered within one proof (labels of one product and display render once).
CACHE = 2_000
#: Failing labels listed in the `price.audit` event and the command's reply (all are in the report).
LISTED = 50
#: The most labels an on-demand proof checks (it must answer within the command's 30 s).
ON_DEMAND_MAX = 2_000
#: How often the daily proof looks whether today's is due.
DAILY_EVERY_S = 600
CONTENT = ("ok", "stale", "not_shown", "no_product", "unrenderable")
AUDIT = ("ok", "differs", "none")
PLACE = ("ok", "misplaced", "unknown")

_LABELS_SQL = (
    "SELECT l.id, l.sku, l.width, l.height, l.display_type, l.shown_digest, p.sku IS NOT NULL,"
    " p.name, p.name_en, p.price, p.unit, p.promo_price, p.promo_end, p.promo_base, p.qr_url, p.spec, p.origin,"
    " pos.run, pos.bay, pos.level, pos.endcap, pl.run, pl.bay, pl.level, pl.endcap"
    " FROM esl_labels l LEFT JOIN products p ON p.sku = l.sku LEFT JOIN esl_positions pos ON pos.label = l.id"
    " LEFT JOIN esl_planogram pl ON pl.sku = l.sku WHERE l.sku IS NOT NULL AND l.id > ? {where} ORDER BY l.id LIMIT ?"
)
_PRODUCT = ("name", "name_en", "price", "unit", "promo_price", "promo_end", "promo_base", "qr_url", "spec", "origin")
_FINDING = ("label", "sku", "content", "audit", "place", "shown_digest", "expected_digest", "audit_digest",
            "expected_place", "found_place", "reason", "requeued")


def _place(run: str | None, bay: int | None, level: int | None, endcap: str | None) -> dict[str, Any] | None:
    """A place as commands write it (`{"run", "bay", "level"}` or `{"endcap", "level"}`), None when not known."""
    if run is None and endcap is None:
        return None
    found = {"endcap": endcap} if endcap is not None else {"run": run, "bay": bay}
    return found if level is None else {**found, "level": level}


def _spot(place: dict[str, Any]) -> tuple[Any, ...]:
    """What the planogram compares: the run and bay, or the endcap (levels are not compared)."""
    return (place.get("run"), place.get("bay"), place.get("endcap"))


@dataclass(frozen=True)
class Filter:
    """Which bound labels a proof checks: all, one label, the labels of one product (or both at once)."""

    label: str | None = None
    sku: str | None = None

    def sql(self) -> tuple[str, list[str]]:
        """The extra WHERE terms on `esl_labels l` and their parameters."""
        terms, params = [], []
        for column, value in (("l.id", self.label), ("l.sku", self.sku)):
            if value is not None:
                terms.append(f"AND {column} = ?")
                params.append(value)
        return " ".join(terms), params

    def as_dict(self) -> dict[str, str] | None:
        """The filter for events and replies (None: the whole store)."""
        given = {k: v for k, v in (("label", self.label), ("sku", self.sku)) if v is not None}
        return given or None


@dataclass
class Finding:
    """One failing label: what it shows against what it should, and where it is against where it belongs."""

    label: str
    sku: str
    content: str
    audit: str
    place: str
    shown_digest: str | None
    expected_digest: str | None
    audit_digest: str | None
    expected_place: dict[str, Any] | None
    found_place: dict[str, Any] | None
    reason: str | None = None
    requeued: bool = False

    @property
    def pushable(self) -> bool:
        """Its image is wrong or unrecorded, so pushing it again can fix it (a misplaced label needs a person)."""
        return self.content in ("stale", "not_shown", "unrenderable") or self.audit == "differs"

    def as_dict(self) -> dict[str, Any]:
        """The finding as events, replies and reports list it."""
        return {k: getattr(self, k) for k in _FINDING}


@dataclass
class Outcome:
    """What a proof found: counts of every check's outcome and the failing labels."""

    filter: Filter
    started_at: datetime
    labels: int = 0
    counts: dict[str, dict[str, int]] = field(default_factory=lambda: {
        "content": dict.fromkeys(CONTENT, 0), "audit": dict.fromkeys(AUDIT, 0), "place": dict.fromkeys(PLACE, 0)})
    failing: list[Finding] = field(default_factory=list)


@dataclass(frozen=True)
class _Item:
    """A bound label as read: its acknowledged digests, the content its product renders to now (or why none), its places."""

    label: str
    sku: str
    shown_digest: str | None
    audit_digest: str | None
    audited: bool
    render: tuple[LabelContent, int, int, int] | None
    problem: str | None  # the content outcome when nothing is to be rendered ("not_shown", "no_product", "unrenderable")
    reason: str | None
    found_place: dict[str, Any] | None
    expected_place: dict[str, Any] | None


def _read_batch(db: sqlite_utils.Database, after: str, where: str, params: list[str], qr_base_url: str,
                today: Any) -> list[_Item]:
    """Up to `BATCH` bound labels after `after`, with their audit trail's newest digest and their content now (reader thread)."""
    rows = db.execute(_LABELS_SQL.format(where=where), [after, *params, BATCH]).fetchall()
    last = audit.last_shown(db.conn, [r[0] for r in rows])
    items = []
    for r in rows:
        label, sku, width, height, display_type, shown, has_product = r[:7]
        product = dict(zip(_PRODUCT, r[7:17]))
        render, problem, reason = None, None, None
        if shown is None:
            problem = "not_shown"
        elif not has_product:
            problem, reason = "no_product", f"sku: the catalogue has no product {sku!r}"
        elif width is None or height is None or display_type is None:
            problem, reason = "unrenderable", "the label's display is not known"
        else:
            try:
                render = (content_for(product, sku, qr_base_url, today), width, height, display_type)
            except (RenderError, ValueError) as err:
                problem, reason = "unrenderable", f"render: {type(err).__name__}: {err}"
        row = last.get(label)
        items.append(_Item(label, sku, shown, None if row is None else row["digest"], row is not None, render, problem,
                           reason, _place(*r[17:21]), _place(*r[21:25])))
    return items


def _render_chunk(keys: list[tuple[LabelContent, int, int, int]], font: str | None) -> list[tuple[str | None, str | None]]:
    """The content hash of each (content, width, height, display type) as the pusher would push it, or why it cannot render."""
    out: list[tuple[str | None, str | None]] = []
    for content, width, height, display_type in keys:
        try:
            out.append((render_packed(content, width, height, display_type, font)[1], None))
        except (RenderError, FramebufferError, ValueError) as err:
            out.append((None, f"render: {type(err).__name__}: {err}"))
    return out


def judge(item: _Item, rendered: tuple[str | None, str | None] | None) -> Finding:
    """The outcome of each check for one label (`rendered`: its expected digest or render failure, None if not rendered)."""
    content, expected, reason = item.problem, None, item.reason
    if content is None and rendered is not None:
        expected, failure = rendered
        content = "unrenderable" if expected is None else ("ok" if expected == item.shown_digest else "stale")
        reason = failure
    if content == "not_shown":
        reason = "the label never acknowledged an image"
    elif content == "stale":
        reason = "the label shows another image than its product renders to now"
    audited = "none" if not item.audited else ("ok" if item.audit_digest == item.shown_digest else "differs")
    place = "unknown"
    if item.found_place is not None and item.expected_place is not None:
        place = "ok" if _spot(item.found_place) == _spot(item.expected_place) else "misplaced"
    return Finding(item.label, item.sku, content or "unrenderable", audited, place, item.shown_digest, expected,
                   item.audit_digest, item.expected_place, item.found_place, reason)


def failed(finding: Finding) -> bool:
    """A label fails the proof when its image is not its product's now, its audit trail disagrees, or it is misplaced."""
    return finding.content != "ok" or finding.audit == "differs" or finding.place == "misplaced"


def chain_head(conn: sqlite3.Connection) -> tuple[int, str]:
    """The audit trail's newest row (id, hash), or its prune anchor (or id 0 and the genesis hash) when it has none."""
    row = conn.execute(f"SELECT id, hash FROM {audit.TABLE} ORDER BY id DESC LIMIT 1").fetchone()
    if row is None:
        row = conn.execute(f"SELECT upto, hash FROM {audit.TABLE}_pruned ORDER BY id DESC LIMIT 1").fetchone()
    return (0, audit.GENESIS) if row is None else (int(row[0]), str(row[1]))


def _requeue(tx: Tx, findings: list[Finding]) -> int:
    """Queue the failing labels' images again through the push queue (not those already queued); returns how many.

    A label whose acknowledged digest differs from its audit trail's forgets it first, so its image is really sent
    (the pusher skips an image the label is recorded as showing) and both records agree again."""
    todo = {f.label: f for f in findings if f.pushable}
    names = sorted(todo)
    queued = 0
    for start in range(0, len(names), BATCH):
        chunk = names[start:start + BATCH]
        rows = tx.conn.execute(
            "SELECT l.id, l.sku, p.revision FROM esl_labels l JOIN products p ON p.sku = l.sku"
            f" LEFT JOIN esl_work w ON w.label = l.id WHERE l.id IN ({','.join('?' * len(chunk))})"
            " AND (w.status IS NULL OR w.status != 'queued')", chunk,
        ).fetchall()
        for label, sku, revision in rows:
            finding = todo[label]
            if finding.audit == "differs":
                tx.conn.execute("UPDATE esl_labels SET shown_digest = NULL WHERE id = ? AND shown_digest IS ?",
                                (label, finding.shown_digest))
            queue_push(tx, label, sku, revision)
            finding.requeued = True
            queued += 1
    return queued


def summary(row: dict[str, Any], failing: list[dict[str, Any]]) -> dict[str, Any]:
    """A proof as `price.audit` (event and reply) and the status page give it: figures, chain head, report names, first failures."""
    filter_ = {k: row[k] for k in ("label", "sku") if row[k] is not None}
    return {
        "proof": row["id"], "kind": row["kind"], "day": row["day"], "filter": filter_ or None,
        "started_at": row["started_at"], "finished_at": row["finished_at"], "labels": row["labels"], "ok": row["ok"],
        "failing": row["failing"], "requeued": row["requeued"], "counts": row["counts"],
        "chain": {"id": row["chain_id"], "hash": row["chain_hash"]}, "html": row["html"], "csv": row["csv"],
        "failures": failing, "more_failures": row["failing"] - len(failing),
    }


class ProofArgs(Args):
    """`price.audit` arguments: optionally one label, or the labels of one product (both: that label if bound to it)."""

    label: StrictId | None = None
    sku: Sku | None = None


class PriceProof:
    """Runs proofs (daily and on demand), records them with their events and writes their reports."""

    def __init__(
        self, store: Store, render_pool: Executor, qr_base_url: str, font: str | None, tz: ZoneInfo, report_dir: Path,
        store_name: str, hour: int, kept_days: int, clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """Nothing runs until the scheduler calls `daily`, `price.audit` arrives or `run_reports` starts."""
        self._store = store
        self._pool = render_pool
        self._qr_base_url = qr_base_url
        self._font = font
        self._tz = tz
        self.report_dir = report_dir
        self._store_name = store_name
        self._hour = hour
        self._kept_days = kept_days
        self._clock = clock
        self._daily = asyncio.Lock()

    # -- proving ---------------------------------------------------------------------------

    async def prove(self, which: Filter) -> Outcome:
        """Check every bound label `which` selects, a batch at a time; nothing is written."""
        now = self._clock()
        outcome = Outcome(which, now)
        today = now.astimezone(self._tz).date()
        where, params = which.sql()
        loop = asyncio.get_running_loop()
        cache: dict[tuple[LabelContent, int, int, int], tuple[str | None, str | None]] = {}
        after = ""
        while True:
            items = await self._store.read(lambda db, after=after: _read_batch(db, after, where, params, self._qr_base_url, today))
            if not items:
                return outcome
            todo = list(dict.fromkeys(i.render for i in items if i.render is not None and i.render not in cache))
            if len(cache) + len(todo) > CACHE:
                cache.clear()
            for start in range(0, len(todo), RENDER_CHUNK):
                chunk = todo[start:start + RENDER_CHUNK]
                cache.update(zip(chunk, await loop.run_in_executor(self._pool, _render_chunk, chunk, self._font)))
            for item in items:
                finding = judge(item, None if item.render is None else cache[item.render])
                outcome.labels += 1
                for check in ("content", "audit", "place"):
                    outcome.counts[check][getattr(finding, check)] += 1
                if failed(finding):
                    outcome.failing.append(finding)
            after = items[-1].label

    def record(self, tx: Tx, outcome: Outcome, kind: str) -> dict[str, Any] | None:
        """Re-queue the failing labels and store the proof with its `price.audit` event, in one transaction; its summary.
        A second daily proof of the same day records nothing (None)."""
        day = outcome.started_at.astimezone(self._tz).date().isoformat()
        if kind == "daily" and tx.conn.execute(f"SELECT 1 FROM {TABLE} WHERE kind = 'daily' AND day = ?", (day,)).fetchone():
            return None
        requeued = _requeue(tx, outcome.failing)
        chain_id, chain_hash = chain_head(tx.conn)
        request = current_request() if kind == "on_demand" else None
        row: dict[str, Any] = {
            "kind": kind, "day": day, "label": outcome.filter.label, "sku": outcome.filter.sku,
            "started_at": audit.stamp(outcome.started_at), "finished_at": audit.stamp(self._clock()),
            "labels": outcome.labels, "ok": outcome.labels - len(outcome.failing), "failing": len(outcome.failing),
            "requeued": requeued, "counts": outcome.counts, "chain_id": chain_id, "chain_hash": chain_hash,
            "request_id": None if request is None else request.id, "sender": None if request is None else request.sender,
            "html": "", "csv": "", "report": "pending",
        }
        cur = tx.conn.execute(f"INSERT INTO {TABLE} ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                              [_json(v) for v in row.values()])
        row["id"] = int(cur.lastrowid or 0)
        stem = f"price-proof-{day}" if kind == "daily" else f"price-proof-{day}-{row['id']}"
        row["html"], row["csv"] = str(self.report_dir / f"{stem}.html"), str(self.report_dir / f"{stem}.csv")
        tx.conn.execute(f"UPDATE {TABLE} SET html = ?, csv = ? WHERE id = ?", (row["html"], row["csv"], row["id"]))
        tx.conn.executemany(
            f"INSERT INTO {LABELS_TABLE} (proof, {', '.join(_FINDING)}) VALUES (?, {', '.join('?' * len(_FINDING))})",
            [[row["id"], *(_json(v) for v in f.as_dict().values())] for f in outcome.failing],
        )
        data = summary(row, [f.as_dict() for f in outcome.failing[:LISTED]])
        tx.emit("price.audit", data)
        tx.notify(REPORT_TOPIC)
        log.info("esl.price_proof", proof=row["id"], kind=kind, labels=outcome.labels, failing=len(outcome.failing),
                 requeued=requeued)
        return data

    async def daily(self) -> None:
        """Once the configured local hour has passed, prove the whole store unless today's proof exists (also after a restart)."""
        local = self._clock().astimezone(self._tz)
        if local.hour < self._hour:
            return
        day = local.date().isoformat()
        async with self._daily:
            done = await self._store.read(lambda db: db.execute(
                f"SELECT 1 FROM {TABLE} WHERE kind = 'daily' AND day = ?", (day,)).fetchone())
            if done is not None:
                return
            outcome = await self.prove(Filter())
            await self._store.write(lambda tx: self.record(tx, outcome, "daily"))

    # -- on demand -------------------------------------------------------------------------

    def register(self, registry: CommandRegistry) -> None:
        """Add `price.audit`."""
        registry.register("price.audit", ProofArgs, self._answer, "Prove now that labels show the catalogue's prices "
                          "and sit where the planogram puts them", prepare=self._prepare)

    async def _prepare(self, args: ProofArgs) -> Outcome:
        """Check the labels asked for (the effect-free part; the handler records it): unknown ones are `not_found`."""
        which = Filter(args.label, args.sku)
        where, params = which.sql()

        def count(db: sqlite_utils.Database) -> tuple[int, bool, bool]:
            """Matching bound labels, and whether the label and the product named exist."""
            matching = db.execute(f"SELECT count(*) FROM esl_labels l WHERE l.sku IS NOT NULL {where}", params).fetchone()[0]
            label = args.label is None or db.execute("SELECT 1 FROM esl_labels WHERE id = ?", (args.label,)).fetchone()
            sku = args.sku is None or db.execute("SELECT 1 FROM products WHERE sku = ?", (args.sku,)).fetchone()
            return int(matching), bool(label), bool(sku)

        matching, label_known, sku_known = await self._store.read(count)
        if not label_known:
            raise CommandError("not_found", f"label: unknown label {args.label!r}")
        if not sku_known:
            raise CommandError("not_found", f"sku: unknown product {args.sku!r}")
        if matching > ON_DEMAND_MAX:
            raise CommandError("invalid_argument", f"label, sku: {matching} bound labels match, more than the {ON_DEMAND_MAX}"
                                                   " an on-demand proof checks; name a label or a sku (the daily proof checks every label)")
        return await self.prove(which)

    def _answer(self, tx: Tx, args: ProofArgs, outcome: Outcome) -> dict[str, Any]:
        """Record the prepared proof (re-queue, event, report to follow) in the command's transaction; its summary."""
        data = self.record(tx, outcome, "on_demand")
        assert data is not None  # only a daily proof can be a repeat
        return data

    # -- reports and retention -------------------------------------------------------------

    async def run_reports(self) -> None:
        """Write each recorded proof's report files (off the loop) and announce them with `report.ready`; pending ones
        left by a restart are written at start."""
        wake = self._store.changed(REPORT_TOPIC)
        while True:
            wake.clear()
            pending = await self._store.read(lambda db: [r[0] for r in db.execute(
                f"SELECT id FROM {TABLE} WHERE report = 'pending' ORDER BY id")])
            for proof in pending:
                await self.write_report(proof)
            await wake.wait()

    async def write_report(self, proof: int) -> dict[str, Any]:
        """Write one proof's HTML and CSV, streaming its failing labels from its own read-only connection; record and announce them."""

        def write() -> dict[str, Any]:
            """Runs on a worker thread."""
            with contextlib.closing(sqlite3.connect(f"file:{self._store.path}?mode=ro", uri=True)) as conn:
                report = Report.load(conn, proof, self._store_name, self._tz)
                self.report_dir.mkdir(parents=True, exist_ok=True)
                for path, writer in ((Path(report.row["html"]), write_html), (Path(report.row["csv"]), write_csv)):
                    part = path.with_name(path.name + ".part")
                    with part.open("w", encoding="utf-8", newline="") as out:
                        writer(report, conn, out)
                    os.replace(part, path)
                return report.row

        row = await asyncio.to_thread(write)
        data = {"kind": "price_proof", "day": row["day"], "proof": proof, "html": row["html"], "csv": row["csv"],
                "labels": row["labels"], "ok": row["ok"], "failing": row["failing"]}

        def done(tx: Tx) -> None:
            """Mark the report written, with its event."""
            tx.conn.execute(f"UPDATE {TABLE} SET report = 'written' WHERE id = ?", (proof,))
            tx.emit("report.ready", data)

        await self._store.write(done)
        return data

    async def prune(self) -> int:
        """Forget proofs older than the audit trail is kept (`[prices]`), one proof per write; returns how many."""
        cutoff = audit.stamp(self._clock() - timedelta(days=self._kept_days))

        def one(tx: Tx) -> bool:
            """The oldest proof past the cutoff, with its labels."""
            row = tx.conn.execute(f"SELECT min(id) FROM {TABLE} WHERE started_at < ?", (cutoff,)).fetchone()
            if row[0] is None:
                return False
            tx.conn.execute(f"DELETE FROM {LABELS_TABLE} WHERE proof = ?", (row[0],))
            tx.conn.execute(f"DELETE FROM {TABLE} WHERE id = ?", (row[0],))
            return True

        removed = 0
        while await self._store.write(one):
            removed += 1
        return removed


def _json(value: Any) -> Any:
    """A value as stored: dicts and lists as compact JSON text, booleans as 0/1, the rest as is."""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return int(value) if isinstance(value, bool) else value

