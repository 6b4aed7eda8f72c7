"""What the ESL access point's scheduler needs from a PAwR train, independent of the HCI that runs it.

`host.PawrAdvertiser` implements `Train` over Bumble's HCI (a dongle or the emulating virtual
controller); `scheduler.PawrScheduler` fills subevents and reads response slots through it. The
layout values are the HCI ones (Core 5.4 Vol 4 Part E §7.8.61 v2), so what a configuration
names is what the controller is given.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class TrainParams:
    """A PAwR train's timing in HCI units; the defaults are Silicon Labs' ESL AP's (esl-radio.md §3).

    Validity (Silicon Labs' rules): subevents x subevent interval <= interval; slot delay <
    subevent interval; slots x spacing <= subevent interval - delay.
    """

    interval: int = 1233  # x 1.25 ms: 1541.25 ms
    num_subevents: int = 28  # one per ESL group
    subevent_interval: int = 44  # x 1.25 ms: 55 ms
    response_slot_delay: int = 30  # x 1.25 ms: 37.5 ms
    response_slot_spacing: int = 6  # x 0.125 ms: 0.75 ms
    num_response_slots: int = 23

    @property
    def interval_s(self) -> float:
        """The periodic interval in seconds."""
        return self.interval * 1.25e-3

    @property
    def subevent_interval_s(self) -> float:
        """Time from one subevent's packet to the next's, in seconds."""
        return self.subevent_interval * 1.25e-3

    @property
    def slot_delay_s(self) -> float:
        """Time from a subevent's packet to its first response slot, in seconds."""
        return self.response_slot_delay * 1.25e-3

    @property
    def slot_spacing_s(self) -> float:
        """Time between response slots, in seconds."""
        return self.response_slot_spacing * 0.125e-3

    def problems(self) -> list[str]:
        """What makes this layout invalid (empty when valid)."""
        found = []
        if not 1 <= self.num_subevents <= 128:
            found.append("num_subevents must be 1..128")
        if not 6 <= self.subevent_interval <= 255:
            found.append("subevent_interval must be 6..255 (x 1.25 ms)")
        if self.num_subevents * self.subevent_interval > self.interval:
            found.append("num_subevents x subevent_interval exceeds the interval")
        if not self.response_slot_delay < self.subevent_interval:
            found.append("response_slot_delay must be shorter than subevent_interval")
        if not 1 <= self.num_response_slots <= 255:
            found.append("num_response_slots must be 1..255")
        if self.num_response_slots * self.response_slot_spacing * 0.125 > (self.subevent_interval - self.response_slot_delay) * 1.25:
            found.append("the response slots do not fit between response_slot_delay and the next subevent")
        return found


@dataclass(frozen=True, slots=True)
class SubeventData:
    """One subevent's packet and the response slots the controller should listen to for it."""

    subevent: int
    response_slot_start: int
    response_slot_count: int
    data: bytes  # the AD structures sent on air (<= 251 octets; ESL: one EAD structure)


@dataclass(frozen=True, slots=True)
class SlotResponse:
    """What one response slot held: its data, or None when nothing was received (Data_Status 0xFF)."""

    slot: int
    data: bytes | None
    rssi: int | None = None


class Train(Protocol):
    """A running PAwR train, as the scheduler uses it.

    The controller asks for subevent data ahead of time (`on_data_request(start, count)`); the
    scheduler answers with `set_subevent_data`. After each subevent whose data asked for
    response slots, `on_response_report(subevent, sent, responses)` reports them: `sent` is
    False when the controller did not transmit the packet. Reports carry no event counter,
    so a subevent's reports arrive in the order its packets were given (a FIFO per subevent).
    """

    params: TrainParams
    on_data_request: Callable[[int, int], None] | None
    on_response_report: Callable[[int, bool, Sequence[SlotResponse]], None] | None

    async def set_subevent_data(self, items: Sequence[SubeventData]) -> None:
        """Give the controller data for the subevents it asked for (raises TransportUnavailable if it refuses)."""
