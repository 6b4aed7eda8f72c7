"""The `[screen]` configuration section: interactive screens with private audience measurement."""

from __future__ import annotations

from typing import Annotated, Self
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

SCREEN_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
SIMULATED_SOURCES = ("simulated:shopper",)


class EngagedHook(BaseModel):
    """A local HTTP endpoint (e.g. the screen's player on the store LAN) told at once when someone engages."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str
    timeout_s: Annotated[float, Field(gt=0, le=10)] = 2.0

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("expected http://HOST[:PORT]/PATH or https://...")
        return value


class ScreenDevice(BaseModel):
    """One screen: its camera, the camera's geometry, and the rules that turn faces into audience figures."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Annotated[str, Field(pattern=SCREEN_ID_PATTERN)]
    source: str | int  # USB index, rtsp://… URL, video file, "simulated:shopper" or "folder:PATH"
    fps: Annotated[float, Field(gt=0, le=60)] = 10.0
    hfov_deg: Annotated[float, Field(gt=10, lt=180)] = 70.0
    calibration: Annotated[float, Field(gt=0.1, le=10)] = 1.0
    zone_near_m: Annotated[float, Field(ge=0)] = 1.0
    zone_far_m: Annotated[float, Field(gt=0)] = 1.5
    min_stop_s: Annotated[float, Field(ge=0)] = 2.0
    track_timeout_s: Annotated[float, Field(gt=0, le=30)] = 1.0
    period_s: Annotated[float, Field(ge=5, le=86400)] = 300.0
    min_face_px: Annotated[int, Field(ge=16, le=400)] = 40
    score_threshold: Annotated[float, Field(gt=0, le=1)] = 0.85
    frozen_after_s: Annotated[float, Field(ge=0, le=3600)] = 30.0  # the same picture this long: frozen (0: off)
    moved_after_s: Annotated[float, Field(ge=0, le=86400)] = 180.0  # the view changed this long: moved (0: off)
    # between full-frame detections, faces are searched near their tracks and where the picture moved (0: every frame)
    full_detect_every_s: Annotated[float, Field(ge=0, le=10)] = 1.0
    engaged_hook: EngagedHook | None = None

    @field_validator("source")
    @classmethod
    def _check_source(cls, value: str | int) -> str | int:
        if isinstance(value, int):
            if value < 0:
                raise ValueError("a USB camera index is 0 or more")
            return value
        if not value.strip():
            raise ValueError("empty camera source")
        if value.startswith("simulated:") and value not in SIMULATED_SOURCES:
            raise ValueError(f"unknown simulated source; known: {', '.join(SIMULATED_SOURCES)}")
        if value.startswith("folder:") and not value.removeprefix("folder:").strip():
            raise ValueError("expected folder:PATH")
        return value

    @field_validator("frozen_after_s", "moved_after_s")
    @classmethod
    def _check_health_time(cls, value: float) -> float:
        """0 turns a camera-health check off; a shorter time than 1 s would call ordinary pauses a fault."""
        if 0 < value < 1:
            raise ValueError("expected 0 (off) or at least 1 s")
        return value

    @model_validator(mode="after")
    def _check_zone(self) -> Self:
        if self.zone_near_m >= self.zone_far_m:
            raise ValueError(f"zone_near_m ({self.zone_near_m}) must be below zone_far_m ({self.zone_far_m})")
        return self


class ScreenSection(BaseModel):
    """Cameras at screens; only counts and durations leave the job."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    screens: list[ScreenDevice] = []

    @field_validator("screens")
    @classmethod
    def _unique_ids(cls, value: list[ScreenDevice]) -> list[ScreenDevice]:
        ids = [s.id for s in value]
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise ValueError(f"screen ids must be unique; repeated: {', '.join(repeated)}")
        return value
