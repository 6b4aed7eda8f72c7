"""Camera health read from the frames themselves: covered, dark, blinded, frozen or moved, for about 0.15 ms a frame.

Everything but the frozen check works on one 64×48 grey thumbnail (every 5th pixel to 128×96,
then area-averaged: each cell averages 4 samples of its 10×10 px at 640×480, halving sensor
noise); grey levels are 0…255. The thresholds and why:

- `DARK_MEAN` 20: mean grey below this is a dark camera (lights off, lens cap, dead sensor). A lit
  shop with auto-exposure sits at 80–170; a dim corner at 40 (300 shop and people photos: 68 and up).
- `BLINDED_LEVEL` 250 / `BLINDED_SHARE` 0.6: over 60 % of the cells saturated is a blinded camera
  (a lamp or the sun into the lens, exposure stuck high). Auto-exposure keeps a white shirt or a
  bright window well under 60 % of the picture.
- `COVERED_DETAIL` 3.0: the mean absolute difference between neighbouring cells (the picture's
  detail) below this, while neither dark nor blinded, is a covered camera (hand, tape, fogged or
  smeared lens). Measured: photos of shops, produce and people 10–27, the synthetic shop 5.3–5.7,
  a covered lens (light through a hand, noise σ 4) 1.6–2.3. Measured again (bench below): 300 shop
  and people photos (the shared face photos and the grocery-store test photos at 640×480, noise σ 2)
  10.1 and up, the synthetic shop (seeds 0–5) 5.1–6.0, the covered lens 1.6.
- Hysteresis: a camera already dark, blinded or covered stays so until it is clearly fixed (mean grey
  `DARK_CLEAR` 25, saturated share under `BLINDED_CLEAR` 0.5, detail `COVERED_CLEAR` 4.0), so a
  light level at a border gives one verdict, not one per frame.
- Frozen: frames are compared on every pixel of every 8th row at full resolution (averaging
  would hide the sensor noise that tells a live camera from a repeated picture). A frame where
  under `FROZEN_CHANGED_SHARE` 2 % of those bytes changed at all repeats the last one; a run of
  such frames for `frozen_after_s` is a frozen camera (stuck driver, paused RTSP resending the last
  frame). Live sensor noise (σ ≥ 0.7 grey levels) changes over half the pixels of every frame; a
  camera's on-screen clock still ticking over a stuck picture changes about 1 %. A compressed stream
  (H.264 over RTSP) of a still scene can repeat most pixels between key frames, but every key frame
  (each 1–10 s on IP cameras) brings fresh sensor noise and ends the run, so `frozen_after_s` must be
  longer than the stream's key-frame interval (the default 30 s is).
- Moved: a background model (running average of the thumbnails of frames with nobody tracked,
  time constant `moved_after_s` / 12, at most `BACKGROUND_TAU_MAX_S` 10 s, so a shopper walking
  through in seconds barely shows) is compared with a reference taken once it has learned for
  `LEARN_TAUS` 3 time constants after start. Both are high-passed (minus a 9×9-cell box blur:
  shading and slow light gradients removed, edges kept) and compared by normalised
  correlation, blind to brightness and contrast (flicker, lamps dimmed, auto-exposure). Measured on
  the same 300 photos (one thumbnail against the photo shifted sideways): a turn of 20 px (about 2°
  at 70°, 640 px) gives median 0.37, 98 % under 0.6, at most 0.74; 40 px median 0.08, at most 0.56;
  a 10 px nudge median 0.69 (9 % under 0.6: too small to call moved, by design); the frame with the
  closest face of the simulated shopper 0.67
  (frames with someone tracked are left out of the model anyway). Below `MOVED_SIMILARITY` 0.6 the
  view has changed; it must stay changed for `moved_after_s` (people standing in front are
  not in the model), and it counts as restored at `RESTORED_SIMILARITY` 0.75 (hysteresis, so a
  border case does not flap). A camera re-aimed on purpose is learned again when the screen restarts.

Each verdict's `detail` starts with a stable prefix: `camera dark`, `camera blinded`,
`camera covered`, `camera frozen for N s`, `camera moved`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

THUMB = (64, 48)
DARK_MEAN = 20.0
BLINDED_LEVEL = 250.0
BLINDED_SHARE = 0.6
COVERED_DETAIL = 3.0
DARK_CLEAR = 25.0
BLINDED_CLEAR = 0.5
COVERED_CLEAR = 4.0
UNIFORM_STD = 2.0  # thumbnail standard deviation below which the picture is called uniform in the detail
FROZEN_ROW_STEP = 8
HIGH_PASS_CELLS = 9
FROZEN_CHANGED_SHARE = 0.02
BACKGROUND_TAU_MAX_S = 10.0
TAU_PER_MOVED = 1 / 12
LEARN_TAUS = 3.0
MOVED_SIMILARITY = 0.6
RESTORED_SIMILARITY = 0.75
CAUSES = ("dark", "blinded", "covered", "frozen", "moved")


def cause_of(detail: str | None) -> str | None:
    """The cause named by a camera-health detail (`camera frozen for 31 s: …` → `frozen`), or None for other details."""
    if not detail or not detail.startswith("camera "):
        return None
    word = detail.removeprefix("camera ").split(" ", 1)[0].rstrip(":")
    return word if word in CAUSES else None


@dataclass(frozen=True, slots=True)
class HealthLimits:
    """How long a frozen or moved picture must last before it is reported; 0 turns the check off."""

    frozen_after_s: float = 30.0
    moved_after_s: float = 180.0

    @property
    def background_tau_s(self) -> float:
        """Time constant of the background model: short enough to follow a moved view well within `moved_after_s`."""
        return min(BACKGROUND_TAU_MAX_S, self.moved_after_s * TAU_PER_MOVED)


def thumbnail(image: np.ndarray) -> np.ndarray:
    """The 64×48 grey float thumbnail of an H×W×3 uint8 frame (two cheap resizes: a one-step area resize costs 10×)."""
    small = cv2.resize(image, (THUMB[0] * 2, THUMB[1] * 2), interpolation=cv2.INTER_NEAREST)
    small = cv2.resize(small, THUMB, interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(small, cv2.COLOR_BGR2GRAY).astype(np.float32)


def _normalised(thumb: np.ndarray) -> np.ndarray | None:
    """High-passed, zero mean, unit norm, flat (a correlation is then one dot product); None for a picture without contrast."""
    edges = cv2.subtract(thumb, cv2.blur(thumb, (HIGH_PASS_CELLS, HIGH_PASS_CELLS)))
    mean, std = (float(v[0][0]) for v in cv2.meanStdDev(edges))
    norm = std * math.sqrt(edges.size)
    return ((edges - mean) / norm).ravel() if norm > 1e-3 else None


class CameraHealth:
    """The health verdicts of one camera, fed every frame on the screen's worker thread; not thread-safe, time from frames."""

    def __init__(self, limits: HealthLimits | None = None) -> None:
        self.limits = limits or HealthLimits()
        self._previous: np.ndarray | None = None
        self._previous_ts = 0.0
        self._still_since: float | None = None
        self._last_ts: float | None = None
        self._background: np.ndarray | None = None
        self._background_ts: float | None = None
        self._learned_s = 0.0
        self._reference: np.ndarray | None = None
        self.similarity: float | None = None  # background vs reference, the last time it was compared
        self._changed_since: float | None = None
        self._unusable_cause: str | None = None  # dark, blinded or covered at the last frame: its clearing margin applies

    def observe(self, image: np.ndarray, ts: float, people: bool) -> str | None:
        """Judge one H×W×3 uint8 frame taken at `ts` (`people`: someone is tracked); the frame's own problem, or None."""
        thumb = thumbnail(image)
        self._last_ts = ts
        problem = self._unusable(thumb)
        if problem is not None:
            self._previous, self._still_since = None, None  # a repeated picture must repeat between usable frames
            return problem
        self._watch_frozen(image, ts)
        if not people and not self.frozen and self.limits.moved_after_s > 0:
            self._watch_view(thumb, ts)
        return None

    def _unusable(self, thumb: np.ndarray) -> str | None:
        """Dark, blinded or covered: a picture nothing can be seen in (a camera already so must clear a margin)."""
        was = self._unusable_cause
        mean, std = (float(v[0][0]) for v in cv2.meanStdDev(thumb))
        uniform = ", uniform frame" if std < UNIFORM_STD else ""
        saturated = cv2.countNonZero(cv2.compare(thumb, BLINDED_LEVEL, cv2.CMP_GE)) / thumb.size
        detail = (cv2.mean(cv2.absdiff(thumb[1:], thumb[:-1]))[0] + cv2.mean(cv2.absdiff(thumb[:, 1:], thumb[:, :-1]))[0]) / 2
        problem = None
        if mean < (DARK_CLEAR if was == "dark" else DARK_MEAN):
            self._unusable_cause = "dark"
            problem = f"camera dark: mean grey {mean:.0f} of 255{uniform} (lights off, lens capped or dead sensor)"
        elif saturated >= (BLINDED_CLEAR if was == "blinded" else BLINDED_SHARE):
            self._unusable_cause = "blinded"
            problem = f"camera blinded: {saturated:.0%} of the picture saturated{uniform} (light into the lens or exposure stuck)"
        elif detail < (COVERED_CLEAR if was == "covered" else COVERED_DETAIL):
            self._unusable_cause = "covered"
            problem = f"camera covered: no detail in the picture (contrast {detail:.1f}){uniform} (lens covered, taped or fogged)"
        else:
            self._unusable_cause = None
        return problem

    def _watch_frozen(self, image: np.ndarray, ts: float) -> None:
        """Start or end a run of repeated pictures."""
        sample = np.ascontiguousarray(image).reshape(image.shape[0], -1)[::FROZEN_ROW_STEP]
        previous = self._previous
        if previous is not None and previous.shape == sample.shape:
            changed = cv2.countNonZero(cv2.absdiff(sample, previous)) / sample.size
            if changed < FROZEN_CHANGED_SHARE:
                if self._still_since is None:
                    self._still_since = self._previous_ts
            else:
                self._still_since = None
        else:
            self._still_since = None
        self._previous = sample.copy()
        self._previous_ts = ts

    def _watch_view(self, thumb: np.ndarray, ts: float) -> None:
        """Update the background with a frame nobody is in; learn the reference, then compare."""
        tau = self.limits.background_tau_s
        if self._background is None or self._background_ts is None:
            self._background, self._background_ts = thumb.copy(), ts
            return
        dt = min(max(ts - self._background_ts, 0.0), tau)
        self._background_ts = ts
        self._background += (1.0 - math.exp(-dt / tau)) * (thumb - self._background)
        if self._reference is None:
            self._learned_s += dt
            if self._learned_s >= LEARN_TAUS * tau:
                self._reference = _normalised(self._background)
            return
        current = _normalised(self._background)
        self.similarity = round(float(np.dot(current, self._reference)), 3) if current is not None else 0.0
        if self.similarity < MOVED_SIMILARITY:
            if self._changed_since is None:
                self._changed_since = ts
        elif self.similarity >= RESTORED_SIMILARITY:
            self._changed_since = None

    @property
    def frozen(self) -> bool:
        """True once the same picture has repeated for `frozen_after_s`."""
        return self._frozen_s() is not None

    def _frozen_s(self) -> float | None:
        """How long the picture has repeated, once that is long enough to report."""
        after = self.limits.frozen_after_s
        if after <= 0 or self._still_since is None or self._last_ts is None:
            return None
        still = self._last_ts - self._still_since
        return still if still >= after else None

    @property
    def problem(self) -> str | None:
        """A frozen or moved camera as of the last frame, with its detail; None while the camera looks right."""
        still = self._frozen_s()
        if still is not None:
            return f"camera frozen for {still:.0f} s: the same picture repeated (stuck driver or paused stream)"
        if self._changed_since is not None and self._last_ts is not None:
            changed = self._last_ts - self._changed_since
            if changed >= self.limits.moved_after_s:
                return (f"camera moved: the view differs from the one learned after start for {changed:.0f} s "
                        f"(similarity {self.similarity:.2f}; the camera was turned, knocked or something blocks it)")
        return None
