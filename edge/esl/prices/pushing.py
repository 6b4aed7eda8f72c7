"""The price pusher: render queued labels off the loop, skip unchanged images, push with N connections, retry.

Work lives in `esl_work` (edge.esl.prices.queue); this module turns it into radio operations and
records each outcome in one transaction with its `label.updated` / `label.failed` event, so
a confirmed push is never repeated after a crash and an unconfirmed one is simply redone. An
acknowledged image is also a row of the price audit trail (edge.esl.prices.audit), in the same transaction.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from PIL import Image

from devices.backoff import Backoff
from devices.esl import framebuffer
from devices.esl.bumble.cancel import raise_if_cancelled
from devices.esl.codec import EslAddress
from devices.esl.errors import EslError, FramebufferError
from devices.esl.radio import EslRadio, Label
from edge.esl.prices import audit
from edge.esl.prices.config import Retry
from edge.esl.prices.queue import WORK_TOPIC
from edge.esl.prices.render.content import LabelContent, LabelSpec
from edge.esl.prices.render.errors import RenderError
from edge.esl.prices.render.render import render_label
from edge.store import Store, Tx
from edge.store.db import utc_now

log = structlog.get_logger("esl.pushing")

#: Due work in air order (ESL id, then group): over PAwR each connect waits for its group's subevent,
#: so consecutive groups cost one subevent interval each and the AP's pacer gets one push per group
#: (BENCHMARKS.md: 0.905 of the radio's limit, against 0.65 in the order work was queued).
_ITEM_SQL = (
    "SELECT w.label, w.sku, w.revision, w.attempts, l.esl_group, l.esl_id, l.width, l.height, l.display_type,"
    " l.shown_digest, p.name, p.name_en, p.price, p.unit, p.promo_price, p.promo_end, p.promo_base, p.qr_url, p.spec, p.origin,"
    " (SELECT max(h.id) FROM price_history h WHERE h.sku = w.sku) AS history_id"
    " FROM esl_work w JOIN esl_labels l ON l.id = w.label JOIN products p ON p.sku = w.sku"
    " WHERE w.status = 'queued' AND w.next_at <= ? {exclude} ORDER BY l.esl_id, l.esl_group, w.label LIMIT ?"
)


@dataclass(frozen=True)
class PushSettings:
    """What the pusher takes from `[esl]`: the radio's connections and operation timeout, the retry policy, QR base and font."""

    connections: int
    operation_timeout_s: float
    retry: Retry
    qr_base_url: str
    font: str | None


@dataclass(frozen=True)
class WorkItem:
    """One queued push: the label, the product row to show, and what the label shows now."""

    label: str
    sku: str
    revision: int | None
    attempts: int
    esl_group: int
    esl_id: int
    width: int | None
    height: int | None
    display_type: int | None
    shown_digest: str | None
    product: dict[str, Any]
    history_id: int | None = None  # the product's newest price history row, read with `product` (for the audit trail)

    @property
    def address(self) -> Label:
        """How the radio reaches the label."""
        return Label(self.label, EslAddress(self.esl_group, self.esl_id))


@dataclass
class Progress:
    """Refresh progress since the queue was last empty, plus what is queued and in flight now."""

    queued: int = 0
    in_flight: int = 0
    done: int = 0
    skipped: int = 0
    failed: int = 0
    retrying: int = 0
    batch_started: str | None = None
    last_error: str | None = field(default=None, repr=False)

    def snapshot(self) -> dict[str, Any]:
        """JSON-able figures for health() and the demo's progress bar."""
        return asdict(self)


