"""One self-service scale at run time: the loop feeding its session from its devices (scale, camera, printer).

The station is the coordinator of one physical scale (house style): it owns the serial driver,
the camera and the printer, turns readings into session inputs, serves the session's recognition
requests through the job's recognition worker (off the event loop) and prints confirmed labels.
It knows nothing of MQTT or SQLite: the job records sales and events.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

import numpy as np
import structlog

from devices.camera import CameraError
from devices.printer.escpos import PrinterError
from devices.scale.driver import Health
from devices.scale.errors import ScaleError
from devices.scale.reading import WeightReading
from edge.scale.config import ScaleDevice
from edge.scale.pricing.printed_label import LabelError, render_label
from edge.scale.pricing.quote import Product
from edge.scale.recognition.errors import RecognitionError
from edge.scale.weighing.devices import Devices
from edge.scale.weighing.session import (
    BarcodeSpec,
    RecognitionRequest,
    Rules,
    Sale,
    Session,
    SessionError,
)

log = structlog.get_logger("scale")

STABLE_READ_TIMEOUT_S = 4.0
PRINTER_RETRY_S = 2.0  # an unavailable printer is opened again this often, so the scale comes back by itself


@dataclass(frozen=True)
class Offer:
    """What the job made of one frame: the candidates to show (none when unrecognised), the model's best guess, its embedding."""

    candidates: list[tuple[str, float]]
    top1: str | None
    unrecognised: bool
    unsure: bool
    model_version: str
    embedding: np.ndarray


#: The job's recognition of one frame, off the event loop.
RecognizeFrame = Callable[[np.ndarray], Awaitable[Offer]]


class StationError(SessionError):
    """A device stopped the sale (scale silent, tare refused, printer gone): no label was printed; `code` says which."""

    def __init__(self, code: str, message: str) -> None:
        """Keep the device's code with the message."""
        super().__init__(message)
        self.code = code


