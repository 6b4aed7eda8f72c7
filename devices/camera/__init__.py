"""Cameras for the gateway: a threaded newest-frame grabber over OpenCV and simulated sources."""

from devices.backoff import Backoff
from devices.camera.capture import Camera, OpenCVSource, open_camera
from devices.camera.errors import CameraError, SourceUnavailable
from devices.camera.frame import CameraHealth, CameraState, Frame, FrameSource

__all__ = [
    "Backoff",
    "Camera",
    "CameraError",
    "CameraHealth",
    "CameraState",
    "Frame",
    "FrameSource",
    "OpenCVSource",
    "SourceUnavailable",
    "open_camera",
]