def content_for(product: dict[str, Any], sku: str, qr_base_url: str, today: date) -> LabelContent:
    """The label content of a products row (prices as Decimal, never float); a promotion past its end is dropped.
    The struck-through original price is the row's `promo_base` (proven by the catalogue's price history), never `price`."""
    promo, base = product.get("promo_price"), product.get("promo_base")
    promo_end = date.fromisoformat(product["promo_end"]) if product.get("promo_end") else None
    if promo_end is not None and promo_end < today:
        promo, promo_end, base = None, None, None
    return LabelContent(
        sku=sku, name=product["name"], price=Decimal(product["price"]), unit=product["unit"],
        qr_url=product.get("qr_url") or f"{qr_base_url}{sku}", name_en=product.get("name_en") or None,
        spec=product.get("spec") or None, origin=product.get("origin") or None,
        promo_price=Decimal(promo) if promo else None, promo_end=promo_end, promo_base=Decimal(base) if promo and base else None,
    )


def render_packed(
    content: LabelContent, width: int, height: int, display_type: int, font: str | None = None,
) -> tuple[bytes, str]:
    """Render and pack one label image (blocking: run in an executor); returns the bytes and their content hash."""
    image = render_label(content, LabelSpec.from_esl_display(width, height, display_type), font)
    if image.width != width:  # the display is portrait: the renderer draws landscape
        image = image.transpose(Image.Transpose.ROTATE_90)
    packed = framebuffer.pack(image, display_type)
    return packed, framebuffer.content_hash(packed)


def _reason(err: BaseException) -> str:
    """A failure reason for events: the error type, and its message when it has one."""
    text = str(err)
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


