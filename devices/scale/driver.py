"""Serial scale driver: one coordinator per scale owning the port, polling/streaming, commands and reconnects.

Transport choice: `serial_asyncio_fast` (pyserial underneath) rather than a reader thread. The
port's file descriptor is watched by the event loop itself, so there is no thread to stop, every
wait is an ordinary cancellable await with a timeout, and an unplugged adapter surfaces as the
protocol's `connection_lost` (pyserial turns the pty/USB EIO into SerialException) which drives
the reconnect loop. Opening the port runs in the loop's executor, so nothing blocks the loop.
"""

from __future__ import annotations

import asyncio
import os
import random
import termios
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, Literal

import serial
import serial_asyncio_fast
import structlog

from devices.scale import mtsics, toledo8217
from devices.backoff import Backoff
from devices.reconnect import Reconnect, ReconnectEvents
from devices.scale.errors import CommandRejected, ProtocolError, ScaleUnavailable
from devices.scale.reading import UNITS, Garbage, WeightReading, exact_grams
from devices.scale.toledo8217 import Status

log = structlog.get_logger(__name__)

#: What a failed open of the port raises (pyserial's SerialException; termios.error for refused line settings).
_PORT_ERRORS: tuple[type[BaseException], ...] = (serial.SerialException, OSError, termios.error)
_EVENTS = ReconnectEvents(
    failed="scale.connect.failed", lost="scale.link.lost", restored="scale.connect.restored",
    connected="scale.connected",
)

ProtocolName = Literal["mt-sics", "toledo-8217"]
Mode = Literal["poll", "stream"]


@dataclass(frozen=True, slots=True)
class SerialSettings:
    """Port path and line settings; defaults come from the protocol (MT-SICS 8N1, 8217 7E1, 9600)."""

    port: str
    baudrate: int = 9600
    bytesize: int = 8
    parity: str = serial.PARITY_NONE
    stopbits: float = serial.STOPBITS_ONE


_DEFAULT_LINE: dict[str, dict[str, Any]] = {
    "mt-sics": {"bytesize": serial.EIGHTBITS, "parity": serial.PARITY_NONE},
    "toledo-8217": {"bytesize": serial.SEVENBITS, "parity": serial.PARITY_EVEN},
}


def default_settings(protocol: ProtocolName, port: str, **overrides: Any) -> SerialSettings:
    """The protocol's factory line settings for `port`, with any field overridden."""
    if protocol not in _DEFAULT_LINE:
        raise ValueError(f"unknown scale protocol {protocol!r}")
    base = SerialSettings(port, **_DEFAULT_LINE[protocol])
    return replace(base, **{k: v for k, v in overrides.items() if v is not None})


class Health(StrEnum):
    """Link state published by the coordinator; only CONNECTED readings are current."""

    STOPPED = "stopped"
    RECONNECTING = "reconnecting"
    CONNECTED = "connected"
    UNHEALTHY = "unhealthy"


class HealthReason(StrEnum):
    """Why the scale is UNHEALTHY (`ScaleDriver.health_reason`): the Health values themselves stay as they were."""

    SILENT = "silent"
    UNPARSEABLE = "unparseable"


class _Adapter(ABC):
    """What differs between protocols: framing, the poll command, replies to readings, commands."""

    stream_command: bytes | None = None

    @abstractmethod
    def new_framer(self) -> Any:
        """A fresh framing parser for a new connection."""

    @property
    @abstractmethod
    def poll_command(self) -> bytes:
        """Bytes that ask for the weight once."""

    @abstractmethod
    def is_weight_reply(self, frame: Any) -> bool:
        """Whether a frame answers the poll command."""

    @abstractmethod
    def reading(self, frame: Any, framer: Any) -> WeightReading | None:
        """The WeightReading a frame carries, if any."""

    def unusable(self, frame: Any) -> str | None:
        """Why a reply to the weight request cannot be used (garbage on the line), or None."""
        return frame.reason if isinstance(frame, Garbage) else None

    def unsolicited(self, frame: Any, framer: Any) -> WeightReading | None:
        """A reading from a frame nobody asked for (streamed); none by default."""
        return None


