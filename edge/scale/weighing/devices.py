"""The hardware of one scale station from its config: serial scale driver, camera and printer (simulators where asked)."""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path

from devices.backoff import Backoff
from devices.camera import Camera, open_camera
from devices.printer.escpos import EscPosPrinter, PrinterSettings
from devices.printer.simulator import PrinterSimulator
from devices.scale.driver import ScaleDriver, default_settings
from devices.scale.simulator import (
    MtSicsSimulator,
    ScaleModel,
    ScaleSimulator,
    Toledo8217Simulator,
)
from edge.scale.config import ScaleDevice
from edge.scale.weighing.simulated import PlacedPhotoSource


@dataclass
class Devices:
    """The hardware of one station; simulators are set when the config asks for simulated devices."""

    driver: ScaleDriver
    camera: Camera | None
    printer: EscPosPrinter
    scale_sim: ScaleSimulator | None = None
    printer_sim: PrinterSimulator | None = None


def build_devices(cfg: ScaleDevice, data_dir: Path) -> Devices:
    """Drivers for the configured ports; `simulated:*` ports get a pty simulator started in-process."""
    scale_sim: ScaleSimulator | None = None
    port, protocol = cfg.port, cfg.protocol
    if port.startswith("simulated:"):
        protocol = port.split(":", 1)[1]
        model = ScaleModel(division_g=cfg.division_g, settle_s=0.6, seed=zlib.crc32(cfg.id.encode()))
        scale_sim = (MtSicsSimulator if protocol == "mt-sics" else Toledo8217Simulator)(model).start()  # type: ignore[abstract]
        port = scale_sim.path
    driver = ScaleDriver(default_settings(protocol, port, baudrate=cfg.baud), protocol, poll_interval=0.1)  # type: ignore[arg-type]
    printer_sim: PrinterSimulator | None = None
    printer_port = cfg.printer
    if printer_port == "simulated":
        printer_sim = PrinterSimulator().start()
        printer_port = printer_sim.path
    return Devices(driver, _camera(cfg, data_dir), EscPosPrinter(PrinterSettings(printer_port, cfg.printer_baud)), scale_sim, printer_sim)


def _camera(cfg: ScaleDevice, data_dir: Path) -> Camera | None:
    """USB index / URL through OpenCV, or a folder of images that can also be handed a photo (quick back-off: the folder may appear later)."""
    if not cfg.camera:
        return None
    if cfg.camera.startswith("folder:"):
        folder = Path(cfg.camera.removeprefix("folder:"))
        folder = folder if folder.is_absolute() else data_dir / folder
        return Camera(PlacedPhotoSource(folder), name=f"{cfg.id}-camera", fps=cfg.camera_fps, backoff=Backoff(initial=0.2, maximum=1.0))
    return open_camera(cfg.camera, name=f"{cfg.id}-camera", fps=None)
