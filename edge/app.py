"""The daemon's lifecycle: open the store, start the link, the scheduler, the jobs and the web API; stop cleanly.

One process, one event loop. READY=1 goes to systemd once local start-up is done
(configuration valid, store open and migrated), not when the broker answers: a store
with its WAN down must still run its shelves and scales.
"""

from __future__ import annotations

import asyncio
import functools
import json
import signal
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import structlog

from edge import __version__, catalog
from edge.component import Component, Supervised, supervise
from edge.config import Config
from edge.core_commands import register_core_commands
from edge.jobs import JobContext, build_jobs, schemas
from edge.scheduler import Scheduler
from edge.store import Store
from edge.store.db import utc_now
from edge.sync.commands import CommandRegistry, Dispatcher, purge_inbox
from edge.sync.link import SyncLink
from edge.systemd import Notifier
from edge.web import Sources, WebServer, build_app
from edge.web.pictures import iconic_index

log = structlog.get_logger("app")

STOP_TIMEOUT_S = 5.0


class App:
    """Everything one daemon runs, wired together; `run()` returns after a clean stop."""

    def __init__(self, config: Config, notifier: Notifier | None = None) -> None:
        self.config = config
        self.started = time.monotonic()
        self.notifier = notifier or Notifier()
        self.store = Store(
            config.database_path, max_outbox=config.outbox.max_events, schemas={"catalog": catalog.STEPS, **schemas()}
        )
        self.registry = CommandRegistry()
        register_core_commands(self.registry, config, self.started)
        self.scheduler = Scheduler(config.database_path)
        catalog.Catalog(self.store, self.scheduler).register(self.registry)
        self.link = SyncLink(config, self.store, Dispatcher(self.registry, self.store), __version__)
        self.jobs: list[Component] = build_jobs(
            JobContext(config, self.store, self.scheduler, self.registry, self.link.set_telemetry)
        )
        self._supervised: list[Supervised] = []
        self.web: WebServer | None = None
        self._stopping = asyncio.Event()

    def request_stop(self) -> None:
        """Begin a clean stop (SIGTERM, SIGINT, or the demo ending)."""
        self._stopping.set()

    async def run(self) -> None:
        """Start everything, serve until asked to stop, then drain and stop within a few seconds."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.add_signal_handler(sig, self.request_stop)
            except (NotImplementedError, RuntimeError):
                pass  # not the main thread (tests run the app in-process)
        self.scheduler.every("inbox.purge", 3600, self._purge_inbox)
        self.scheduler.start()
        await self.link.refresh_depth()
        for component in [self.link, *self.jobs]:
            entry = Supervised(component)
            entry.task = asyncio.create_task(supervise(entry), name=f"component-{component.name}")
            self._supervised.append(entry)
        if self.config.http.enabled:
            token = self.config.http.token_file.read_text().strip() if self.config.http.token_file else None
            self.web = WebServer(build_app(self._web_sources(), token), self.config.http.host, self.config.http.port)
            await self.web.start()
        self.notifier.send(READY=1, STATUS="running")
        log.info("daemon.ready", store_id=self.config.store.id, version=__version__, jobs=[j.name for j in self.jobs])
        watchdog = asyncio.create_task(self._watchdog(), name="watchdog")
        try:
            await self._stopping.wait()
        finally:
            watchdog.cancel()
            await self._stop()

    async def _stop(self) -> None:
        self.notifier.send(STOPPING=1, STATUS="stopping")
        log.info("daemon.stopping")
        # Jobs first (they may still emit), the link last; whatever has not drained in time is cancelled.
        components = [e.component for e in reversed(self._supervised)]
        stops = {asyncio.create_task(c.stop(), name=f"stop-{c.name}"): c for c in components}
        done, late = await asyncio.wait(stops, timeout=STOP_TIMEOUT_S)
        for task in late:
            log.warning("component.stop.timeout", component=stops[task].name)
            task.cancel()
        for task in done:
            if task.exception() is not None:
                log.warning("component.stop.failed", component=stops[task].name, error=repr(task.exception()))
        for entry in self._supervised:
            if entry.task is not None:
                entry.task.cancel()
        await asyncio.gather(*(e.task for e in self._supervised if e.task), return_exceptions=True)
        self.scheduler.shutdown()
        if self.web is not None:
            await self.web.stop()
        self.store.close()
        log.info("daemon.stopped")

    async def _watchdog(self) -> None:
        """WATCHDOG=1 while the loop runs and the store answers; a device fault must not get the daemon killed."""
        interval = (self.notifier.watchdog_s or 20.0) / 3
        while True:
            try:
                await asyncio.wait_for(self.store.read(lambda db: db.execute("SELECT 1").fetchone()), interval)
            except TimeoutError:
                log.error("watchdog.store.stuck")
            else:
                self.notifier.send(WATCHDOG=1, STATUS=self._status_line())
            await asyncio.sleep(interval)

    def _status_line(self) -> str:
        link = self.link.health()
        jobs = " ".join(f"{e.component.name}={'ok' if e.component.healthy else 'unhealthy'}" for e in self._supervised[1:])
        return f"link={link.state} outbox={link.outbox_depth} {jobs}".strip()

    def _web_sources(self) -> Sources:
        """What the web pages read: status, the store, the configured fridge sections and the scale job if it runs."""
        esl = self.config.esl
        sections = [
            {"id": s.id, "name": s.name, "min_c": s.min_c, "max_c": s.max_c}
            for s in (esl.coldchain.sections if esl is not None and esl.enabled else [])
        ]
        scale: Any = next((j for j in self.jobs if j.name == "scale"), None)
        pictures = None
        if scale is not None:
            pictures = functools.partial(iconic_index, scale.cfg.demo_images, dict(scale.produce.skus))
        return Sources(self.status, self.store, sections, scale, pictures, self._store_map())

    def _store_map(self) -> Callable[[Any], str] | None:
        """The ESL job's store map as SVG from a read connection, when it has one (imported only then)."""
        esl: Any = next((j for j in self.jobs if j.name == "esl"), None)
        if esl is None or getattr(esl, "map", None) is None:
            return None
        from edge.esl.mapsvg import from_db

        return functools.partial(_map_svg, from_db, esl.map)

    async def _purge_inbox(self) -> None:
        days = self.config.outbox.inbox_retention_days
        removed = await self.store.write(lambda tx: purge_inbox(tx, days))
        if removed:
            log.info("inbox.purged", removed=removed)

    async def status(self) -> dict[str, Any]:
        """What `store-edge status` shows: jobs, devices, outbox depth, last sync."""
        await self.link.refresh_depth()
        link = asdict(self.link.health())
        components = {
            e.component.name: {
                "healthy": e.component.healthy,
                "restarts": e.restarts,
                "last_crash": e.last_crash,
                "detail": _jsonable(e.component.health()),
            }
            for e in self._supervised
        }
        return {
            "store_id": self.config.store.id,
            "version": __version__,
            "now": utc_now(),
            "uptime_s": round(time.monotonic() - self.started, 1),
            "schema_versions": self.store.schema_versions,
            "link": link,
            "components": components,
            "scheduled": [{"id": i, "next_run": t.isoformat() if t else None} for i, t in self.scheduler.pending()],
        }


def _map_svg(draw: Callable[..., str], store_map: Any, db: Any) -> str:
    """One store map picture, titled for the status page."""
    return draw(db, store_map, (), "Store map")


def _jsonable(value: Any) -> Any:
    """Dataclasses and other snapshots as plain JSON values."""
    try:
        return json.loads(json.dumps(asdict(value) if hasattr(value, "__dataclass_fields__") else value, default=str))
    except TypeError:
        return str(value)


async def run_daemon(config: Config) -> None:
    """Entry point of `store-edge run`."""
    app = App(config)
    await app.run()

