"""The screen job: per screen a camera thread and the face pipeline on its own single worker thread.

Frames live only in memory here. The pipeline turns them into anonymous `engaged` triggers and
per-period `audience` figures (see edge/screen/events.py for the whitelisted fields); nothing else
about a person is written, logged or published.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import structlog

from devices.backoff import Backoff
from devices.camera import Camera, CameraState
from devices.reconnect import Reconnect, ReconnectEvents
from edge.component import Supervised, supervise
from edge.jobs import JobContext
from edge.screen import content
from edge.screen.camera_health import CameraHealth, HealthLimits, cause_of
from edge.screen.config import ScreenDevice, ScreenSection
from edge.screen.detector import YuNetDetector
from edge.screen.errors import DetectorError, FrameError
from edge.screen.events import audience_data, engaged_data
from edge.screen.hook import EngagedHook
from edge.screen.measures import AudienceConfig, AudienceMeter
from edge.screen.motion import MotionGate
from edge.screen.pipeline import ScreenPipeline
from edge.screen.sources import SourceError, make_camera
from edge.screen.tracker import Tracker

log = structlog.get_logger("screen")

WAIT_S = 0.1  # longest wait for a frame: bounds how quickly a stop is noticed
BAD_FRAMES_S = 2.0  # unusable frames (dark, blinded, covered, corrupt) for this long mean the camera is down
FPS_WINDOW_S = 5.0
#: Building the pipeline (model, camera) again after a failure: 5 s, doubling to 5 minutes, reset once it runs.
BUILD_POLICY = Backoff(initial=5.0, maximum=300.0)
BUILD_EVENTS = ReconnectEvents(failed="screen.start.failed", lost="screen.start.lost", restored="screen.start.recovered")
TELEMETRY_S = 10.0
STOP_TIMEOUT_S = 1.8


@dataclass(frozen=True, slots=True)
class _Step:
    """What one round on the worker thread produced: whether a frame was analysed, events, a frame or camera problem."""

    analysed: bool
    events: list[dict[str, Any]]
    dropped: int = 0
    bad_frame: str | None = None
    camera: str | None = None  # a frozen or moved camera (edge/screen/camera_health.py), as of this frame


@dataclass
class _Figures:
    """Running health figures of one screen (read by `health()` on the loop)."""

    analysed: int = 0
    dropped: int = 0
    bad_frames: int = 0
    last_ok: float | None = None  # monotonic time of the last analysed frame
    bad_since: float | None = None
    bad_reason: str | None = None
    camera_problem: str | None = None
    recent: collections.deque[float] = field(default_factory=lambda: collections.deque(maxlen=600))

    def fps(self, now: float) -> float:
        """Frames analysed per second over the last few seconds."""
        while self.recent and now - self.recent[0] > FPS_WINDOW_S:
            self.recent.popleft()
        return round(len(self.recent) / FPS_WINDOW_S, 1)


class ScreenWorker:
    """One screen: owns its camera, its pipeline and its worker thread; publishes events and health."""

    def __init__(self, spec: ScreenDevice, ctx: JobContext, clock: Callable[[], float] = time.time) -> None:
        self.spec = spec
        self.ctx = ctx
        self.clock = clock
        self.device = f"screen:{spec.id}"
        self.hook = EngagedHook(spec.engaged_hook.url, spec.engaged_hook.timeout_s, spec.id) if spec.engaged_hook else None
        self.up: bool | None = None  # None until the first verdict after start
        self.detail = "starting"
        self.error: str | None = None  # a fault that retrying the camera does not cure (model, source spec)
        self.figures = _Figures()
        self.content = content.ContentSchedule()  # what the screen plays, from `screen.content`
        self._camera: Camera | None = None
        self._pipeline: ScreenPipeline | None = None
        self._seq = 0
        self._started = time.monotonic()
        self._reported: tuple[bool, str | None] | None = None  # healthy and camera-health cause last emitted
        self.stop_requested = asyncio.Event()
        self._executor: ThreadPoolExecutor | None = None
        self._build = Reconnect(self.device, BUILD_EVENTS, policy=BUILD_POLICY, logger=log.bind(device=self.device))

    @property
    def name(self) -> str:
        """The supervisor's name for this screen."""
        return self.device

    @property
    def stale_s(self) -> float:
        """How long without a frame before the camera counts as down."""
        return max(2.0, 5.0 / self.spec.fps)

    async def run(self) -> None:
        """Start camera and pipeline, analyse the newest frame whenever the worker is free, until stopped."""
        loop = asyncio.get_running_loop()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"screen-{self.spec.id}")
        self._started, self._seq, self.figures = time.monotonic(), 0, _Figures()
        self.content.replace(await self.ctx.store.read(lambda db: content.rows(db.conn, self.spec.id)))
        try:
            while not await self._open(loop):
                if await self._stopped_within(self._build.failed(self.error or "start failed")):
                    return
            self._build.connected()
            while not self.stop_requested.is_set():
                step = await loop.run_in_executor(self._executor, self._step)
                self._account(step)
                await self._publish(step.events)
                await self._assess()
            await self._close(loop)
        finally:
            if self._camera is not None:
                self._camera.stop(timeout=0)  # sets the stop flag; the capture thread ends on its own
            self._executor.shutdown(wait=False, cancel_futures=True)
            if self.hook is not None:
                await self.hook.close()

    def stop(self) -> None:
        """Ask the loop to close the open period and end; `run` returns soon after."""
        self.stop_requested.set()

    def crashed(self, reason: BaseException | str) -> None:
        """The supervisor saw `run` crash: the screen is down until it runs again."""
        self.up, self.error = False, f"crashed: {reason!r}"

    async def _stopped_within(self, seconds: float) -> bool:
        """Wait up to `seconds` for a stop request."""
        try:
            await asyncio.wait_for(self.stop_requested.wait(), seconds)
        except TimeoutError:
            return False
        return True

    async def _open(self, loop: asyncio.AbstractEventLoop) -> bool:
        """Build the pipeline and start the camera on the worker thread; a missing model or extra is reported."""
        self._build.attempting()
        try:
            await loop.run_in_executor(self._executor, self._make_pipeline)
        except (ImportError, OSError) as err:
            self.error = f"face model unavailable: {err} (the yuface package holds the built-in detector)"
        except SourceError as err:
            self.error = str(err)
        else:
            self.error = None
            return True
        await self._set_up(False, self.error)
        return False

    def _make_pipeline(self) -> None:
        """Blocking set-up: load the detector, make the pipeline, start the capture thread."""
        s = self.spec
        detector = YuNetDetector(score_threshold=s.score_threshold, min_face_px=s.min_face_px)
        audience = AudienceConfig(
            hfov_deg=s.hfov_deg, calibration=s.calibration, zone_near_m=s.zone_near_m, zone_far_m=s.zone_far_m,
            min_stop_s=s.min_stop_s, max_gap_s=s.track_timeout_s, period_s=s.period_s,
        )
        health = CameraHealth(HealthLimits(frozen_after_s=s.frozen_after_s, moved_after_s=s.moved_after_s))
        self._pipeline = ScreenPipeline(
            detector, Tracker(max_gap_s=s.track_timeout_s), AudienceMeter(audience, screen=s.id, playing=self.content),
            MotionGate(), health, full_every_s=s.full_detect_every_s,
        )
        self._camera = make_camera(s.source, name=self.device, fps=s.fps)
        self._camera.start()

    def _step(self) -> _Step:
        """Worker thread: wait for the newest frame (older ones are dropped, never queued) and analyse it."""
        assert self._camera is not None and self._pipeline is not None
        frame = self._camera.wait_newer(self._seq, WAIT_S)
        if frame is None:  # no frame: still let tracks time out and periods close on time
            return _Step(False, self._tick(self.clock()))
        dropped = frame.seq - self._seq - 1 if self._seq else 0
        self._seq = frame.seq
        try:
            events = self._pipeline.process(frame.image, frame.ts)
        except (FrameError, DetectorError) as err:
            return _Step(False, self._tick(frame.ts), dropped, bad_frame=str(err), camera=self._pipeline.camera_problem)
        return _Step(True, events, dropped, camera=self._pipeline.camera_problem)

    def _tick(self, ts: float) -> list[dict[str, Any]]:
        """Advance the tracker and meter to `ts` without a detection."""
        assert self._pipeline is not None
        update = self._pipeline.tracker.update([], ts, looked=False)
        return self._pipeline.meter.observe(update, ts, 1)

    def _account(self, step: _Step) -> None:
        """Update the health figures from one step."""
        now = time.monotonic()
        f = self.figures
        f.dropped += step.dropped
        if step.analysed or step.bad_frame is not None:
            f.camera_problem = step.camera
        if step.analysed:
            f.analysed += 1
            f.last_ok, f.bad_since, f.bad_reason = now, None, None
            f.recent.append(now)
        elif step.bad_frame is not None:
            f.bad_frames += 1
            f.bad_reason = step.bad_frame
            if f.bad_since is None:
                f.bad_since = now

    async def _assess(self) -> None:
        """Decide whether the camera is up or down now, and report a change."""
        assert self._camera is not None
        now, f = time.monotonic(), self.figures
        camera = self._camera.health
        since_ok = now - (f.last_ok if f.last_ok is not None else self._started)
        seen = cause_of(f.bad_reason)  # a dark, blinded or covered camera is named as such
        if camera.state is CameraState.RECONNECTING:
            await self._set_up(False, f"camera unavailable: {camera.last_error}")
        elif f.camera_problem is not None:
            await self._set_up(False, f.camera_problem, cause_of(f.camera_problem))
        elif f.bad_since is not None and now - f.bad_since >= BAD_FRAMES_S:
            await self._set_up(False, f.bad_reason if seen else f"unusable frames for {now - f.bad_since:.0f} s: {f.bad_reason}", seen)
        elif since_ok >= self.stale_s:
            reason = f" ({f.bad_reason})" if f.bad_reason else ""
            await self._set_up(False, f.bad_reason if seen else f"no usable frame for {since_ok:.0f} s{reason}", seen)
        elif f.last_ok is not None and f.bad_since is None:
            await self._set_up(True, "streaming")

    async def _set_up(self, up: bool, detail: str, cause: str | None = None) -> None:
        """Record the verdict; on a change of state or camera-health cause (and the first verdict) emit `device.health`."""
        self.up, self.detail = up, detail
        if (up, cause) == self._reported:
            return
        self._reported = (up, cause)
        (log.info if up else log.warning)("screen.camera.up" if up else "screen.camera.down", device=self.device, detail=detail)
        data = {"device": self.device, "job": "screen", "healthy": up, "detail": detail}
        await self.ctx.store.write(lambda tx: tx.emit("device.health", data))

    async def _publish(self, events: list[dict[str, Any]], partial_last: bool = False) -> None:
        """Emit the pipeline's events (engaged also goes to the local hook at once); only whitelisted fields."""
        if not events:
            return
        out: list[tuple[str, dict[str, Any]]] = []
        for n, event in enumerate(events):
            if event["event"] == "engaged":
                data = engaged_data(event, self.spec.id)
                if self.hook is not None:
                    self.hook.fire(data)
                log.debug("screen.engaged", device=self.device, viewers=data["viewers"])
                out.append(("engaged", data))
            elif event["event"] == "audience":
                data = audience_data(event, self.spec.id, partial=partial_last and n == len(events) - 1)
                log.info("screen.audience", device=self.device, passing=data["passing"], stopping=data["stopping"],
                         engaged=data["engaged"], partial=data["partial"])
                out.append(("audience", data))
        await self.ctx.store.write(lambda tx: [tx.emit(kind, data) for kind, data in out])

    async def _close(self, loop: asyncio.AbstractEventLoop) -> None:
        """Clean stop: end open tracks and emit the open period as `partial` (only if frames were analysed)."""
        assert self._executor is not None
        if self._pipeline is None or self.figures.analysed == 0:
            return
        events = await loop.run_in_executor(self._executor, self._pipeline.close, self.clock())
        await self._publish(events, partial_last=True)

    @property
    def healthy(self) -> bool:
        """False while the camera is down or the pipeline cannot run."""
        return self.up is not False and self.error is None

    def health(self) -> dict[str, Any]:
        """Camera state, frame rate achieved and the last error of this screen (no per-person data)."""
        camera = self._camera.health if self._camera is not None else None
        f = self.figures
        down = self.detail if self.up is False else None  # the reason the status page shows beside the screen
        hook = None
        if self.hook is not None:
            hook = {"sent": self.hook.sent, "failed": self.hook.failed, "last_error": self.hook.last_error}
        return {
            "state": "starting" if self.up is None else ("up" if self.up else "down"),
            "detail": self.detail,
            "camera": camera.state.value if camera else "stopped",
            "fps": f.fps(time.monotonic()),
            "fps_target": self.spec.fps,
            "frames_analysed": f.analysed,
            "frames_dropped": f.dropped,
            "bad_frames": f.bad_frames,
            "people_in_view": self._pipeline.people_in_view if self._pipeline is not None else 0,
            "camera_failures": camera.failures if camera else 0,
            "last_error": self.error or down or (camera.last_error if camera else None) or f.bad_reason,
            "hook": hook,
        }


