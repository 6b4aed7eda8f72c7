"""The esl job: builds the features from `[esl]` on one shared radio and runs their tasks (see edge.esl for the map)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from zoneinfo import ZoneInfo

import structlog

from edge.esl.config import EslSection
from edge.esl.health.battery import BatterySweep
from edge.esl.health.coldchain import ColdChainMonitor
from edge.esl.map import locating, storemap
from edge.esl.map.planogram import PlanogramCommands
from edge.esl.picking.lights import LedDriver
from edge.esl.picking.orders import PickCommands
from edge.esl.prices import bindings, demo_store
from edge.esl.prices.audit import PRUNE_EVERY_S, PriceAudit
from edge.esl.prices.following import PROMO_ENDED, PromotionEnds, follow_catalog
from edge.esl.prices.proof import DAILY_EVERY_S, PriceProof
from edge.esl.prices.pushing import Pusher, PushSettings
from edge.esl.radio import onboarding
from edge.esl.radio.backend import Backend, build_backend
from edge.esl.radio.inventory import register_labels
from edge.esl.radio.per_label import PerLabelRadio
from edge.jobs import JobContext

log = structlog.get_logger("esl")

#: How long `stop` waits for the job's tasks to end before it closes the radio anyway (which ends
#: what still waits on it): well inside the daemon's 5 s for a component's stop.
STOP_TASKS_S = 2.0


class EslJob:
    """The shelf-label component the daemon supervises."""

    name = "esl"

    def __init__(self, ctx: JobContext, backend: Backend) -> None:
        """Build the features and register their commands; the radio is used only once `run` starts."""
        self.ctx = ctx
        self.config: EslSection = ctx.section
        c = self.config
        self.backend = backend
        self.fleet = backend.fleet
        self.radio = PerLabelRadio(backend.radio)
        self._tz = ZoneInfo(ctx.config.store.timezone)
        self._running = False
        self._run_task: asyncio.Task[Any] | None = None  # the supervisor's task running `run`
        self._stopping = False
        self._tasks: set[asyncio.Task[Any]] = set()  # scheduled runs using the radio, ended by `stop` like `run`

        self._render_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="esl-render")
        self.promotions = PromotionEnds(ctx.store, ctx.scheduler, self._tz)
        push = PushSettings(backend.pushes_at_once or c.connections, c.operation_timeout_s, c.retry, c.qr_base_url, c.font)
        self.pusher = Pusher(ctx.store, self.radio, push, self._render_pool, tz=self._tz, on_promo=self.promotions.shown)
        ctx.scheduler.action(PROMO_ENDED, self._promo_ended)
        self.audit = PriceAudit(ctx.store, ctx.config.prices.kept_days)
        self.audit.register(ctx.registry)
        store_name = ctx.config.store.name or ctx.config.store.id
        self.proof = PriceProof(ctx.store, self._render_pool, c.qr_base_url, c.font, self._tz, ctx.data_dir / "reports",
                                store_name, c.price_proof.hour, ctx.config.prices.kept_days)
        self.proof.register(ctx.registry)
        bindings.register_commands(ctx.registry)
        onboarding.register_commands(ctx.registry, backend.onboarding)

        self.leds = LedDriver(ctx.store, self.radio, c.picking, slots=backend.led_commands_at_once)
        self.map = storemap.build(c.map) if c.map.layout or c.map.runs else None
        PickCommands(c.picking, ctx.store, self.map).register(ctx.registry)

        self.locating: locating.Locating | None = None
        if self.map is not None:
            PlanogramCommands(self.map).register(ctx.registry)
            locating.register_commands(ctx.registry)
            if c.positioning.enabled and (c.backend == "simulated" or (c.backend == "pawr" and c.pawr.virtual)):
                self.locating = locating.Locating(ctx.store, self.map, c.positioning)

        reads = {"reads_at_once": backend.sensor_reads_at_once} if backend.sensor_reads_at_once else {}
        self.coldchain = ColdChainMonitor(ctx.store, self.radio, c.coldchain, ctx.data_dir, store_name, self._tz, **reads)
        self.coldchain.register(ctx.registry)
        self.battery = BatterySweep(ctx.store, self.radio, c.battery_per_run)

    async def run(self) -> None:
        """Register the backend's labels, then follow the catalogue and push until cancelled."""
        store = self.ctx.store
        self._run_task = asyncio.current_task()
        if self.backend.start is not None:
            await self.backend.start()
        new = await store.write(lambda tx: register_labels(tx, self.backend.labels))
        log.info("esl.labels.registered", new=new, known=len(self.backend.labels))
        if self.config.demo_store.enabled:
            demo = self.config.demo_store
            loaded = await store.write(lambda tx: demo_store.load(tx, self.ctx.registry, demo.products, demo.seed))
            log.info("esl.demo_store.loaded", **loaded)
        await self.coldchain.resume()
        if self.config.coldchain.sections:
            self.ctx.scheduler.every("esl.coldchain.poll", self.config.coldchain.poll_interval_s, self._periodic(self.coldchain.poll))
            self.ctx.scheduler.every("esl.coldchain.daily", 600, self._periodic(self.coldchain.daily))
        self.ctx.scheduler.every("esl.price_audit.prune", PRUNE_EVERY_S, self._periodic(self._prune_audit))
        self.ctx.scheduler.every("esl.price_proof.daily", DAILY_EVERY_S, self._periodic(self.proof.daily))
        if self.config.battery_per_run:
            self.ctx.scheduler.every("esl.battery", self.config.battery_interval_s, self._periodic(self.battery.run_once))
        self._running = True
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(follow_catalog(store), name="esl-catalog")
                group.create_task(self.pusher.run(), name="esl-pusher")
                group.create_task(self.leds.run(), name="esl-leds")
                group.create_task(self.coldchain.run_reports(), name="esl-reports")
                group.create_task(self.proof.run_reports(), name="esl-proof-reports")
                if self.locating is not None:
                    group.create_task(self.locating.run(), name="esl-locating")
                if self.backend.onboarding is not None:
                    group.create_task(self.backend.onboarding.run(), name="esl-onboarding")
        except Exception as err:
            if not self._stopping:
                raise
            # A part that failed as the radio closed under it while stopping is no crash to restart for.
            log.debug("esl.stopped_with_errors", error=repr(err))
            raise asyncio.CancelledError from err
        finally:
            self._running = False

    async def _prune_audit(self) -> None:
        """The hourly retention of the price audit trail and the shelf proofs (kept as long as `[prices]` keeps the price history)."""
        removed = await self.audit.prune()
        proofs = await self.proof.prune()
        if removed or proofs:
            log.info("esl.price_audit.pruned", rows=removed, proofs=proofs)

    async def _promo_ended(self, sku: str) -> None:
        """The persistent action `esl.promo_ended` (see PromotionEnds.ended)."""
        await self.promotions.ended(sku)

    def _periodic(self, fn: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[None]]:
        """A scheduler job body that `stop` can end, and that ends quietly when it does.

        It is the outermost frame of its task (nothing awaits it but the scheduler), so ending on
        cancellation loses nothing; APScheduler would otherwise log it as a crash at every shutdown.
        """

        async def run() -> None:
            """Run `fn` as one of the job's tasks; a cancellation at shutdown is not an error."""
            task = asyncio.current_task()
            if task is not None:
                self._track(task)
            try:
                await fn()
            except asyncio.CancelledError:
                log.debug("esl.periodic.cancelled", job=getattr(fn, "__qualname__", repr(fn)))

        return run

    def _track(self, task: asyncio.Task[Any]) -> None:
        """Count a scheduled run among the tasks `stop` ends before it hands the radio back."""
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def stop(self) -> None:
        """End every task that uses the radio, then hand the radio back; unfinished pushes stay queued in SQLite.

        In that order: a push or a sensor poll still running when the radio closes (or the render
        pool shuts) would fail, and the job would crash while the daemon stops.
        """
        self._stopping = True
        for job_id in ("esl.coldchain.poll", "esl.coldchain.daily", "esl.battery", "esl.price_audit.prune",
                       "esl.price_proof.daily"):
            self.ctx.scheduler.cancel(job_id)
        tasks = [t for t in (self._run_task, *self._tasks) if t is not None and not t.done() and t is not asyncio.current_task()]
        for task in tasks:  # `run` ends cancelled, as the supervisor expects of a component asked to stop
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=STOP_TASKS_S)
        self._render_pool.shutdown(wait=False, cancel_futures=True)
        if self.backend.stop is not None:
            await self.backend.stop()

    @property
    def healthy(self) -> bool:
        """Running and following the catalogue."""
        return self._running

    def health(self) -> Any:
        """Push progress (queued / in flight / done / failed) for `status` and the demo."""
        return {"backend": self.config.backend, "push": self.pusher.progress.snapshot(), "pick": self.leds.health(),
                "coldchain": self.coldchain.health(),
                "positioning": self.locating.health() if self.locating is not None else None,
                "onboarding": self.backend.onboarding.snapshot.reply() if self.backend.onboarding is not None else None}


def build(ctx: JobContext) -> EslJob:
    """The job with the radio backend its section asks for (called through the JobSpec when `[esl]` is enabled)."""
    return EslJob(ctx, build_backend(ctx.section, ctx.store))
