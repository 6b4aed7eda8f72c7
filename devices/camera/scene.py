"""Scripted synthetic scenes: a face composited onto a shop background, moving along keyframes over time."""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

AVERAGE_FACE_WIDTH_M = 0.15
BACK_OF_HEAD_YAW_DEG = 75.0


@dataclass(frozen=True, slots=True)
class Keyframe:
    """Where the face is at time `t` (s): centre in pixels, face-box width in pixels, head yaw in degrees."""

    t: float
    cx: float
    cy: float
    width_px: float
    yaw_deg: float = 0.0


@dataclass(frozen=True, slots=True, eq=False)
class FaceSprite:
    """A face image with the box of the face inside it, so it can be scaled to a wanted face width."""

    image: np.ndarray
    box: tuple[int, int, int, int]


@lru_cache(maxsize=1)
def astronaut_face() -> FaceSprite:
    """Eileen Collins' head from scikit-image's astronaut photo (NASA, public domain), face box measured once."""
    from skimage import data  # demo/test extra: only simulations need it

    rgb = data.astronaut()
    head = np.ascontiguousarray(rgb[20:210, 140:300, ::-1])
    return FaceSprite(image=head, box=(40, 44, 87, 110))


def focal_px(image_width: int, hfov_deg: float) -> float:
    """Pinhole focal length in pixels for a lens with the given horizontal field of view."""
    return (image_width / 2) / math.tan(math.radians(hfov_deg) / 2)


def face_width_px(distance_m: float, image_width: int = 640, hfov_deg: float = 70.0) -> float:
    """Width in pixels of an average face at `distance_m` (0.15 m wide face, pinhole model)."""
    return focal_px(image_width, hfov_deg) * AVERAGE_FACE_WIDTH_M / distance_m