class _MtSicsAdapter(_Adapter):
    """MT-SICS: polled `SI` or streamed `SIR`, commands answered by their own ID."""

    stream_command = mtsics.encode_command("SIR")

    def new_framer(self) -> mtsics.MtSicsFramer:
        """A line framer that also tracks the tare state."""
        return mtsics.MtSicsFramer()

    @property
    def poll_command(self) -> bytes:
        """`SI`: weight immediately, with the S/D stability letter."""
        return mtsics.encode_command("SI")

    def is_weight_reply(self, frame: Any) -> bool:
        """S-family lines and the general error replies answer SI."""
        return isinstance(frame, mtsics.ErrorReply) or getattr(frame, "cmd_id", None) == "S"

    def reading(self, frame: Any, framer: mtsics.MtSicsFramer) -> WeightReading | None:
        """Readings are S lines, marked net when a tare is active."""
        return framer.reading(frame)

    def unsolicited(self, frame: Any, framer: mtsics.MtSicsFramer) -> WeightReading | None:
        """SIR streams S lines without being asked."""
        return framer.reading(frame)

    def unusable(self, frame: Any) -> str | None:
        """Garbage, or a weight in a unit that does not convert to grams (a balance set to lb or oz)."""
        if isinstance(frame, mtsics.WeightReply) and frame.cmd_id == "S" and frame.unit not in UNITS:
            return f"unit {frame.unit!r} is not one of {', '.join(sorted(UNITS))}"
        return super().unusable(frame)


class _Toledo8217Adapter(_Adapter):
    """Toledo 8217: polled `W`; every reply is a weight or a status frame."""

    def new_framer(self) -> toledo8217.Toledo8217Framer:
        """An STX…CR framer masking parity."""
        return toledo8217.Toledo8217Framer()

    @property
    def poll_command(self) -> bytes:
        """`W`: send weight."""
        return toledo8217.WEIGH

    def is_weight_reply(self, frame: Any) -> bool:
        """Weight and status frames both answer W."""
        return isinstance(frame, toledo8217.WeightFrame | toledo8217.StatusFrame)

    def reading(self, frame: Any, framer: Any) -> WeightReading | None:
        """Decode the numeric weight or the status byte."""
        return toledo8217.reading_from(frame)


_ADAPTERS: dict[str, Callable[[], _Adapter]] = {"mt-sics": _MtSicsAdapter, "toledo-8217": _Toledo8217Adapter}
#: Protocol names the driver accepts (for CLIs and config validation).
PROTOCOLS: tuple[str, ...] = tuple(_ADAPTERS)


class _Link(asyncio.Protocol):
    """asyncio protocol glue: bytes go to the driver, loss of the port resolves `lost`."""

    def __init__(self, driver: ScaleDriver) -> None:
        """Bind to the driver that owns the connection."""
        self._driver = driver
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes) -> None:
        """Hand bytes to the driver's framer."""
        self._driver._on_data(data)

    def connection_lost(self, exc: Exception | None) -> None:
        """The port closed or vanished."""
        if not self.lost.done():
            self.lost.set_result(None)