class Pusher:
    """Bounded-concurrency pusher: `connections` workers fed by a dispatcher that prefetches due work."""

    def __init__(
        self, store: Store, radio: EslRadio, config: PushSettings, render_pool: Executor,
        tz: ZoneInfo = ZoneInfo("UTC"), on_promo: Callable[[str, date], None] | None = None,
        clock: Callable[[], float] = time.time, seed: int | None = None,
    ) -> None:
        """Wire the pusher; nothing runs until `run`."""
        self._store = store
        self._radio = radio
        self._config = config
        self._render_pool = render_pool
        self._tz = tz
        self._on_promo = on_promo  # told (sku, promo_end) of every promotion shown, to redraw when it ends
        self._clock = clock
        self._rng = random.Random(seed)
        self._backoff = Backoff(initial=config.retry.base_s, maximum=config.retry.max_s)
        self._queue: asyncio.Queue[WorkItem] = asyncio.Queue()
        self._inflight: set[str] = set()  # labels taken from the table: prefetched or being pushed
        self._pushing = 0
        self._freed = asyncio.Event()
        self.progress = Progress()

    async def run(self) -> None:
        """Dispatch and push until cancelled."""
        self._queue = asyncio.Queue()
        self._inflight.clear()
        self._pushing = 0
        async with asyncio.TaskGroup() as group:
            for n in range(self._config.connections):
                group.create_task(self._worker(), name=f"esl-push-{n}")
            group.create_task(self._dispatch(), name="esl-push-dispatch")

    # -- dispatching -----------------------------------------------------------------------

    async def _fetch(self, exclude: list[str], limit: int, now: float) -> tuple[list[WorkItem], int, float | None]:
        """Due work (not already taken), how much is queued in all, and when the next untaken item falls due."""

        def query(db: Any) -> tuple[list[WorkItem], int, float | None]:
            """Runs on the read connection."""
            marks = f"AND w.label NOT IN ({','.join('?' * len(exclude))})" if exclude else ""
            cur = db.execute(_ITEM_SQL.format(exclude=marks), [now, *exclude, limit])
            cols = [c[0] for c in cur.description]
            items = []
            for row in cur.fetchall():
                r = dict(zip(cols, row))
                product = {k: r[k] for k in ("name", "name_en", "price", "unit", "promo_price", "promo_end", "promo_base", "qr_url", "spec", "origin")}
                items.append(WorkItem(
                    r["label"], r["sku"], r["revision"], r["attempts"], r["esl_group"], r["esl_id"], r["width"],
                    r["height"], r["display_type"], r["shown_digest"], product, r["history_id"],
                ))
            queued = db.execute("SELECT count(*) FROM esl_work WHERE status = 'queued'").fetchone()[0]
            due = db.execute(
                f"SELECT min(next_at) FROM esl_work w WHERE status = 'queued' {marks}", exclude,
            ).fetchone()[0]
            return items, int(queued), due

        return await self._store.read(query)

    async def _dispatch(self) -> None:
        """Keep the workers' queue topped up; sleep until new work, a finished push, or the next due retry."""
        wake = self._store.changed(WORK_TOPIC)
        prefetch = 2 * self._config.connections
        while True:
            wake.clear()
            self._freed.clear()
            room = prefetch - self._queue.qsize()
            now = self._clock()
            items, queued, due = await self._fetch(sorted(self._inflight), max(room, 1), now)
            if room > 0:
                for item in items:
                    self._inflight.add(item.label)
                    self._queue.put_nowait(item)
            if queued and self.progress.batch_started is None:
                self.progress = Progress(batch_started=utc_now())
            self.progress.queued = max(0, queued - self._pushing)
            self.progress.in_flight = self._pushing
            if not queued and not self._inflight:
                self.progress.batch_started = None
            timeout = 5.0 if due is None else min(5.0, max(0.05, due - now))
            waits = [asyncio.ensure_future(wake.wait()), asyncio.ensure_future(self._freed.wait())]
            try:
                await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for w in waits:
                    w.cancel()

    # -- pushing ---------------------------------------------------------------------------

    async def _worker(self) -> None:
        """One radio connection: take the next item as soon as the last one is recorded."""
        while True:
            item = await self._queue.get()
            self._pushing += 1
            self.progress.in_flight = self._pushing
            try:
                await self.push(item)
            finally:
                self._pushing -= 1
                self._inflight.discard(item.label)
                self._freed.set()

    async def push(self, item: WorkItem) -> None:
        """Render, skip or push, and record the outcome of one work item."""
        started = time.monotonic()
        attempt = item.attempts + 1
        loop = asyncio.get_running_loop()
        try:
            if item.width is None or item.height is None or item.display_type is None:
                item = await self._learn_display(item)
            content = content_for(item.product, item.sku, self._config.qr_base_url, datetime.now(self._tz).date())
            packed, digest = await loop.run_in_executor(
                self._render_pool, render_packed, content, item.width, item.height, item.display_type, self._config.font,
            )
        except (RenderError, FramebufferError, ValueError) as err:
            await self._failed(item, attempt, f"render: {type(err).__name__}: {err}", retry=False)
            return
        except (EslError, TimeoutError) as err:
            await self._failed(item, attempt, _reason(err), retry=True)
            return
        if digest == item.shown_digest:
            await self._store.write(lambda tx: self._record_skip(tx, item))
            self.progress.skipped += 1
            return
        try:
            async with asyncio.timeout(self._config.operation_timeout_s * 8):
                await self._radio.push_image(item.address, 0, packed)
        except (EslError, TimeoutError) as err:
            raise_if_cancelled()  # stopped, and the radio closed under a push whose cancel a library dropped: no attempt
            await self._failed(item, attempt, _reason(err), retry=True, digest=digest)
            return
        duration_ms = round((time.monotonic() - started) * 1000)
        await self._store.write(lambda tx: self._record_ok(tx, item, digest, duration_ms, attempt, content))
        self.progress.done += 1
        if content.promo_end is not None and self._on_promo is not None:
            self._on_promo(item.sku, content.promo_end)

    async def _learn_display(self, item: WorkItem) -> WorkItem:
        """Read the display information of a label registered without it (a real radio) and remember it."""
        info = await self._radio.info(item.address)
        if not info.displays:
            raise FramebufferError("label reports no display")
        d = info.displays[0]

        def save(tx: Tx) -> None:
            """Remember the display and LED count."""
            tx.conn.execute(
                "UPDATE esl_labels SET width = ?, height = ?, display_type = ?, leds = ? WHERE id = ?",
                (d.width, d.height, d.display_type, len(info.leds), item.label),
            )

        await self._store.write(save)
        return WorkItem(**{**item.__dict__, "width": d.width, "height": d.height, "display_type": d.display_type})

    def _finish_work(self, tx: Tx, item: WorkItem) -> bool:
        """Drop the work row if it still describes this item; False when a newer change re-queued the label."""
        cur = tx.conn.execute(
            "DELETE FROM esl_work WHERE label = ? AND sku = ? AND revision IS ?", (item.label, item.sku, item.revision),
        )
        return cur.rowcount == 1

    def _record_skip(self, tx: Tx, item: WorkItem) -> None:
        """The label already shows exactly this image: nothing to send."""
        if self._finish_work(tx, item):
            tx.conn.execute("UPDATE esl_labels SET state = 'ok', last_error = NULL WHERE id = ?", (item.label,))

    def _record_ok(self, tx: Tx, item: WorkItem, digest: str, duration_ms: int, attempt: int, content: LabelContent) -> None:
        """Remember the image the label shows now, with its `label.updated` event and its row of the audit trail."""
        state = "ok" if self._finish_work(tx, item) else "pending"
        audit.record(tx, audit.Shown(
            item.label, item.sku, digest, content.name, content.unit, f"{content.price:.2f}",
            None if content.promo_price is None else f"{content.promo_price:.2f}",
            None if content.promo_base is None else f"{content.promo_base:.2f}",
            None if content.promo_end is None else content.promo_end.isoformat(), item.history_id,
        ), datetime.fromtimestamp(self._clock(), UTC))
        tx.conn.execute(
            "UPDATE esl_labels SET shown_digest = ?, state = ?, last_seen = ?, last_error = NULL WHERE id = ?",
            (digest, state, utc_now(), item.label),
        )
        tx.emit("label.updated", {
            "label": item.label, "sku": item.sku, "price": f"{content.price:.2f}",
            "promo_price": None if content.promo_price is None else f"{content.promo_price:.2f}",
            "digest": digest, "duration_ms": duration_ms, "attempts": attempt,
        })

    async def _failed(self, item: WorkItem, attempt: int, reason: str, *, retry: bool, digest: str | None = None) -> None:
        """Count the attempt; retry later with back-off or give up until the product changes again.

        The durable retry keeps its due time in `esl_work.next_at` (it survives restarts); the delay
        comes from the project's one retry policy, `attempt - 1` counting from 0 at the first failure.
        """
        retry = retry and attempt < self._config.retry.max_attempts
        delay = self._backoff.delay(attempt - 1, self._rng)
        log.info("esl.push.failed", label=item.label, sku=item.sku, attempt=attempt, reason=reason, will_retry=retry)

        def record(tx: Tx) -> None:
            """Attempt count, next try, label state and the event, together."""
            cur = tx.conn.execute(
                "UPDATE esl_work SET attempts = ?, next_at = ?, status = ?, last_error = ?, digest = coalesce(?, digest)"
                " WHERE label = ? AND sku = ? AND revision IS ?",
                (attempt, self._clock() + delay, "queued" if retry else "failed", reason, digest,
                 item.label, item.sku, item.revision),
            )
            if cur.rowcount != 1:
                return  # a newer change replaced this work: it will be tried afresh
            tx.conn.execute(
                "UPDATE esl_labels SET state = ?, last_error = ? WHERE id = ?",
                ("pending" if retry else "failed", reason, item.label),
            )
            tx.emit("label.failed", {
                "label": item.label, "sku": item.sku, "reason": reason, "attempts": attempt, "will_retry": retry,
            })

        await self._store.write(record)
        self.progress.last_error = reason
        if retry:
            self.progress.retrying += 1
        else:
            self.progress.failed += 1
