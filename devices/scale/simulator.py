"""Scale simulators on a real pty: a load-cell model answering MT-SICS or Toledo 8217 like the device.

The physical model (items placed/removed, damped oscillation until settled, vibration, zero drift,
capacity and division) runs on simulated time = real time × `time_scale`, so tests can settle a
load in milliseconds. Randomness (vibration, line noise) comes from one seeded generator.
"""

from __future__ import annotations

import math
import random
import threading
import time
from abc import abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from devices.scale import mtsics, toledo8217
from devices.scale.mtsics import MtSicsCommandFramer
from devices.pty import PtyDevice
from devices.scale.reading import Garbage
from devices.scale.toledo8217 import Status

#: Grams per avoirdupois pound, for scales set to lb.
GRAMS_PER_LB = Decimal("453.59237")
_DECIMALS = {"kg": 3, "g": 0, "lb": 2}


def in_unit(grams: int, unit: str) -> Decimal:
    """A weight in grams as the indicator shows it in `unit` (kg, g or lb), rounded to the unit's decimals."""
    if unit not in _DECIMALS:
        raise ValueError(f"unknown weighing unit {unit!r}")
    factor = {"kg": Decimal(1000), "g": Decimal(1), "lb": GRAMS_PER_LB}[unit]
    return (Decimal(grams) / factor).quantize(Decimal(1).scaleb(-_DECIMALS[unit]))


@dataclass(frozen=True, slots=True)
class Sample:
    """What the indicator would display now: gross/net rounded to the division, and its flags."""

    gross: int
    net: int
    tare: int
    motion: bool
    overload: bool
    underload: bool
    centre_of_zero: bool