class Station:
    """One scale's run loop: readings -> session, recognition requests -> recogniser, confirmations -> label."""

    def __init__(
        self,
        cfg: ScaleDevice,
        devices: Devices,
        recognize: RecognizeFrame,
        *,
        confirm_timeout_s: float,
        change_divisions: int,
        timezone: tzinfo,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Wire the devices to a fresh session with the scale's metrology and the label's barcode."""
        self.cfg = cfg
        self.id = cfg.id
        self.devices = devices
        self._recognize = recognize
        self._tz = timezone
        self._clock = clock
        self.session = Session(
            Rules(cfg.min_grams, cfg.division_g, change_divisions, confirm_timeout_s),
            BarcodeSpec(cfg.barcode_layout, cfg.barcode_prefix),
        )
        self.embedding: np.ndarray | None = None  # of the current weighing's frame, kept only in memory
        self.changed = asyncio.Event()
        self.printer_problem: str | None = None
        self.labels = 0
        self._printer_open = False
        self._printer_tried = 0.0
        self._lock = asyncio.Lock()
        self._queue: asyncio.Queue[WeightReading] = asyncio.Queue(64)
        self._tasks: set[asyncio.Task[None]] = set()

    # ----- lifetime -----------------------------------------------------------------------
    async def run(self) -> None:
        """Start the devices and feed the session until cancelled."""
        remove = self.devices.driver.add_listener(self._on_reading)
        await self.devices.driver.start()
        if self.devices.camera is not None:
            await asyncio.to_thread(self.devices.camera.start)
        await self._open_printer()
        try:
            while True:
                try:
                    reading = await asyncio.wait_for(self._queue.get(), 0.25)
                except TimeoutError:
                    self._idle()
                else:
                    self._feed(reading)
                self._retry_printer()
        finally:
            remove()
            for task in list(self._tasks):
                task.cancel()

    async def close(self) -> None:
        """Stop the devices (and simulators) of this station."""
        await self.devices.driver.stop()
        if self.devices.camera is not None:
            await asyncio.to_thread(self.devices.camera.stop, 2.0)
        await asyncio.to_thread(self.devices.printer.close)
        for sim in (self.devices.scale_sim, self.devices.printer_sim):
            if sim is not None:
                await asyncio.to_thread(sim.stop)

    # ----- readings -----------------------------------------------------------------------
    def _on_reading(self, reading: WeightReading) -> None:
        """Driver listener (on the loop): queue the reading, dropping the oldest if the loop lags."""
        if self._queue.full():
            self._queue.get_nowait()
        self._queue.put_nowait(reading)

    def _idle(self) -> None:
        """No reading for a while: expire offers, and drop the weighing when the scale stopped answering."""
        if self._lock.locked():
            return
        before = self.session.phase
        driver = self.devices.driver
        if driver.health is not Health.CONNECTED:
            reason = driver.health_reason
            self.session.fault(f"scale {driver.health.value}" + (f" ({reason.value})" if reason else ""))
        else:
            self.session.tick(self._clock())
        if self.session.phase is not before:
            self.changed.set()

    def _retry_printer(self) -> None:
        """An unavailable printer is opened again every PRINTER_RETRY_S (not while a label is being printed)."""
        if self.printer_problem is not None and not self._lock.locked() and self._clock() - self._printer_tried >= PRINTER_RETRY_S:
            self._printer_tried = self._clock()
            self._start(self._open_printer(), "scale-printer")

    def _feed(self, reading: WeightReading) -> None:
        """One reading into the session; start the recognition it may ask for."""
        if self._lock.locked():
            return  # a tap is being served: the weighing is frozen, and readings under the preset tare are net
        before = (self.session.phase, self.session.current)
        grams = reading.grams if reading.state in ("ok", "zero", "motion") else None
        self._recognise(self.session.reading(grams, reading.stable, self._clock()))
        if (self.session.phase, self.session.current) != before:
            self.changed.set()

    def _recognise(self, request: RecognitionRequest | None) -> None:
        """Start the one recognition the session asked for, if it asked."""
        if request is not None:
            self.embedding = None
            self._start(self._recognition(request), "scale-recognise")

    def _start(self, work: Awaitable[None], name: str) -> None:
        """Run `work` as a named task of this station, kept until it ends (cancelled with the station)."""
        task = asyncio.ensure_future(work)
        task.set_name(f"{name}:{self.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _recognition(self, request: RecognitionRequest) -> None:
        """Take one frame and recognise it off the loop; a stale answer (item changed) is dropped by the session."""
        try:
            image = await self._frame()
            found = await self._recognize(image)
        except (CameraError, RecognitionError) as err:
            if self.session.recognition_failed(request.token, str(err), self._clock()):
                log.warning("scale.recognition.failed", scale=self.id, error=str(err))
                self.changed.set()
            return
        if self.session.recognised(
            request.token, found.candidates, found.unsure, found.model_version, self._clock(),
            top1=found.top1, unrecognised=found.unrecognised,
        ):
            self.embedding = found.embedding
            self.changed.set()

    async def _frame(self) -> np.ndarray:
        """ONE frame showing the settled item: the newest if it is fresh, else the next one (bounded wait)."""
        camera = self.devices.camera
        if camera is None:
            raise CameraError("no camera configured")
        frame = camera.latest()
        max_age = 2.0 / camera.fps if camera.fps else 0.2
        if frame is None or time.time() - frame.ts > max_age:
            frame = await asyncio.to_thread(camera.wait_newer, frame.seq if frame else 0, 1.0)
        if frame is None:
            raise CameraError(f"no frame from the camera ({camera.health.state.value})")
        return frame.image

    # ----- the customer's buttons ----------------------------------------------------------
    def cancel(self) -> None:
        """End the weighing without a label (the item stays until lifted); raises when nothing is settled or it is labelled."""
        self._not_printing()
        self.session.cancel(self._clock())
        self.changed.set()

    def restart(self) -> None:
        """Start again: recognise the item on the platter anew, with a new confirmation window."""
        self._not_printing()
        self._recognise(self.session.restart(self._clock()))
        self.changed.set()

    def _not_printing(self) -> None:
        """While a tap is being served the weighing is frozen."""
        if self._lock.locked():
            raise StationError("printing", "a label is being printed")

    @property
    def printing(self) -> bool:
        """A tap is being served (weight re-read, label rendered and printed)."""
        return self._lock.locked()

    def clock(self) -> float:
        """The station's monotonic time (the session's `now`)."""
        return self._clock()

    # ----- confirmation -------------------------------------------------------------------
    async def confirm(self, product: Product, sku: str, pieces: int | None, plu: int | None) -> Sale:
        """Preset the product's tare on the scale, re-read its stable weight, price, render and print; raises with no label printed."""
        async with self._lock:
            self.session.offered(self._clock())
            tare = product.tare_grams if product.basis != "piece" else 0
            if tare:
                await self._preset_tare(tare)
            try:
                sale = await self._weigh_and_print(product, sku, pieces, plu, tare)
            finally:
                if tare:
                    await self._clear_tare()
            self.labels += 1
            return sale

    async def _weigh_and_print(self, product: Product, sku: str, pieces: int | None, plu: int | None, tare: int) -> Sale:
        """The scale's stable reading, priced by the session, rendered and printed."""
        try:
            reading = await asyncio.wait_for(self.devices.driver.stable_reading(), STABLE_READ_TIMEOUT_S)
        except (ScaleError, TimeoutError) as err:
            raise StationError("scale_unavailable", f"scale did not give a stable weight: {err or 'timeout'}") from err
        if reading.grams is None or reading.state not in ("ok", "zero"):
            raise StationError("scale_unavailable", f"scale reports {reading.state} ({reading.raw!r})")
        if tare and not reading.net:
            raise StationError("tare_refused", f"scale did not apply the product's tare of {tare} g")
        sale = self.session.confirm(
            product, sku, scale_grams=reading.grams, pieces=pieces, now=self._clock(), plu=plu,
            tared_by_scale=reading.net, scale_tare_g=tare,
        )
        self.changed.set()
        try:
            image = await asyncio.to_thread(render_label, sale.quote, sale.code, sale.layout, packed_at=datetime.now(self._tz))
            await self._print(image)
        except (LabelError, PrinterError) as err:
            self.session.unconfirm(f"label not printed: {err}", "printer_unavailable")
            raise StationError("printer_unavailable", f"label not printed: {err}") from err
        return sale

    async def _preset_tare(self, grams: int) -> None:
        """Have the scale apply the product's container tare, so the net weight is the scale's own."""
        try:
            await asyncio.wait_for(self.devices.driver.preset_tare(grams), STABLE_READ_TIMEOUT_S)
        except (ScaleError, TimeoutError) as err:
            raise StationError("tare_refused", f"scale refused the product's tare of {grams} g: {err or 'timeout'}") from err

    async def _clear_tare(self) -> None:
        """Back to gross after the sale (or its refusal); a failure is logged, the next preset overrides it."""
        try:
            await asyncio.wait_for(self.devices.driver.clear_tare(), STABLE_READ_TIMEOUT_S)
        except (ScaleError, TimeoutError) as err:
            log.warning("scale.tare.clear_failed", scale=self.id, error=str(err) or "timeout")

    async def _open_printer(self) -> None:
        """Open the printer port; a failure is reported in health and retried every PRINTER_RETRY_S (logged once per outage)."""
        self._printer_tried = self._clock()
        try:
            await asyncio.to_thread(self.devices.printer.open)
        except PrinterError as err:
            if self.printer_problem is None:
                log.warning("scale.printer.unavailable", scale=self.id, error=str(err))
            self.printer_problem = str(err)
            self.changed.set()
            return
        self._printer_open = True
        if self.printer_problem is not None:
            log.info("scale.printer.back", scale=self.id)
            self.printer_problem = None
            self.changed.set()

    async def _print(self, image: Any) -> None:
        """Print one label, reopening the port once if it had gone away."""
        if not self._printer_open:
            await self._open_printer()
        try:
            await self.devices.printer.print_image_async(image)
        except PrinterError as err:
            self._printer_open = False
            self.printer_problem = str(err)
            self._printer_tried = self._clock()
            await asyncio.to_thread(self.devices.printer.close)
            raise
        self.printer_problem = None

    # ----- status -------------------------------------------------------------------------
    def devices_state(self) -> dict[str, str]:
        """Each device: `ok`, `unavailable` or `none` (not configured), as the screen and the status page show it."""
        camera = self.devices.camera
        return {
            "scale": "ok" if self.devices.driver.health is Health.CONNECTED else "unavailable",
            "camera": "none" if camera is None else "ok" if camera.health.ok else "unavailable",
            "printer": "ok" if self.printer_problem is None else "unavailable",
        }

    def out_of_service(self) -> str | None:
        """The code of the first unavailable device (scale, camera, printer), or None when the scale can sell."""
        return next((f"{name}_unavailable" for name, state in self.devices_state().items() if state == "unavailable"), None)

    @property
    def healthy(self) -> bool:
        """Scale answering, camera streaming (when configured) and printer usable."""
        return self.out_of_service() is None

    def health(self) -> dict[str, Any]:
        """Snapshot for `status`."""
        camera = self.devices.camera.health if self.devices.camera is not None else None
        return {
            "healthy": self.healthy,
            "phase": self.session.phase.value,
            "grams": self.session.grams,
            "problem": self.session.problem,
            "scale": self.devices.driver.health.value,
            "scale_reason": None if self.devices.driver.health_reason is None else self.devices.driver.health_reason.value,
            "scale_detail": self.devices.driver.health_detail,
            "garbage_frames": self.devices.driver.garbage_count,
            "camera": None if camera is None else {"state": camera.state.value, "frames": camera.frames, "error": camera.last_error},
            "printer": self.printer_problem or "ok",
            "labels": self.labels,
            "devices": self.devices_state(),
            "out_of_service": self.out_of_service() is not None,
            "code": self.out_of_service(),
        }
