"""Labels following the catalogue: queued after every catalogue commit, and redrawn when a promotion ends."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import structlog

from edge.esl.prices.queue import catalog_changed, requeue_sku
from edge.store import Store

if TYPE_CHECKING:
    from edge.scheduler import Scheduler

log = structlog.get_logger("esl")

PROMO_ENDED = "esl.promo_ended"


async def follow_catalog(store: Store) -> None:
    """Queue labels whose product changed, at start and after every catalogue commit."""
    changed = store.changed("catalog")
    while True:
        changed.clear()
        queued = await store.write(catalog_changed)
        if queued:
            log.info("esl.catalog.queued", labels=queued)
        await changed.wait()


class PromotionEnds:
    """Redraws a product's labels at the store's midnight after its promotion ends (scheduled persistently)."""

    def __init__(self, store: Store, scheduler: Scheduler, tz: ZoneInfo) -> None:
        """Nothing is scheduled until a promotion is shown."""
        self._store = store
        self._scheduler = scheduler
        self._tz = tz
        self._scheduled: dict[str, date] = {}

    def shown(self, sku: str, promo_end: date) -> None:
        """A label shows the product's promotion: schedule the redraw once per end date (survives restarts)."""
        if self._scheduled.get(sku) == promo_end:
            return
        self._scheduled[sku] = promo_end
        when = datetime.combine(promo_end + timedelta(days=1), time.min, self._tz)
        if when > datetime.now(self._tz):
            self._scheduler.at(f"esl-promo-end-{sku}", when.astimezone(UTC), PROMO_ENDED, sku=sku)

    async def ended(self, sku: str) -> None:
        """Persistent action `esl.promo_ended`: queue the SKU's labels; a repeat is harmless (unchanged images are skipped)."""
        queued = await self._store.write(lambda tx: requeue_sku(tx, sku))
        log.info("esl.promo.ended", sku=sku, labels=queued)