class ScaleDriver:
    """Coordinator for one serial scale: publishes WeightReadings and health; zero/tare/clear commands.

    Readings stop (and `latest` becomes None) as soon as the scale stops answering, so a stale
    weight is never presented as current.
    """

    def __init__(
        self,
        settings: SerialSettings,
        protocol: ProtocolName,
        *,
        mode: Mode = "poll",
        poll_interval: float = 0.2,
        response_timeout: float = 1.0,
        command_timeout: float = 5.0,
        backoff: Backoff = Backoff(initial=0.2, maximum=10.0),
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
        queue_size: int = 256,
        unparseable_after: int = 10,
    ) -> None:
        """Configure; nothing is opened until `start()`.

        After `unparseable_after` unusable replies in a row the scale is UNHEALTHY with reason
        `unparseable` (it answers, but nothing it says is a weight the driver can use).
        """
        if protocol not in _ADAPTERS:
            raise ValueError(f"unknown scale protocol {protocol!r}")
        self.settings = settings
        self.protocol = protocol
        self._adapter = _ADAPTERS[protocol]()
        if mode == "stream" and self._adapter.stream_command is None:
            raise ValueError(f"{protocol} has no streaming mode; use mode='poll'")
        self.mode = mode
        self.poll_interval = poll_interval
        self.response_timeout = response_timeout
        self.command_timeout = command_timeout
        self.unparseable_after = unparseable_after
        self._clock = clock
        self._queue_size = queue_size
        self._log = log.bind(device=settings.port, protocol=protocol)
        self._reconnect = Reconnect(
            settings.port, _EVENTS, policy=backoff, clock=clock, rng=rng or random.Random(), logger=self._log
        )
        self._health = Health.STOPPED
        self._reason: HealthReason | None = None
        self._detail: str | None = None
        self._unusable_in_row = 0
        self._health_changed = asyncio.Event()
        self._latest: WeightReading | None = None
        self._queues: set[asyncio.Queue[WeightReading]] = set()
        self._listeners: list[Callable[[WeightReading], None]] = []
        self._task: asyncio.Task[None] | None = None
        self._transport: asyncio.Transport | None = None
        self._framer: Any = None
        self._io_lock = asyncio.Lock()
        self._pending: tuple[Callable[[Any], bool], asyncio.Future[Any]] | None = None
        self._last_rx = -float("inf")
        self.garbage_count = 0

    # ----- public state -------------------------------------------------------------------
    @property
    def health(self) -> Health:
        """Current link health."""
        return self._health

    @property
    def health_reason(self) -> HealthReason | None:
        """Why the scale is UNHEALTHY (`silent` or `unparseable`); None in any other state."""
        return self._reason if self._health is Health.UNHEALTHY else None

    @property
    def health_detail(self) -> str | None:
        """One line for people about `health_reason`, e.g. the last reply that could not be used."""
        return self._detail if self._health is Health.UNHEALTHY else None

    @property
    def latest(self) -> WeightReading | None:
        """The last reading while the scale is answering; None otherwise (never stale)."""
        return self._latest if self._health is Health.CONNECTED else None

    async def wait_health(self, *states: Health) -> Health:
        """Wait until health is one of `states` (callers bound it with a timeout)."""
        while self._health not in states:
            self._health_changed.clear()
            await self._health_changed.wait()
        return self._health

    def add_listener(self, callback: Callable[[WeightReading], None]) -> Callable[[], None]:
        """Call `callback` (on the loop) for every reading; returns the function that removes it."""
        self._listeners.append(callback)
        return lambda: self._listeners.remove(callback)

    async def readings(self) -> AsyncIterator[WeightReading]:
        """Every reading from now on; a slow consumer loses the oldest ones, never blocks the driver."""
        queue: asyncio.Queue[WeightReading] = asyncio.Queue(self._queue_size)
        self._queues.add(queue)
        try:
            while True:
                yield await queue.get()
        finally:
            self._queues.discard(queue)

    # ----- lifetime -----------------------------------------------------------------------
    async def start(self) -> None:
        """Start the named connection task (reconnects by itself)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"scale:{self.settings.port}")
            self._task.add_done_callback(self._on_task_done)

    def _on_task_done(self, task: asyncio.Task[None]) -> None:
        """A bug must not die silently: log the traceback and publish STOPPED for the supervisor."""
        if not task.cancelled() and task.exception() is not None:
            self._log.error("scale.task.crashed", exc_info=task.exception())
            self._close_transport()
            self._set_health(Health.STOPPED)

    async def stop(self) -> None:
        """Stop the task and close the port."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait([self._task])
            self._task = None
        self._close_transport()
        self._set_health(Health.STOPPED)

    async def __aenter__(self) -> ScaleDriver:
        """Start on entering `async with`."""
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        """Stop on leaving it."""
        await self.stop()

    # ----- commands -----------------------------------------------------------------------
    async def zero(self) -> None:
        """Zero the scale; CommandRejected when outside the zero range, busy or tared."""
        if self.protocol == "mt-sics":
            reply = await self._command(mtsics.encode_command("Z"), "Z")
            if not (isinstance(reply, mtsics.StatusReply) and reply.status == "A"):
                raise CommandRejected("Z", reply.raw)
            return
        frame = await self._command(toledo8217.ZERO, None)
        if Status.ZERO_ERROR in frame.status:
            raise CommandRejected("Z", frame.raw)

    async def tare(self) -> int | None:
        """Tare the load on the platter; returns the tare in grams when the protocol reports it."""
        if self.protocol == "mt-sics":
            reply = await self._command(mtsics.encode_command("T"), "T")
            if not isinstance(reply, mtsics.WeightReply):
                raise CommandRejected("T", reply.raw)
            return exact_grams(reply.value, reply.unit)
        frame = await self._command(toledo8217.TARE, None)
        if Status.NET not in frame.status:
            raise CommandRejected("T", frame.raw)
        return None

    async def preset_tare(self, grams: int) -> None:
        """Preset a container tare (per-PLU bag/box), so the scale itself reports the net weight."""
        if grams < 0:
            raise ValueError("tare cannot be negative")
        if self.protocol == "mt-sics":
            kg = f"{grams / 1000:.3f}"
            reply = await self._command(mtsics.encode_command("TA", kg, "kg"), "TA")
            if not isinstance(reply, mtsics.WeightReply):
                raise CommandRejected("TA", reply.raw)
            return
        frame = await self._command(toledo8217.preset_tare(grams), None)
        if grams and Status.NET not in frame.status:
            raise CommandRejected("T", frame.raw)

    async def clear_tare(self) -> None:
        """Clear the tare; CommandRejected when the scale refuses (8217: not stable)."""
        if self.protocol == "mt-sics":
            reply = await self._command(mtsics.encode_command("TAC"), "TAC")
            if not (isinstance(reply, mtsics.StatusReply) and reply.status == "A"):
                raise CommandRejected("TAC", reply.raw)
            return
        frame = await self._command(toledo8217.CLEAR_TARE, None)
        if Status.NET in frame.status:
            raise CommandRejected("C", frame.raw)

    async def stable_reading(self) -> WeightReading:
        """The stable weight the scale itself vouches for (the value that may go on a label)."""
        deadline = self._clock() + self.command_timeout
        while True:
            if self.protocol == "mt-sics":
                reply = await self._command(mtsics.encode_command("S"), "S")
                reading = self._framer.reading(reply) if self._framer else None
                if reading is None:
                    raise CommandRejected("S", reply.raw)
                return reading
            reading = toledo8217.reading_from(await self._command(toledo8217.WEIGH, None))
            if reading is not None and reading.stable and reading.grams is not None:
                return reading
            if reading is not None and reading.state in ("overload", "underload"):
                raise CommandRejected("W", reading.raw)
            if self._clock() > deadline:
                raise ScaleUnavailable("scale did not settle in time")
            await asyncio.sleep(self.poll_interval)

    async def _command(self, data: bytes, cmd_id: str | None) -> Any:
        """Send a command and wait for its reply; ES/EL raise ProtocolError, ET is retried once."""
        if self.protocol == "mt-sics":

            def accept(frame: Any) -> bool:
                """MT-SICS replies carry the command's ID; general errors answer any command."""
                return isinstance(frame, mtsics.ErrorReply) or getattr(frame, "cmd_id", None) == cmd_id
        else:

            def accept(frame: Any) -> bool:
                """8217 answers Z/T/C (and W) with the next weight or status frame."""
                return isinstance(frame, toledo8217.StatusFrame | toledo8217.WeightFrame)

        for attempt in (1, 2):
            try:
                reply = await self._request(data, accept, self.command_timeout)
            except TimeoutError as err:
                raise ScaleUnavailable(f"no reply to {data!r} within {self.command_timeout} s") from err
            finally:
                await self._resume_stream()
            if not isinstance(reply, mtsics.ErrorReply):
                return reply
            if reply.code != "ET" or attempt == 2:
                raise ProtocolError(f"{data!r} → {reply.code} ({reply.meaning})")
            self._log.warning("scale.transmission_error", command=data)
        raise AssertionError("unreachable")

    async def _resume_stream(self) -> None:
        """After a command, restart SIR (a weighing command stops it)."""
        if self.mode == "stream" and self._transport is not None:
            self._transport.write(self._adapter.stream_command or b"")

    # ----- connection loop ----------------------------------------------------------------
    async def _run(self) -> None:
        """Open, serve, and on failure reconnect with the shared policy (devices.reconnect: WARNING once, DEBUG)."""
        await self._reconnect.run(self._connect, self._session, retry_on=_PORT_ERRORS)

    async def _connect(self) -> _Link:
        """One attempt to open the port; a failure publishes RECONNECTING."""
        try:
            return await self._open()
        except _PORT_ERRORS:
            self._set_health(Health.RECONNECTING)
            raise

    async def _session(self, link: _Link) -> str:
        """Serve one connection until the port is lost; returns why it ended."""
        try:
            await self._serve(link)
        finally:
            self._close_transport()
        self._set_health(Health.RECONNECTING)
        return "port lost"

    async def _open(self) -> _Link:
        """Open the port with the configured line settings."""
        s = self._line_settings()
        self._framer = self._adapter.new_framer()
        loop = asyncio.get_running_loop()
        transport, link = await serial_asyncio_fast.create_serial_connection(
            loop,
            lambda: _Link(self),
            s.port,
            baudrate=s.baudrate,
            bytesize=s.bytesize,
            parity=s.parity,
            stopbits=s.stopbits,
        )
        self._transport = transport  # type: ignore[assignment]
        self._last_rx = self._clock()
        return link  # type: ignore[return-value]

    def _line_settings(self) -> SerialSettings:
        """The settings for the port's current target; a pseudo-terminal gets 8N1 (Linux ptys reject 7E1).

        The symlink is resolved once and the target is opened, so a link replugged between the
        check and the open cannot get the wrong settings. (A pty carries bytes, not UART frames:
        the 8217 framer masks bit 7 either way.)
        """
        target = os.path.realpath(self.settings.port)
        if target.startswith("/dev/pts/"):
            return replace(self.settings, port=target, bytesize=serial.EIGHTBITS, parity=serial.PARITY_NONE)
        return self.settings

    def _close_transport(self) -> None:
        """Close the port and fail any waiting command."""
        if self._transport is not None:
            self._transport.close()
            self._transport = None
        if self._pending is not None and not self._pending[1].done():
            self._pending[1].set_exception(ScaleUnavailable("scale port closed"))

    async def _serve(self, link: _Link) -> None:
        """Poll (or watch the stream) until the port is lost."""
        self._set_health(Health.CONNECTED)
        poller = asyncio.create_task(self._poll_loop(), name=f"scale-poll:{self.settings.port}")
        try:
            done, _ = await asyncio.wait({link.lost, poller}, return_when=asyncio.FIRST_COMPLETED)
            if poller in done and not poller.cancelled():
                error = poller.exception()
                if not isinstance(error, ScaleUnavailable):
                    raise RuntimeError("scale poller stopped") from error  # a bug: surface it
        finally:
            poller.cancel()
            try:
                await poller
            except (asyncio.CancelledError, ScaleUnavailable):
                pass

    async def _poll_loop(self) -> None:
        """Ask for the weight every poll_interval (or keep the SIR stream alive) and judge freshness."""
        if self.protocol == "mt-sics":
            await self._sync_tare_state()
        if self.mode == "stream":
            await self._resume_stream()
        while True:
            started = self._clock()
            if self.mode == "poll":
                try:
                    frame = await self._request(self._adapter.poll_command, self._is_poll_reply, self.response_timeout)
                except TimeoutError:
                    self._mark_silent()
                else:
                    self._judge(frame)
            elif self._clock() - self._last_rx > self.response_timeout:
                self._mark_silent()
                await self._resume_stream()
            await asyncio.sleep(max(0.0, self.poll_interval - (self._clock() - started)))

    def _judge(self, frame: Any) -> None:
        """One reply to the weight request: a reading to publish, or one more unusable reply (then ask again after the interval)."""
        problem = self._adapter.unusable(frame)
        if problem is not None:
            self._mark_unusable(frame, problem)
            return
        self._mark_alive()
        reading = self._adapter.reading(frame, self._framer)
        if reading is not None:
            self._emit(reading)
        elif isinstance(frame, mtsics.ErrorReply):
            self._log.warning("scale.poll.error", reply=frame.raw)

    def _is_poll_reply(self, frame: Any) -> bool:
        """A poll is answered by a weight reply, or by garbage (a reply mangled on the line)."""
        return isinstance(frame, Garbage) or self._adapter.is_weight_reply(frame)

    async def _sync_tare_state(self) -> None:
        """Ask MT-SICS for its tare (`TA`) after connecting, so readings are marked net correctly."""
        try:
            await self._request(
                mtsics.encode_command("TA"), lambda f: getattr(f, "cmd_id", None) == "TA", self.response_timeout
            )
        except TimeoutError:
            self._log.debug("scale.tare_query.unanswered")

    async def _request(self, data: bytes, accept: Callable[[Any], bool], timeout: float) -> Any:
        """One request/response exchange at a time; the reply is the first frame `accept` takes."""
        async with asyncio.timeout(timeout):
            while self._transport is None:
                if self._task is None:
                    raise ScaleUnavailable("scale driver is not started")
                await self.wait_health(Health.CONNECTED, Health.UNHEALTHY)
            async with self._io_lock:
                if self._transport is None:
                    raise ScaleUnavailable("scale port closed")
                future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
                self._pending = (accept, future)
                try:
                    self._transport.write(data)
                    return await future
                finally:
                    self._pending = None

    # ----- inbound ------------------------------------------------------------------------
    def _on_data(self, data: bytes) -> None:
        """Frame the bytes; route replies to the waiting request, streamed readings to subscribers."""
        for frame in self._framer.feed(data):
            pending = self._pending
            self._last_rx = self._clock()
            if isinstance(frame, Garbage):
                self.garbage_count += 1
                self._log.debug("scale.garbage", data=frame.data, reason=frame.reason)
            if pending is not None and not pending[1].done() and pending[0](frame):
                pending[1].set_result(frame)
                continue
            if self.mode != "stream":
                continue
            if isinstance(frame, Garbage) or self._adapter.unsolicited(frame, self._framer) is not None:
                self._judge(frame)  # a streamed line: the same judgement as a polled reply

    def _emit(self, reading: WeightReading) -> None:
        """Publish one reading to `latest`, listeners and iterators."""
        self._latest = reading
        for callback in list(self._listeners):
            callback(reading)
        for queue in self._queues:
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(reading)

    def _mark_alive(self) -> None:
        """The scale answered with something usable: healthy again."""
        self._unusable_in_row = 0
        if self._health is Health.UNHEALTHY:
            self._log.info("scale.answering", was=self._reason)
        self._set_health(Health.CONNECTED)

    def _mark_silent(self) -> None:
        """The scale stopped answering: unhealthy, and forget the last weight."""
        if self._health is Health.CONNECTED:
            self._log.warning("scale.silent", timeout=self.response_timeout)
        self._unusable_in_row = 0
        self._latest = None
        self._reason, self._detail = HealthReason.SILENT, f"no reply within {self.response_timeout} s"
        self._set_health(Health.UNHEALTHY)

    def _mark_unusable(self, frame: Any, problem: str) -> None:
        """One more reply that cannot be used; after `unparseable_after` in a row the scale is UNHEALTHY (unparseable)."""
        self._unusable_in_row += 1
        if self._unusable_in_row < self.unparseable_after:
            return
        raw = frame.data if isinstance(frame, Garbage) else getattr(frame, "raw", "")
        detail = f"{self._unusable_in_row} replies in a row not understood, last {raw!r}: {problem}"
        if self._reason is not HealthReason.UNPARSEABLE or self._health is not Health.UNHEALTHY:
            self._log.warning("scale.unparseable", replies=self._unusable_in_row, reply=raw, problem=problem)
        self._latest = None
        self._reason, self._detail = HealthReason.UNPARSEABLE, detail
        self._set_health(Health.UNHEALTHY)

    def _set_health(self, health: Health) -> None:
        """Change health and wake waiters."""
        if health is not self._health:
            self._health = health
            self._health_changed.set()
            if health is not Health.CONNECTED:
                self._latest = None
