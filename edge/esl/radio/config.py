"""Configuration of the radio: which backend (simulated fleet, bleak in connected mode, PAwR on Bumble), its settings."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from devices.esl.bumble.train import TrainParams

from edge.esl.frozen import Frozen

BackendName = Literal["simulated", "bluetooth", "pawr"]
Connections = Annotated[int, Field(ge=1, le=64)]
OperationTimeout = Annotated[float, Field(gt=0, le=120)]


class SimulatedRadio(Frozen):
    """The simulated fleet used by the demo and tests: plain labels plus the fridge labels of `coldchain`."""

    seed: int = 0
    labels: Annotated[int, Field(ge=0, le=100_000)] = 100
    connect_s: Annotated[float, Field(ge=0)] = 2.0
    gatt_op_s: Annotated[float, Field(ge=0)] = 0.03
    throughput_bytes_per_s: Annotated[float, Field(gt=0)] = 10_000.0
    time_scale: Annotated[float, Field(ge=0)] = 1.0


class BluetoothRadio(Frozen):
    """A real Bluetooth adapter driving labels in connected mode."""

    adapter: str = "hci0"
    connect_attempts: Annotated[int, Field(ge=1, le=10)] = 3


class PawrTrain(Frozen):
    """The PAwR train each access point runs, in HCI units (Core 5.4 §7.8.61 v2); the defaults are Silicon Labs' ESL AP's.

    Subevent n carries ESL group n, so `num_subevents` bounds the groups a train serves (255
    labels each); the interval is the longest a synchronized label waits for a command.
    """

    interval: Annotated[int, Field(ge=6, le=0xFFFF)] = 1233  # x 1.25 ms: 1541.25 ms
    num_subevents: Annotated[int, Field(ge=1, le=128)] = 28
    subevent_interval: Annotated[int, Field(ge=6, le=255)] = 44  # x 1.25 ms
    response_slot_delay: Annotated[int, Field(ge=1, le=254)] = 30  # x 1.25 ms
    response_slot_spacing: Annotated[int, Field(ge=2, le=255)] = 6  # x 0.125 ms
    num_response_slots: Annotated[int, Field(ge=1, le=255)] = 23

    @model_validator(mode="after")
    def _fits(self) -> PawrTrain:
        """The layout's own rules (subevents within the interval, slots within a subevent)."""
        if problems := TrainParams(**self.model_dump()).problems():
            raise ValueError("; ".join(problems))
        return self


class PawrRadio(Frozen):
    """Bumble host stack with PAwR: one access point (its own train) per transport.

    A transport names the AP's HCI controller: `virtual` (the emulated radio with the virtual
    store of `[esl.simulated]`), `usb:N`, `serial:/dev/ttyACM0,1000000` or `tcp-client:HOST:PORT`
    (docs/esl-hardware.md).
    """

    transports: Annotated[list[str], Field(min_length=1, max_length=16)] = ["virtual"]
    train: PawrTrain = PawrTrain()
    keepalive_s: Annotated[float, Field(ge=10, le=24 * 3600)] = 1800.0
    #: Hardware transports only (the virtual store's labels are preconfigured): every
    #: `onboarding_interval_s` the APs scan for advertising ESL labels; with "auto" an unknown one is
    #: onboarded (ESL address, keys, PAST), with "off" it is only counted (`label.onboarding`). Known
    #: labels that advertise (lost sync) are brought back either way. docs/esl-hardware.md §5.
    onboarding: Literal["auto", "off"] = "auto"
    onboarding_interval_s: Annotated[float, Field(ge=5, le=3600)] = 60.0

    @field_validator("transports")
    @classmethod
    def _parse(cls, transports: list[str]) -> list[str]:
        """Each transport parses (a typo is one line at `store-edge check`); virtual ones cannot mix with hardware."""
        from devices.esl.bumble.transport import parse_transport  # Bumble is imported only when PAwR is configured

        for text in transports:
            parse_transport(text)
        if "virtual" in transports and len(set(transports)) > 1:
            raise ValueError("the virtual store's access points ('virtual') cannot be mixed with hardware ones")
        return transports

    @property
    def virtual(self) -> bool:
        """Every AP is emulated (the virtual store)."""
        return all(t == "virtual" for t in self.transports)
