"""Driving a simulated scale from outside (staff rehearsals, browser tests, demos): put an item and a photo on it, lift it.

`POST /api/sim/scale/<id>/place` and `/remove` (edge/scale/web/routes.py) land here. The weight goes
to the pty simulator's load cell, so the production driver reads it as from a real scale; the photo
goes to the folder camera, which shows it until another one is placed. A photo is any JPEG or PNG
file on the gateway, bounded like an enrolment image and decoded once, off the event loop.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING

import cv2
import numpy as np

from devices.camera.errors import SourceUnavailable
from devices.camera.simulated import FolderSource
from edge.scale.commands import check_image, read_bounded
from edge.sync.commands import CommandError
from edge.sync.requests import clip

if TYPE_CHECKING:
    from edge.scale.weighing.devices import Devices

MAX_PATH = 4096


class PhotoError(ValueError):
    """What to place cannot be used (a weight out of range, a bad photo); the message names why (a 400 for the caller)."""


class PlacedPhotoSource(FolderSource):
    """A folder camera that can also be handed one photo to show from now on (what a simulated customer put down)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        """A folder source with no photo placed yet."""
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._placed: np.ndarray | None = None
        self._placed_lock = threading.Lock()

    def place(self, image: np.ndarray) -> None:
        """Show this (BGR) image from now on."""
        with self._placed_lock:
            self._placed = image

    def open(self) -> None:
        """List the folder's images; an empty folder is fine once a photo has been placed."""
        try:
            super().open()
        except SourceUnavailable:
            with self._placed_lock:
                if self._placed is None:
                    raise

    def read(self) -> np.ndarray:
        """The placed photo, else the folder's current image."""
        with self._placed_lock:
            placed = self._placed
        if placed is None:
            return super().read()
        return cv2.resize(placed, self.size, interpolation=cv2.INTER_AREA) if self.size else placed.copy()


def load_photo(path: str) -> np.ndarray:
    """A photo file as a BGR frame: a regular JPEG or PNG file of bounded size and pixels (blocking: run it off the loop)."""
    if not path or len(path) > MAX_PATH or "\0" in path:
        raise PhotoError(f"image: a file path of 1 to {MAX_PATH} characters")
    real = os.path.realpath(path)
    try:
        data = read_bounded("image", real, repr(clip(path, 200)))
        check_image("image", data)
    except CommandError as err:
        raise PhotoError(str(err)) from err
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise PhotoError(f"image: {clip(path, 200)!r} does not decode")
    return image


def place(devices: Devices, grams: int, photo: np.ndarray | None) -> None:
    """One item of `grams` on the simulated platter (whatever was there lifted in the same move), and its photo if given."""
    sim = devices.scale_sim
    assert sim is not None, "only simulated scales are driven from outside"
    if not 1 <= grams <= sim.model.capacity_g:
        raise PhotoError(f"grams: an integer from 1 to the scale's capacity of {sim.model.capacity_g}")
    if photo is not None:
        source = None if devices.camera is None else devices.camera.source
        if not isinstance(source, PlacedPhotoSource):
            raise PhotoError("image: this scale has no simulated (folder:) camera to show it")
        source.place(photo)
    sim.model.replace(grams)