class ScaleModel:
    """A load cell and its indicator: load, damped settling, vibration, drift, zero, tare, limits."""

    def __init__(
        self,
        *,
        capacity_g: int = 15_000,
        division_g: int = 5,
        settle_s: float = 0.8,
        oscillation_hz: float = 3.0,
        vibration_g: float = 0.0,
        drift_g_per_s: float = 0.0,
        zero_range_pct: float = 2.0,
        seed: int = 0,
        time_scale: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Configure the instrument; every field maps to a physical or metrological property."""
        self.capacity_g = capacity_g
        self.division_g = division_g
        self.settle_s = settle_s
        self.oscillation_hz = oscillation_hz
        self.vibration_g = vibration_g
        self.drift_g_per_s = drift_g_per_s
        self.zero_range_g = capacity_g * zero_range_pct / 100
        self.time_scale = time_scale
        self._clock = clock
        self._t0 = clock()
        self._rng = random.Random(seed)
        self._lock = threading.RLock()
        self._items: list[int] = []
        self._step = 0.0
        self._changed_at = -math.inf
        self._zero_offset = 0.0
        self._tare = 0

    def now(self) -> float:
        """Simulated seconds since start."""
        return (self._clock() - self._t0) * self.time_scale

    @property
    def load(self) -> int:
        """True mass on the platter (grams)."""
        return sum(self._items)

    def place(self, grams: int) -> None:
        """Put an item on the platter: the reading jumps and oscillates until it settles."""
        with self._lock:
            self._items.append(grams)
            self._kick(grams)

    def replace(self, grams: int) -> None:
        """Lift whatever is on the platter and put one item of `grams` on it, in one move."""
        with self._lock:
            before = self.load
            self._items = [grams]
            self._kick(grams - before)

    def remove(self) -> None:
        """Take the last placed item off (no-op on an empty platter)."""
        with self._lock:
            if self._items:
                self._kick(-self._items.pop())

    def clear(self) -> None:
        """Take everything off."""
        with self._lock:
            if self._items:
                self._kick(-self.load)
                self._items.clear()

    def _kick(self, delta: int) -> None:
        """Start a new damped oscillation of amplitude |delta| around the new load."""
        self._step = float(delta)
        self._changed_at = self.now()

    def _raw_gross(self, t: float) -> float:
        """Analogue gross weight at time t, before the zero offset and the division rounding."""
        since = t - self._changed_at
        swing = 0.0
        if since < self.settle_s:
            envelope = -self._step * math.exp(-5.0 * since / self.settle_s)
            swing = envelope * math.cos(2 * math.pi * self.oscillation_hz * since)
        noise = self._rng.gauss(0.0, self.vibration_g) if self.vibration_g else 0.0
        return self.load + swing + noise + self.drift_g_per_s * t

    def _round(self, grams: float) -> int:
        """Round to the display division, as the indicator does."""
        return int(round(grams / self.division_g)) * self.division_g

    def sample(self) -> Sample:
        """The current display: settled only once the swing is gone and vibration is under d/2."""
        with self._lock:
            t = self.now()
            gross = self._round(self._raw_gross(t) - self._zero_offset)
            motion = t - self._changed_at < self.settle_s or self.vibration_g * 2 > self.division_g
            return Sample(
                gross=gross,
                net=gross - self._tare,
                tare=self._tare,
                motion=motion,
                overload=gross > self.capacity_g + 9 * self.division_g,
                underload=gross < -20 * self.division_g,
                centre_of_zero=abs(gross) * 4 < self.division_g,
            )

    def zero(self) -> str:
        """Set zero: 'ok', or 'above'/'below' when outside the zero-setting range (±2 % by default)."""
        with self._lock:
            offset = self._raw_gross(self.now()) - self._zero_offset
            if offset > self.zero_range_g:
                return "above"
            if offset < -self.zero_range_g:
                return "below"
            self._zero_offset += offset
            return "ok"

    def tare(self) -> int | None:
        """Store the current gross as tare; None when negative or beyond capacity."""
        with self._lock:
            gross = self.sample().gross
            if gross < 0 or gross > self.capacity_g:
                return None
            self._tare = gross
            return gross

    def preset_tare(self, grams: int) -> int | None:
        """Preset tare rounded to the division; None when out of range."""
        with self._lock:
            if not 0 <= grams <= self.capacity_g:
                return None
            self._tare = self._round(grams)
            return self._tare

    def clear_tare(self) -> None:
        """Forget the tare."""
        with self._lock:
            self._tare = 0


class ScaleSimulator(PtyDevice):
    """A protocol front-end for a ScaleModel, served on a pty from a background thread."""

    def __init__(
        self,
        model: ScaleModel | None = None,
        *,
        path: str | Path | None = None,
        seed: int = 0,
        garbage_rate: float = 0.0,
    ) -> None:
        """Open the pty now (the port exists immediately); `start()` begins answering."""
        super().__init__(path, "ttySCALE")
        self.model = model or ScaleModel(seed=seed)
        self.silent = False
        self.garbage_rate = garbage_rate
        self.received = bytearray()
        self._rng = random.Random(seed + 1)

    def unplug(self) -> None:
        """Pull the cable: the port path disappears and the driver's reads fail."""
        self.port.unplug()
        self._reset_line()

    def replug(self) -> None:
        """Plug it back: same path, new pty."""
        self.port.plug()

    def inject(self, data: bytes) -> None:
        """Put raw bytes on the line (noise, half frames) right now."""
        self.port.write(data)

    def send(self, data: bytes) -> None:
        """Send a reply, occasionally preceded by seeded line noise, unless the scale is silent."""
        if self.silent:
            return
        if self.garbage_rate and self._rng.random() < self.garbage_rate:
            noise = bytes(self._rng.randrange(0x20, 0x7F) for _ in range(self._rng.randint(1, 6)))
            self.port.write(self._line_bytes(noise))
        self.port.write(self._line_bytes(data))

    def _line_bytes(self, data: bytes) -> bytes:
        """Hook for line-level encoding (7-bit masking for 8217)."""
        return data

    def _serve(self) -> None:
        """Read host bytes, answer them, run periodic duties, until stopped."""
        while not self._stop.is_set():
            data = self.port.read(0.005)
            if data and not self.silent:
                self.received += data
                self._on_bytes(data)
            self._tick()

    @abstractmethod
    def _on_bytes(self, data: bytes) -> None:
        """Handle bytes from the host."""

    def _tick(self) -> None:
        """Periodic work (streams, commands waiting for stability); nothing by default."""

    def _reset_line(self) -> None:
        """Forget partial input and streams when the cable is pulled."""


class MtSicsSimulator(ScaleSimulator):
    """An MT-SICS level 0/1 balance: answers S/SI/SIR/Z/ZI/T/TI/TA/TAC/@/I0–I5 per the reference."""

    LEVEL0 = ("@", "I0", "I1", "I2", "I3", "I4", "I5", "S", "SI", "SIR", "Z", "ZI")
    LEVEL1 = ("T", "TI", "TA", "TAC")

    def __init__(
        self,
        model: ScaleModel | None = None,
        *,
        unit: str = "kg",
        stability_timeout_s: float = 3.0,
        update_interval_s: float = 0.1,
        serial_number: str = "0123456789",
        **kwargs: object,
    ) -> None:
        """`unit` is unit 1 (`g`, `kg`, or `lb` as a scale set to pounds); timeouts and update rate are in simulated seconds."""
        super().__init__(model, **kwargs)  # type: ignore[arg-type]
        self.unit = unit
        self.stability_timeout_s = stability_timeout_s
        self.update_interval_s = update_interval_s
        self.serial_number = serial_number
        self._framer = MtSicsCommandFramer()
        self._streaming = False
        self._next_stream = 0.0
        self._waiting: list[tuple[str, float]] = []

    def _value(self, grams: int) -> Decimal:
        """Grams expressed in unit 1."""
        return in_unit(grams, self.unit)

    def _decimals(self) -> int:
        """Display decimals of unit 1."""
        return _DECIMALS[self.unit]

    def _grams(self, value: str, unit: str) -> int | None:
        """Parse a `TA <value> <unit>` parameter into grams; None when unusable."""
        try:
            number = Decimal(value)
        except ArithmeticError:
            return None
        factor = {"g": 1, "kg": 1000}.get(unit)
        return None if factor is None or not number.is_finite() else int(number * factor)

    def _weight(self, cmd_id: str, status: str, grams: int) -> bytes:
        """Encode a weight reply in unit 1."""
        return mtsics.encode_weight_reply(cmd_id, status, self._value(grams), self.unit, self._decimals())

    def _weight_now(self) -> bytes:
        """The answer to SI / one SIR line."""
        s = self.model.sample()
        if s.overload:
            return mtsics.encode_status_reply("S", "+")
        if s.underload:
            return mtsics.encode_status_reply("S", "-")
        return self._weight("S", "D" if s.motion else "S", s.net)

    def _on_bytes(self, data: bytes) -> None:
        """Dispatch complete command lines; a corrupted line gets ET."""
        for item in self._framer.feed(data):
            if isinstance(item, Garbage):
                self.send(b"ET\r\n")
            else:
                self._command(item)

    def _command(self, tokens: tuple[str, ...]) -> None:
        """Answer one command exactly as the reference table says."""
        cmd, params = tokens[0], tokens[1:]
        if cmd not in self.LEVEL0 + self.LEVEL1:
            self.send(b"ES\r\n")
            return
        if params and cmd != "TA":
            self.send(b"EL\r\n")
            return
        if cmd in ("S", "SI", "SIR", "@"):
            self._streaming = False
        if cmd == "@":
            self._waiting.clear()
            self.send(mtsics.encode_status_reply("I4", "A", f'"{self.serial_number}"'))
        elif cmd == "I0":
            commands = self.LEVEL0 + self.LEVEL1
            for index, name in enumerate(commands):
                level = 0 if name in self.LEVEL0 else 1
                status = "A" if index == len(commands) - 1 else "B"
                self.send(mtsics.encode_status_reply("I0", status, str(level), f'"{name}"'))
        elif cmd == "I1":
            self.send(mtsics.encode_status_reply("I1", "A", '"01"', '"2.20"', '"2.20"', '""', '""'))
        elif cmd == "I2":
            cap = f"{self._value(self.model.capacity_g):.{self._decimals()}f}"
            self.send(mtsics.encode_status_reply("I2", "A", f'"SIM-SICS {cap} {self.unit}"'))
        elif cmd in ("I3", "I4", "I5"):
            value = {"I3": "1.0.0", "I4": self.serial_number, "I5": "SIMSW-1"}[cmd]
            self.send(mtsics.encode_status_reply(cmd, "A", f'"{value}"'))
        elif cmd == "SI":
            self.send(self._weight_now())
        elif cmd == "SIR":
            self._streaming = True
            self._next_stream = 0.0
        elif cmd in ("S", "Z", "T"):
            self._waiting.append((cmd, self.model.now() + self.stability_timeout_s))
        elif cmd == "ZI":
            motion = self.model.sample().motion
            result = self.model.zero()
            self.send(mtsics.encode_status_reply("ZI", {"ok": "D" if motion else "S", "above": "+", "below": "-"}[result]))
        elif cmd == "TI":
            s = self.model.sample()
            tare = self.model.tare()
            if tare is None:
                self.send(mtsics.encode_status_reply("TI", "+" if s.gross > 0 else "-"))
            else:
                self.send(self._weight("TI", "D" if s.motion else "S", tare))
        elif cmd == "TA":
            self._preset_tare(params)
        elif cmd == "TAC":
            self.model.clear_tare()
            self.send(mtsics.encode_status_reply("TAC", "A"))

    def _preset_tare(self, params: tuple[str, ...]) -> None:
        """TA alone queries the tare; TA <value> <unit> presets it (TA L on a bad parameter)."""
        if not params:
            self.send(self._weight("TA", "A", self.model.sample().tare))
            return
        grams = self._grams(*params) if len(params) == 2 else None
        tare = None if grams is None else self.model.preset_tare(grams)
        if tare is None:
            self.send(mtsics.encode_status_reply("TA", "L"))
        else:
            self.send(self._weight("TA", "A", tare))

    def _tick(self) -> None:
        """Stream SIR lines at the update rate; finish S/Z/T once stable or time out with `I`."""
        now = self.model.now()
        if self._streaming and now >= self._next_stream:
            self._next_stream = now + self.update_interval_s
            self.send(self._weight_now())
        if not self._waiting:
            return
        sample = self.model.sample()
        still: list[tuple[str, float]] = []
        for cmd, deadline in self._waiting:
            if not sample.motion:
                self._stable_command(cmd, sample)
            elif now >= deadline:
                self.send(mtsics.encode_status_reply(cmd, "I"))
            else:
                still.append((cmd, deadline))
        self._waiting = still

    def _stable_command(self, cmd: str, sample: Sample) -> None:
        """Answer S, Z or T now that the load is stable."""
        if cmd == "S":
            if sample.overload or sample.underload:
                self.send(mtsics.encode_status_reply("S", "+" if sample.overload else "-"))
            else:
                self.send(self._weight("S", "S", sample.net))
        elif cmd == "Z":
            result = self.model.zero()
            self.send(mtsics.encode_status_reply("Z", {"ok": "A", "above": "+", "below": "-"}[result]))
        else:
            tare = self.model.tare()
            if tare is None:
                self.send(mtsics.encode_status_reply("T", "+" if sample.gross > 0 else "-"))
            else:
                self.send(self._weight("T", "S", tare))

    def _reset_line(self) -> None:
        """A pulled cable drops the stream and any half command."""
        self._streaming = False
        self._waiting.clear()
        self._framer = MtSicsCommandFramer()


class Toledo8217Simulator(ScaleSimulator):
    """A Toledo 8217 POS scale: W/Z/T/T nnnnn CR/C/A/B/E…F, status byte, 7-bit characters only."""

    def __init__(
        self,
        model: ScaleModel | None = None,
        *,
        parity_in_bit7: bool = False,
        tare_delay_s: float = 0.15,
        unit: str = "kg",
        **kwargs: object,
    ) -> None:
        """`parity_in_bit7` sets bit 7 to even parity, as a 7E1 frame read by an 8-bit host looks; `unit` kg or lb (`WW.WW`)."""
        super().__init__(model, **kwargs)  # type: ignore[arg-type]
        self.parity_in_bit7 = parity_in_bit7
        self.unit = unit
        self.tare_delay_s = tare_delay_s
        self._pending = bytearray()
        self._pending_since = 0.0
        self._echo = False
        self._tare_due: float | None = None
        self._zero_due = False

    def _line_bytes(self, data: bytes) -> bytes:
        """Emit 7-bit characters; optionally put even parity in bit 7."""
        out = bytearray()
        for byte in data:
            byte &= 0x7F
            if self.parity_in_bit7 and bin(byte).count("1") % 2:
                byte |= 0x80
            out.append(byte)
        return bytes(out)

    def _status(self, sample: Sample) -> Status:
        """The status byte for the current display."""
        flags = Status.ALWAYS
        if sample.motion:
            flags |= Status.MOTION
        if sample.overload:
            flags |= Status.OVER_CAPACITY
        if sample.gross < 0:
            flags |= Status.UNDER_ZERO
        if sample.centre_of_zero:
            flags |= Status.CENTER_OF_ZERO
        if sample.tare:
            flags |= Status.NET
        return flags

    def _on_bytes(self, data: bytes) -> None:
        """Queue host bytes (bit 7 masked) and consume whole commands."""
        self._pending += bytes(b & 0x7F for b in data)
        self._pending_since = self.model.now()
        self._consume(final=False)

    def _consume(self, final: bool) -> None:
        """Run complete commands; a lone trailing `T` waits briefly for preset digits."""
        while self._pending:
            char = chr(self._pending[0])
            if self._echo:
                del self._pending[0]
                if char == "F":
                    self._echo = False
                else:
                    self.send(char.encode("ascii"))
                continue
            if char == "T":
                if len(self._pending) == 1 and not final:
                    return
                if len(self._pending) > 1 and chr(self._pending[1]).isdigit():
                    end = self._pending.find(b"\r")
                    if end < 0:
                        return
                    digits = bytes(self._pending[1:end]).decode("ascii")
                    del self._pending[: end + 1]
                    self._preset(digits)
                    continue
            del self._pending[0]
            self._command(char)

    def _preset(self, digits: str) -> None:
        """Digital tare `T ddddd CR` in implied `WW.WWW` kg."""
        if len(digits) == 5 and digits.isdigit():
            self.model.preset_tare(int(digits))
        self.send(toledo8217.encode_status(self._status(self.model.sample())))

    def _command(self, char: str) -> None:
        """Answer one single-letter command."""
        sample = self.model.sample()
        if char == "W":
            valid = not (sample.motion or sample.overload or sample.gross < 0)
            if valid:
                self.send(toledo8217.encode_weight(in_unit(sample.net, self.unit), bool(sample.tare), self.unit))
            else:
                self.send(toledo8217.encode_status(self._status(sample)))
        elif char == "Z":
            self._zero(sample)
        elif char == "T":
            self._tare_due = self.model.now() + self.tare_delay_s
        elif char == "C":
            if not sample.motion:
                self.model.clear_tare()
            self.send(toledo8217.encode_status(self._status(self.model.sample())))
        elif char == "A":
            self.send(b"\x02\r")
        elif char == "B":
            self.send(b"\x02?@\r")
        elif char == "E":
            self._echo = True
            self.send(b"\x02E\r")

    def _zero(self, sample: Sample) -> None:
        """Zero if no tare and within range; taken at once if stable, else on the next stable reading."""
        if sample.tare or abs(sample.gross) > self.model.zero_range_g:
            self.send(toledo8217.encode_status(self._status(sample) | Status.ZERO_ERROR))
            return
        if sample.motion:
            self._zero_due = True
        else:
            self.model.zero()
        self.send(toledo8217.encode_status(self._status(self.model.sample())))

    def _tick(self) -> None:
        """Finish a delayed tare, a deferred zero, and a lone `T` that got no digits."""
        now = self.model.now()
        if self._pending and now - self._pending_since > 0.05 * self.model.time_scale:
            self._consume(final=True)
        sample = self.model.sample()
        if self._zero_due and not sample.motion:
            self._zero_due = False
            self.model.zero()
        if self._tare_due is not None and now >= self._tare_due:
            self._tare_due = None
            if not sample.motion and sample.gross > 0:
                self.model.tare()
            self.send(toledo8217.encode_status(self._status(self.model.sample())))

    def _reset_line(self) -> None:
        """A pulled cable drops half commands and the echo mode."""
        self._pending.clear()
        self._echo = False
        self._tare_due = None
