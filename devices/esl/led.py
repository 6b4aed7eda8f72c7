"""LED parameters of the ESL LED Control command, in natural units (levels, milliseconds, repeats)."""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

from devices.esl.errors import EslProtocolError

PATTERN_BITS = 40
MAX_REPEATS = 0x7FFF
MAX_PERIOD_MS = 510
BRIGHTNESS_PERCENT = (25, 50, 75, 100)
_LED_PARAMS = struct.Struct("<B5sBBH")


class RepeatType(enum.IntEnum):
    """How Repeats_Duration is counted (bit 0 of the Repeats field)."""

    COUNT = 0
    SECONDS = 1


@dataclass(frozen=True, slots=True)
class LedColor:
    """One Color_Brightness octet: 2-bit red/green/blue levels and a 2-bit brightness (0=25 %..3=100 %)."""

    red: int = 0
    green: int = 0
    blue: int = 0
    brightness: int = 3

    def __post_init__(self) -> None:
        """Reject levels that do not fit in two bits."""
        for name in ("red", "green", "blue", "brightness"):
            if not 0 <= getattr(self, name) <= 3:
                raise EslProtocolError(f"LED {name} level must be 0..3, got {getattr(self, name)}")

    @classmethod
    def from_octet(cls, octet: int) -> LedColor:
        """Split the wire octet into its four 2-bit fields."""
        return cls(octet & 3, (octet >> 2) & 3, (octet >> 4) & 3, (octet >> 6) & 3)

    def to_octet(self) -> int:
        """Pack the four 2-bit fields into the wire octet."""
        return self.red | self.green << 2 | self.blue << 4 | self.brightness << 6

    @property
    def brightness_percent(self) -> int:
        """Brightness as the percentage ESP documents for each level."""
        return BRIGHTNESS_PERCENT[self.brightness]


RED = LedColor(red=3)
GREEN = LedColor(green=3)
BLUE = LedColor(blue=3)
YELLOW = LedColor(red=3, green=3)
CYAN = LedColor(green=3, blue=3)
MAGENTA = LedColor(red=3, blue=3)
WHITE = LedColor(3, 3, 3)


@dataclass(frozen=True, slots=True)
class LedParams:
    """What an LED should do: colour, 40-bit pattern, on/off bit periods (ms) and repeats.

    `repeats == 0` is the steady case: the pattern is ignored and the LED stays off
    (`repeat_type` COUNT) or on (`repeat_type` SECONDS) until the next command.
    """

    color: LedColor
    pattern: int = 0b10
    on_ms: int = 200
    off_ms: int = 200
    repeat_type: RepeatType = RepeatType.COUNT
    repeats: int = 1

    def __post_init__(self) -> None:
        """Enforce the ranges the tag enforces, so a bad request fails before the radio."""
        if not 0 <= self.pattern < 1 << PATTERN_BITS:
            raise EslProtocolError(f"flashing pattern must fit in {PATTERN_BITS} bits")
        if not 0 <= self.repeats <= MAX_REPEATS:
            raise EslProtocolError(f"repeats must be 0..{MAX_REPEATS}, got {self.repeats}")
        steady = self.repeats == 0
        for name in ("on_ms", "off_ms"):
            value = getattr(self, name)
            if value % 2 or not (0 if steady else 2) <= value <= MAX_PERIOD_MS:
                raise EslProtocolError(f"{name} must be even and in 2..{MAX_PERIOD_MS} ms, got {value}")

    @classmethod
    def flash(
        cls, color: LedColor, *, pattern: int = 0b10, on_ms: int = 200, off_ms: int = 200,
        count: int | None = None, seconds: int | None = None,
    ) -> LedParams:
        """A flashing LED for `count` pattern repetitions or for `seconds` (exactly one of them)."""
        if (count is None) == (seconds is None):
            raise EslProtocolError("give exactly one of count or seconds")
        if seconds is not None:
            return cls(color, pattern, on_ms, off_ms, RepeatType.SECONDS, seconds)
        return cls(color, pattern, on_ms, off_ms, RepeatType.COUNT, count or 0)

    @classmethod
    def steady_on(cls, color: LedColor) -> LedParams:
        """LED lit steadily until the next command (Repeats_Duration 0, type 1)."""
        return cls(color, 0, 0, 0, RepeatType.SECONDS, 0)

    @classmethod
    def off(cls) -> LedParams:
        """LED off steadily: the way to stop a running pattern (Repeats_Duration 0, type 0)."""
        return cls(LedColor(brightness=0), 0, 0, 0, RepeatType.COUNT, 0)

    @property
    def is_steady(self) -> bool:
        """True when the pattern is ignored (N = 0)."""
        return self.repeats == 0

    @property
    def lit(self) -> bool:
        """True when the LED shows light at all (a pattern runs, or steady on)."""
        return not self.is_steady or self.repeat_type is RepeatType.SECONDS

    def pattern_ms(self) -> int:
        """Duration of one pass of the pattern, from its leading 1 bit down to bit 0."""
        ones = bin(self.pattern).count("1")
        zeros = self.pattern.bit_length() - ones
        return ones * self.on_ms + zeros * self.off_ms

    def duration_ms(self) -> int | None:
        """How long the LED stays active after the command; None means until the next command."""
        if self.is_steady:
            return None if self.lit else 0
        if self.repeat_type is RepeatType.SECONDS:
            return self.repeats * 1000
        return self.repeats * self.pattern_ms()

    def encode(self) -> bytes:
        """Wire form after LED_Index: colour, pattern (5 octets LE), off period, on period, repeats."""
        return _LED_PARAMS.pack(
            self.color.to_octet(), self.pattern.to_bytes(5, "little"),
            self.off_ms // 2, self.on_ms // 2, self.repeats << 1 | self.repeat_type,
        )

    @classmethod
    def decode(cls, data: bytes) -> LedParams:
        """Parse the 10 octets after LED_Index; invalid values raise EslProtocolError."""
        if len(data) != _LED_PARAMS.size:
            raise EslProtocolError(f"LED parameters need {_LED_PARAMS.size} octets, got {len(data)}")
        color, pattern, off, on, repeats = _LED_PARAMS.unpack(data)
        return cls(
            LedColor.from_octet(color), int.from_bytes(pattern, "little"),
            on * 2, off * 2, RepeatType(repeats & 1), repeats >> 1,
        )