def shop_background(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A deterministic, textured, face-free backdrop: shelves of coloured boxes over a gradient."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(90, 170, height, dtype=np.float32)[:, None, None]
    img = np.broadcast_to(ramp, (height, width, 3)).copy()
    for _ in range(max(8, width * height // 6000)):
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        w, h = int(rng.integers(8, max(9, width // 8))), int(rng.integers(8, max(9, height // 8)))
        cv2.rectangle(img, (x, y), (x + w, y + h), tuple(float(c) for c in rng.integers(30, 230, 3)), -1)
    noise = rng.normal(0, 6, img.shape).astype(np.float32)
    return np.clip(img + noise, 0, 255).astype(np.uint8)


def paste_face(
    canvas: np.ndarray, sprite: FaceSprite, cx: float, cy: float, width_px: float, yaw_deg: float = 0.0
) -> tuple[int, int, int, int] | None:
    """Draw the sprite so its face box is `width_px` wide and centred on (cx, cy); return the true face box.

    Yaw squashes the face horizontally (cos yaw); past 75° the back of the head is drawn and None returned.
    """
    fx, fy, fw, fh = sprite.box
    scale = width_px / fw
    squash = max(0.05, math.cos(math.radians(yaw_deg)))
    sx, sy = scale * squash, scale
    out_w, out_h = max(1, round(sprite.image.shape[1] * sx)), max(1, round(sprite.image.shape[0] * sy))
    patch = cv2.resize(sprite.image, (out_w, out_h), interpolation=cv2.INTER_AREA)
    left, top = round(cx - (fx + fw / 2) * sx), round(cy - (fy + fh / 2) * sy)
    mask = np.zeros((out_h, out_w), np.float32)
    cv2.ellipse(mask, (out_w // 2, out_h // 2), (out_w // 2, out_h // 2), 0, 0, 360, 1.0, -1)
    facing = abs(yaw_deg) < BACK_OF_HEAD_YAW_DEG
    if not facing:
        patch = np.full_like(patch, (30, 35, 45))  # hair seen from behind
    _blend(canvas, patch, mask, left, top)
    if not facing:
        return None
    box = (left + fx * sx, top + fy * sy, fw * sx, fh * sy)
    return tuple(round(v) for v in box)  # type: ignore[return-value]


def _blend(canvas: np.ndarray, patch: np.ndarray, mask: np.ndarray, left: int, top: int) -> None:
    """Alpha-blend `patch` into `canvas` at (left, top), clipped to the canvas."""
    h, w = canvas.shape[:2]
    x0, y0, x1, y1 = max(0, left), max(0, top), min(w, left + patch.shape[1]), min(h, top + patch.shape[0])
    if x0 >= x1 or y0 >= y1:
        return
    p = patch[y0 - top : y1 - top, x0 - left : x1 - left].astype(np.float32)
    m = cv2.GaussianBlur(mask, (0, 0), 1.0)[y0 - top : y1 - top, x0 - left : x1 - left, None]
    region = canvas[y0:y1, x0:x1].astype(np.float32)
    canvas[y0:y1, x0:x1] = (region * (1 - m) + p * m).astype(np.uint8)


class Scene:
    """A background plus one or more scripted faces; `render(t)` is a pure function of time."""

    def __init__(
        self,
        scripts: Sequence[Sequence[Keyframe]],
        *,
        width: int = 640,
        height: int = 480,
        sprite: FaceSprite | None = None,
        seed: int = 0,
        sprites: Sequence[FaceSprite] = (),
    ) -> None:
        self.scripts = [sorted(s, key=lambda k: k.t) for s in scripts]
        self.width, self.height = width, height
        self.sprite = sprite or astronaut_face()
        self.sprites = list(sprites) or [self.sprite]  # script i wears sprites[i % len]: different people
        self.background = shop_background(width, height, seed)

    @property
    def duration(self) -> float:
        """Time of the last keyframe of any script."""
        return max((s[-1].t for s in self.scripts if s), default=0.0)

    def render(self, t: float) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
        """The frame at time `t` and the true boxes of the faces visible and facing the camera."""
        img = self.background.copy()
        boxes = []
        for i, script in enumerate(self.scripts):
            pose = pose_at(script, t)
            if pose is not None:
                box = paste_face(img, self.sprites[i % len(self.sprites)], pose.cx, pose.cy, pose.width_px, pose.yaw_deg)
                if box is not None:
                    boxes.append(box)
        return img, boxes


def pose_at(script: Sequence[Keyframe], t: float) -> Keyframe | None:
    """Linear interpolation between keyframes; nobody is there before the first or after the last."""
    if not script or t < script[0].t or t > script[-1].t:
        return None
    i = bisect_right([k.t for k in script], t)
    if i >= len(script):
        return script[-1]
    a, b = script[i - 1], script[i]
    u = (t - a.t) / (b.t - a.t) if b.t > a.t else 1.0
    lerp = lambda p, q: p + (q - p) * u  # noqa: E731
    return Keyframe(t, lerp(a.cx, b.cx), lerp(a.cy, b.cy), lerp(a.width_px, b.width_px), lerp(a.yaw_deg, b.yaw_deg))


def shopper_walk(width: int = 640, height: int = 480, hfov_deg: float = 70.0, t0: float = 0.0) -> list[Keyframe]:
    """A shopper walks up from 3 m, stops at 1.2 m for 6 s looking at the screen, turns away and leaves."""
    px = lambda d: face_width_px(d, width, hfov_deg)  # noqa: E731
    cy = height * 0.4
    return [
        Keyframe(t0 + 0.0, width * 0.15, cy, px(3.0)),
        Keyframe(t0 + 3.0, width * 0.45, cy, px(1.2)),
        Keyframe(t0 + 9.0, width * 0.5, cy, px(1.2)),
        Keyframe(t0 + 10.0, width * 0.55, cy, px(1.3), 90.0),
        Keyframe(t0 + 13.0, width * 0.9, cy, px(2.5), 90.0),
    ]


def _visit(
    t_in: float, t_stop: float, t_away: float, t_out: float,
    x_in: float, x_stop: float, x_out: float, d_in: float, d_stop: float, cy: float,
    px: Callable[[float], float], *, facing_walk: bool = True,
) -> list[Keyframe]:
    """One shopper: walks in (facing or not), stops facing the screen, turns away in 0.1 s and walks out."""
    walk_yaw = 0.0 if facing_walk else 90.0
    keys = [Keyframe(t_in, x_in, cy, px(d_in), walk_yaw), Keyframe(t_stop, x_stop, cy, px(d_stop), walk_yaw)]
    if not facing_walk:
        keys.append(Keyframe(t_stop + 0.1, x_stop, cy, px(d_stop), 0.0))
    return keys + [
        Keyframe(t_away, x_stop, cy, px(d_stop), 0.0),
        Keyframe(t_away + 0.1, x_stop, cy, px(d_stop), 90.0),
        Keyframe(t_out, x_out, cy, px(d_in), 90.0),
    ]


def store_visitors(width: int = 640, height: int = 480, hfov_deg: float = 70.0) -> list[list[Keyframe]]:
    """Six shoppers over 36 s in front of a screen (zone 1.0–1.5 m); the video benchmark's script.

    1 walks up from the left and stops 6 s at 1.2 m; 2 stops 2 s at 1.4 m beside 1 and leaves across
    in front of 1 (hiding 1 for a moment); 3 walks past at 1.7 m facing the screen, never stopping;
    4 and 5 arrive together and stop 6 s and 4 s; 6 walks in looking away, faces the screen 0.6 s
    (engaged, not a watcher) and leaves. The truth of each is a pure function of this script.
    """
    px = lambda d: face_width_px(d, width, hfov_deg)  # noqa: E731
    cy = height * 0.4
    return [
        _visit(1.0, 4.0, 10.0, 13.0, -40, width * 0.3, width + 40, 1.6, 1.2, cy, px),
        _visit(5.0, 7.0, 9.0, 12.0, width + 40, width * 0.65, -40, 1.45, 1.4, cy * 1.1, px),
        _visit(13.0, 15.0, 15.0, 17.0, -40, width * 0.5, width + 40, 1.7, 1.7, cy, px),
        _visit(18.0, 20.0, 26.0, 28.0, -40, width * 0.35, -40, 1.6, 1.3, cy, px),
        _visit(18.5, 20.5, 24.5, 26.5, width + 40, width * 0.7, width + 40, 1.5, 1.1, cy * 1.15, px),
        _visit(29.0, 31.0, 31.6, 34.0, width + 40, width * 0.5, -40, 1.4, 1.3, cy, px, facing_walk=False),
    ]
