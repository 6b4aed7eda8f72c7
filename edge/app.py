"""The daemon's lifecycle: open the store, start the link, the scheduler, the jobs and the web API; stop cleanly.

One process, one event loop. READY=1 goes to systemd once local start-up is done
(configuration valid, store open and migrated), not when the broker answers: a store
with its WAN down must still run its shelves and scales.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import signal
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from edge import __version__, catalog, fleet
from edge.artifacts.commands import RolledBack as ArtifactRolledBack
from edge.artifacts.commands import Rollout
from edge.component import Component, Supervised, supervise
from edge.config import Config
from edge.config_files import open_beyond_loopback
from edge.core_commands import register_core_commands
from edge.jobs import JobContext, JobSpec, artifact_kinds, enabled_sections, schemas
from edge.logs import configure as configure_logs
from edge.remote_config import (
    RESTART_EXIT_STATUS,
    Desired,
    Identity,
    RolledBack,
    Running,
    running_identity,
)
from edge.scheduler import Scheduler
from edge.store import Store, Tx
from edge.store.db import utc_now
from edge.store.errors import StoreError
from edge.sync import deadletters
from edge.sync.commands import CommandRegistry, Dispatcher, purge_inbox
from edge.sync.link import SyncLink
from edge.systemd import Notifier

if TYPE_CHECKING:  # the web server (aiohttp) is imported only when [http] is enabled: ~10 MB less in a daemon without it
    from edge.web import WebPart, WebServer

log = structlog.get_logger("app")

STOP_TIMEOUT_S = 5.0
#: After `config.set` replied, the daemon stops this long later (the reply is out; were it cut, the inbox re-sends it after the restart).
RESTART_DELAY_S = 1.0


class StartupError(Exception):
    """The daemon cannot start as configured (port taken, token refused); `store-edge run` prints it on one line and exits."""

    def __init__(self, message: str, exit_status: int = 1) -> None:
        super().__init__(message)
        self.exit_status = exit_status


class App:
    """Everything one daemon runs, wired together; `run()` returns after a clean stop.

    Construction is blocking (the store opens and migrates, jobs build their devices): on a
    running loop use `await App.create(config)`, which does it on a worker thread.
    """

    def __init__(self, config: Config, notifier: Notifier | None = None, config_path: Path | None = None,
                 rolled_back: RolledBack | None = None) -> None:
        self.config = config
        self.exit_status = 0  # RESTART_EXIT_STATUS after config.set: systemd starts the daemon again with the new file
        self.rolled_back = rolled_back  # the start fell back to the last good configuration: said by an event once running
        self.config_path = config_path  # the file it was read from (None in-process): where `config.set` writes
        self.running = Running(config, running_identity(config, config_path))  # replaced in place by a hot config.set
        self.started = time.monotonic()
        self.notifier = notifier or Notifier()
        try:
            self.store = Store(
                config.database_path, max_outbox=config.outbox.max_events,
                schemas={"catalog": catalog.STEPS, "sync": deadletters.STEPS, **schemas(config.jobs)}, store_id=config.store.id,
            )
        except StoreError as err:  # missing, empty, damaged, another store's: one line, no restart loop (edge/store/identity.py)
            raise StartupError(str(err), exit_status=getattr(err, "exit_status", 1)) from None
        self.registry = CommandRegistry()
        register_core_commands(self.registry, config, self.started, self.running, config_path, self.apply_config)
        self.scheduler = Scheduler(config.database_path)
        self.catalog = catalog.Catalog(self.store, self.scheduler, config)
        self.catalog.register(self.registry)
        self.link = SyncLink(config, self.store, Dispatcher(self.registry, self.store), __version__, self.identity.as_json())
        self.rollout = Rollout(config, artifact_kinds(config), self.request_restart)
        self.rollout.register(self.registry)
        self.artifacts_rolled_back: list[ArtifactRolledBack] = []  # said by events once running
        self._built: list[tuple[JobSpec, Component]] = [(spec, self._build(spec, section)) for spec, section in enabled_sections(config)]
        self.jobs: list[Component] = [job for _, job in self._built]
        self._supervised: list[Supervised] = []
        self.web: WebServer | None = None
        self._cpu = fleet.CpuMeter()
        self._stopping = asyncio.Event()

    def _build(self, spec: JobSpec, section: Any) -> Component:
        """Build one job; one that fails while running an installed artifact is built again with the previous version."""
        ctx = JobContext(self.config, section, self.store, self.scheduler, self.registry, self.link.set_telemetry)
        try:
            return spec.build(ctx)
        except Exception as err:
            back = self.rollout.roll_back_job(spec.name, f"{type(err).__name__}: {err}")
            if not back:
                raise
            self.artifacts_rolled_back += back
            return spec.build(ctx)

    @classmethod
    async def create(cls, config: Config, notifier: Notifier | None = None, config_path: Path | None = None,
                     rolled_back: RolledBack | None = None) -> App:
        """Build the App off the event loop (opening the store and the devices blocks)."""
        return await asyncio.to_thread(cls, config, notifier, config_path, rolled_back)

    def job(self, name: str) -> Component | None:
        """The running job called `name`, if it is enabled."""
        return next((job for job in self.jobs if job.name == name), None)

    def request_stop(self) -> None:
        """Begin a clean stop (SIGTERM, SIGINT, or the demo ending)."""
        self._stopping.set()

    @property
    def identity(self) -> Identity:
        """The running configuration's version, hash and source."""
        return self.running.identity

    def apply_config(self, desired: Desired) -> None:
        """After `config.set` committed (on the loop): reload its keys hot (`desired.apply == "hot"`) or restart to apply it."""
        if desired.apply != "hot":
            self.request_restart()
            return
        old, new = self.config, desired.config
        self.config = self.running.config = new
        self.running.identity = desired.identity
        if old.log != new.log:
            configure_logs(new.log.level, new.log.format)
        if old.telemetry != new.telemetry:
            self.scheduler.every("telemetry.health", new.telemetry.health_interval_s, self._send_health)
        if old.prices != new.prices:
            self.catalog.reload(new.prices)
        for spec, job in self._built:
            section = getattr(new, spec.name)
            if section != getattr(old, spec.name) and spec.reload is not None:
                spec.reload(job, section)
        self.link.set_config_identity(desired.identity.as_json())
        log.info("config.reloaded", config_version=desired.identity.version, config_sha256=desired.identity.sha256,
                 changed=desired.changed)

    def request_restart(self) -> None:
        """A controlled restart (`config.set`, from its worker thread): stop cleanly shortly after the reply, with RESTART_EXIT_STATUS."""
        self.exit_status = RESTART_EXIT_STATUS
        self._loop.call_soon_threadsafe(self._loop.call_later, RESTART_DELAY_S, self.request_stop)

    async def run(self) -> None:
        """Start everything, serve until asked to stop, then drain and stop within a few seconds."""
        loop = self._loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.add_signal_handler(sig, self.request_stop)
            except (NotImplementedError, RuntimeError):
                pass  # not the main thread (tests run the app in-process)
        try:
            await self._start_web()  # first: a taken port or a refused token ends the start before anything runs
        except StartupError:
            await self.store.aclose()
            raise
        self.scheduler.every("inbox.purge", 3600, self._purge_inbox)
        self.scheduler.every("telemetry.health", self.config.telemetry.health_interval_s, self._send_health)
        self.scheduler.start()
        await self.link.refresh_depth()
        for component in [self.link, *self.jobs]:
            entry = Supervised(component)
            entry.task = asyncio.create_task(supervise(entry), name=f"component-{component.name}")
            self._supervised.append(entry)
        self.notifier.send(READY=1, STATUS="running")
        log.info("daemon.ready", store_id=self.config.store.id, version=__version__, jobs=[j.name for j in self.jobs],
                 config_version=self.identity.version, config_sha256=self.identity.sha256)
        if self.rolled_back is not None:
            await self._say_rolled_back(self.rolled_back)
        if self.artifacts_rolled_back:
            await self.store.write(self._say_artifacts_rolled_back)
        await asyncio.to_thread(self.rollout.confirm)  # this start worked: new versions are kept, old ones pruned
        watchdog = asyncio.create_task(self._watchdog(), name="watchdog")
        try:
            await self._stopping.wait()
        finally:
            watchdog.cancel()
            await self._stop()

    async def _say_rolled_back(self, back: RolledBack) -> None:
        """`config.rolled_back`: the configuration headquarters set could not start, the last good one runs."""
        data = {"from_version": back.from_version, "to_version": back.to_version, "problems": back.problems[:20],
                "sha256": self.identity.sha256}
        await self.store.write(lambda tx: tx.emit("config.rolled_back", data))
        log.warning("config.rolled_back", **data)

    def _say_artifacts_rolled_back(self, tx: Tx) -> None:
        """`artifact.rolled_back`: a job could not start with an installed version, the previous one runs."""
        for back in self.artifacts_rolled_back:
            tx.emit("artifact.rolled_back", back.as_json())

    async def _start_web(self) -> None:
        """The web server, if enabled: warn (or refuse, with `require_token_beyond_loopback`) when it is open to the network without a token."""
        http = self.config.http
        if not http.enabled:
            return
        from edge.web import Sources, WebServer, build_app
        open_line = open_beyond_loopback(self.config)
        if open_line is not None:
            if http.require_token_beyond_loopback:
                raise StartupError(f"{open_line} (http.require_token_beyond_loopback is set)", exit_status=2)
            log.warning("web.open_without_token", listen=http.listen, hint="set [http] token_file (store-edge init) or listen on 127.0.0.1")
        try:
            token = http.token()
        except OSError as err:
            raise StartupError(f"http.token_file: {err}", exit_status=2) from None
        sources = Sources(self.status, self.store, self._web_parts(), self.fleet_health)
        self.web = WebServer(build_app(sources, token), http.host, http.port, max_connections=http.max_connections)
        try:
            await self.web.start()
        except OSError as err:
            self.web = None
            reason = os.strerror(err.errno) if err.errno else str(err)
            raise StartupError(f"http.listen {http.listen}: cannot listen ({reason})") from None

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
        await self.store.aclose()
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

    def _web_parts(self) -> list[WebPart]:
        """Each running job's part of the web server (pages, API routes, live-feed pieces), as its spec gives it."""
        parts = [spec.web(job) for spec, job in self._built if spec.web is not None]
        return [part for part in parts if part is not None]

    async def _purge_inbox(self) -> None:
        days = self.config.outbox.inbox_retention_days
        removed = await self.store.write(lambda tx: purge_inbox(tx, days))
        if removed:
            log.info("inbox.purged", removed=removed)

    async def _send_health(self) -> None:
        """`telemetry/health` through the link's latest-wins telemetry (sent now if connected, else once back)."""
        self.link.set_telemetry("health", await self.fleet_health())

    async def fleet_health(self) -> dict[str, Any]:
        """The `telemetry/health` figures (also behind `/metrics`): `status` reused, plus host, outbox age and the jobs' hooks."""
        status = await self.status()
        host = await asyncio.to_thread(fleet.host, self._cpu, self.config.data.dir)
        oldest = await self.store.read(
            lambda db: db.execute("SELECT ts FROM outbox WHERE seq = (SELECT min(seq) FROM outbox)").fetchone())
        hooks = [(spec.name, functools.partial(spec.fleet, job)) for spec, job in self._built if spec.fleet is not None]
        jobs = await fleet.job_figures(hooks)
        return {"sampled_at": utc_now(),
                **fleet.message(status, host, fleet.oldest_age_s(oldest[0] if oldest else None, datetime.now(UTC)), jobs)}

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
            "timezone": self.config.store.timezone,
            "version": __version__,
            "config": self.identity.as_json(),
            "now": utc_now(),
            "uptime_s": round(time.monotonic() - self.started, 1),
            "schema_versions": self.store.schema_versions,
            "link": link,
            "components": components,
            "scheduled": [{"id": i, "next_run": t.isoformat() if t else None} for i, t in self.scheduler.pending()],
        }


def _jsonable(value: Any) -> Any:
    """Dataclasses and other snapshots as plain JSON values."""
    try:
        return json.loads(json.dumps(asdict(value) if hasattr(value, "__dataclass_fields__") else value, default=str))
    except TypeError:
        return str(value)


async def run_daemon(config: Config, config_path: Path | None = None, rolled_back: RolledBack | None = None) -> int:
    """Entry point of `store-edge run`; returns the exit status (RESTART_EXIT_STATUS when a new configuration waits)."""
    app = await App.create(config, config_path=config_path, rolled_back=rolled_back)
    await app.run()
    return app.exit_status