class ScreenJob:
    """The `screen` component: runs one worker per configured screen; a screen down never stops the others."""

    name = "screen"

    def __init__(self, ctx: JobContext) -> None:
        """One worker per screen of `[screen]`; nothing runs until `run`."""
        section: ScreenSection = ctx.section
        self.ctx = ctx
        self.workers = [ScreenWorker(spec, ctx) for spec in section.screens]
        self._tasks: list[asyncio.Task[None]] = []
        self.schedules = {w.spec.id: w.content for w in self.workers}  # also the web part's (edge/screen/web.py)
        ctx.registry.register("screen.content", content.ContentArgs, content.handler(self.schedules, time.time),
                              "Tell a screen what it plays (now playing or a schedule of spans)")

    async def run(self) -> None:
        """Run every screen and publish a telemetry snapshot every few seconds, until cancelled."""
        self._tasks = [
            asyncio.create_task(supervise(Supervised(w), stop=w.stop_requested, on_crash=w.crashed, job="screen"), name=f"screen-{w.spec.id}")
            for w in self.workers
        ]
        try:
            while True:
                self.ctx.telemetry("screen", self.health())
                await asyncio.sleep(TELEMETRY_S)
        finally:
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def stop(self) -> None:
        """Close every screen's open period (emitted as partial) and stop the cameras, within about two seconds."""
        for worker in self.workers:
            worker.stop()
        running = [t for t in self._tasks if not t.done()]
        if running:
            await asyncio.wait(running, timeout=STOP_TIMEOUT_S)

    @property
    def healthy(self) -> bool:
        """True while every screen's camera and pipeline work."""
        return all(w.healthy for w in self.workers)

    def health(self) -> dict[str, Any]:
        """Per-screen health for `status` and telemetry."""
        return {"screens": {w.spec.id: w.health() for w in self.workers}}
