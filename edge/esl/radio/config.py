"""Configuration of the radio: which backend, its settings, and how many labels it talks to at once."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from edge.esl.frozen import Frozen

BackendName = Literal["simulated", "bluetooth"]
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
