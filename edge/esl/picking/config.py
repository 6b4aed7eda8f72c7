"""Configuration of pick lights: the colour palette, how long and how an order's labels flash, and the driver's connections."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from edge.esl.frozen import Frozen

LED_COLOURS = ("red", "green", "blue", "yellow", "cyan", "magenta", "white")


class Picking(Frozen):
    """Pick-light flashing of online orders."""

    colours: Annotated[list[Literal[LED_COLOURS]], Field(min_length=1)] = ["green", "blue", "magenta", "cyan", "yellow", "red"]  # type: ignore[valid-type]
    timeout_s: Annotated[float, Field(gt=0, le=86_400)] = 600.0
    alternate_s: Annotated[int, Field(ge=1, le=60)] = 2
    connections: Annotated[int, Field(ge=1, le=32)] = 2
