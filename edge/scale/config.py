"""The `[scale]` configuration section: AI self-service scales."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from edge.scale.pricing import barcode

_PORT = re.compile(r"^simulated:(mt-sics|toledo-8217)$")


#: `[scale]` keys a running job takes from `config.set` without a restart: read at each weighing, nothing is built from them.
HOT_KEYS = frozenset({"unsure_score", "unrecognised_score"})


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ScaleDevice(_Model):
    """One self-service scale: its serial scale, the camera above it, its label printer and barcode."""

    id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,32}$")]
    port: str  # serial device path, or simulated:mt-sics / simulated:toledo-8217 (a pty simulator in-process)
    protocol: str = "mt-sics"  # mt-sics | toledo-8217 (ignored for simulated ports)
    baud: Annotated[int, Field(ge=1200, le=115200)] | None = None
    division_g: Annotated[int, Field(ge=1, le=100)] = 5
    min_grams: Annotated[int, Field(ge=1, le=2000)] = 40  # Min = 20 e for class III retail scales (e = 2 g … 5 g)
    camera: str = ""  # USB index ("0"), rtsp://… URL, or folder:PATH (relative paths: under the data dir)
    camera_fps: Annotated[float, Field(gt=0, le=60)] = 10.0
    printer: str = "simulated"  # serial device path of an ESC/POS printer, or simulated
    printer_baud: Annotated[int, Field(ge=1200, le=115200)] = 9600
    barcode_layout: str = "price"  # preset name (price, weight, price_v5, cn18_amount_weight…) or a pattern
    barcode_prefix: Annotated[int, Field(ge=2, le=29)] = 20
    plu_map: dict[str, Annotated[int, Field(ge=0, le=99999)]] = {}  # sku -> this store's PLU when it differs from the catalogue

    @field_validator("port")
    @classmethod
    def _port(cls, value: str) -> str:
        if value.startswith("simulated") and not _PORT.match(value):
            raise ValueError("simulated ports are 'simulated:mt-sics' or 'simulated:toledo-8217'")
        if not value:
            raise ValueError("must name a serial device")
        return value

    @field_validator("protocol")
    @classmethod
    def _protocol(cls, value: str) -> str:
        if value not in ("mt-sics", "toledo-8217"):
            raise ValueError("must be 'mt-sics' or 'toledo-8217'")
        return value

    @field_validator("barcode_layout")
    @classmethod
    def _layout(cls, value: str) -> str:
        try:
            barcode.layout(value)
        except barcode.BarcodeError as err:
            raise ValueError(str(err)) from err
        return value

    @model_validator(mode="after")
    def _prefix_fits(self) -> ScaleDevice:
        prefix = barcode.layout(self.barcode_layout).fields[0]
        allowed = range(20, 30) if prefix.length == 2 else range(2, 3)
        if self.barcode_prefix not in allowed:
            raise ValueError(f"barcode_prefix must be {allowed.start}-{allowed.stop - 1} for layout {self.barcode_layout!r}")
        return self


class LearningSection(_Model):
    """When a confirmed choice teaches the gallery (see edge/scale/learning.py)."""

    enabled: bool = True
    max_per_product: Annotated[int, Field(ge=1, le=500)] = 32  # learned examples kept per product (oldest dropped)
    dedupe_cosine: Annotated[float, Field(gt=0, le=1)] = 0.98  # closer than this to a kept example: not added
    max_rank: Annotated[int, Field(ge=1, le=5)] = 5  # the choice must be among the first N candidates offered
    plausible_g: tuple[int, int] = (50, 5000)  # by-weight produce: learn only for weights in this range
    min_score: Annotated[float, Field(ge=-1, le=1)] = 0.3  # and only when the chosen product scored at least this


class ScaleSection(_Model):
    """Serial scales with a camera, produce recognition and a label printer."""

    enabled: bool = True
    scales: list[ScaleDevice] = []
    model: Path | None = None  # ONNX embedding model; default: the committed one in models/produce/
    gallery: Path | None = None  # base gallery (.npz keyed by class name); default: the one made by that model
    produce_file: Path | None = None  # JSON: class -> sku (+ product fields to seed the catalogue)
    seed_products: bool = False  # insert the produce file's products that the catalogue lacks (demo)
    unsure_score: Annotated[float, Field(ge=-1, le=1)] | None = None  # default: the model card's threshold
    confirm_timeout_s: Annotated[float, Field(gt=0, le=600)] = 30.0
    change_divisions: Annotated[int, Field(ge=1, le=100)] = 4  # a stable change beyond this many divisions = new item
    demo_images: Path = Path("../shared/datasets/grocerystore")  # the demo weighs test_dev images from here
    enroll_dir: Path | None = None  # `scale.enroll` may read image files under this folder only; absent: `paths` refused
    products: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9_*.-]{1,64}$")]] = []  # SKUs (`*` wildcards) sold at the scales besides the produce file's
    display_unit: Literal["auto", "kg", "500g"] = "auto"  # by-weight prices on screens and labels; auto: as most shelf labels price them
    suspicion_margin: Annotated[float, Field(ge=0, le=1)] = 0.2  # a choice this much cheaper than the top candidate is asked about
    unrecognised_score: Annotated[float, Field(ge=-1, le=1)] | None = None  # below it no tiles ("无法识别"); default: chosen for the shipped model
    learning: LearningSection = LearningSection()

    @model_validator(mode="after")
    def _unique_ids(self) -> ScaleSection:
        ids = [s.id for s in self.scales]
        if len(ids) != len(set(ids)):
            raise ValueError("scales: ids must be unique")
        return self
