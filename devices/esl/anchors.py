"""Simulated positioning anchors: which labels each anchor hears in a scan, and how strongly.

Radio model (documented so benchmarks and tests can reason about it):
- mean RSSI = `rssi_1m` − 10·`exponent`·log10(d) − `shelf_db` × (shelf footprints the straight
  line crosses), with d the 3-D distance in metres (at least `min_distance_m`): log-distance path
  loss plus shelf shadowing;
- each reading adds Gaussian noise of `noise_db` standard deviation;
- a reading below `sensitivity_dbm` is not heard, and a heard one is still missed with
  probability `miss_rate`;
- a dead anchor reports nothing at all.
The simulator knows only points and rectangles, nothing of stores, MQTT or SQLite.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

Xyz = tuple[float, float, float]
Rect = tuple[float, float, float, float]


@dataclass(frozen=True)
class RadioModel:
    """Log-distance path loss with shelf shadowing, noise and missed readings."""

    rssi_1m: float = -62.0
    exponent: float = 3.2
    shelf_db: float = 10.0
    noise_db: float = 4.0
    sensitivity_dbm: float = -90.0
    miss_rate: float = 0.1
    min_distance_m: float = 0.1

    def mean(self, distance: np.ndarray, shelves: np.ndarray) -> np.ndarray:
        """Expected RSSI (dBm) at `distance` metres through `shelves` shelf footprints."""
        d = np.maximum(distance, self.min_distance_m)
        return self.rssi_1m - 10 * self.exponent * np.log10(d) - self.shelf_db * shelves

    def reach_m(self, margin_db: float = 0.0) -> float:
        """Distance beyond which even an unshadowed reading `margin_db` above the mean is not heard."""
        return float(10 ** ((self.rssi_1m - self.sensitivity_dbm + margin_db) / (10 * self.exponent)))


def crossings(a: np.ndarray, b: np.ndarray, rects: np.ndarray, chunk: int = 20_000) -> np.ndarray:
    """How many rectangles (x0, y0, x1, y1) each 2-D segment a[i]–b[i] passes through (Liang–Barsky, interior only)."""
    out = np.zeros(len(a), dtype=np.int32)
    if len(rects) == 0:
        return out
    x0, y0, x1, y1 = (rects[:, k][None, :] for k in range(4))
    for s in range(0, len(a), chunk):
        pa, pb = a[s:s + chunk], b[s:s + chunk]
        dx, dy = (pb[:, 0] - pa[:, 0])[:, None], (pb[:, 1] - pa[:, 1])[:, None]
        ax, ay = pa[:, 0][:, None], pa[:, 1][:, None]
        lo, hi = np.zeros((len(pa), len(rects))), np.ones((len(pa), len(rects)))
        for p, q in ((-dx, ax - x0), (dx, x1 - ax), (-dy, ay - y0), (dy, y1 - ay)):
            with np.errstate(divide="ignore", invalid="ignore"):
                t = q / p
            parallel = p == 0
            lo = np.where(~parallel & (p < 0), np.maximum(lo, t), lo)
            hi = np.where(~parallel & (p > 0), np.minimum(hi, t), hi)
            hi = np.where(parallel & (q <= 0), -1.0, hi)  # parallel and outside (or on the edge)
        out[s:s + chunk] = ((hi - lo) > 1e-6).sum(axis=1)
    return out


@dataclass(frozen=True)
class AnchorReport:
    """One anchor's scan: (label id, RSSI dBm) for every label it heard."""

    anchor: str
    readings: list[tuple[str, float]]


@dataclass
class AnchorField:
    """Anchors and labels in one space; `scan()` draws one round of reports from the radio model."""

    anchors: dict[str, Xyz]
    obstacles: list[Rect]
    model: RadioModel = RadioModel()
    seed: int = 0
    dead: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        """Index the anchors; labels are placed with `place`."""
        self._ids = list(self.anchors)
        self._xyz = np.array([self.anchors[a] for a in self._ids], dtype=float).reshape(-1, 3)
        self._rects = np.array(self.obstacles, dtype=float).reshape(-1, 4)
        self._rng = np.random.default_rng(self.seed)
        self._labels: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # label -> (anchor indices, mean RSSI)

    def place(self, positions: dict[str, Xyz]) -> None:
        """Put (or move) labels; their mean RSSI to every anchor in reach is computed once here."""
        if not positions:
            return
        ids = list(positions)
        xyz = np.array([positions[i] for i in ids], dtype=float)
        dist = np.linalg.norm(xyz[:, None, :] - self._xyz[None, :, :], axis=2)
        li, ai = np.nonzero(dist <= self.model.reach_m(3 * self.model.noise_db))
        shelves = crossings(xyz[li, :2], self._xyz[ai, :2], self._rects)
        mean = self.model.mean(dist[li, ai], shelves)
        order = np.argsort(li, kind="stable")
        li, ai, mean = li[order], ai[order], mean[order]
        bounds = np.searchsorted(li, np.arange(len(ids) + 1))
        for n, label in enumerate(ids):
            self._labels[label] = (ai[bounds[n]:bounds[n + 1]], mean[bounds[n]:bounds[n + 1]])

    def remove(self, label: str) -> None:
        """Take a label away (it is heard no more)."""
        self._labels.pop(label, None)

    def scan(self) -> list[AnchorReport]:
        """One round: noisy readings above sensitivity, some missed; dead anchors stay silent."""
        heard: dict[int, list[tuple[str, float]]] = {}
        m = self.model
        for label, (ai, mean) in self._labels.items():
            rssi = mean + self._rng.normal(0.0, m.noise_db, len(mean))
            keep = (rssi >= m.sensitivity_dbm) & (self._rng.random(len(mean)) >= m.miss_rate)
            for a, r in zip(ai[keep], rssi[keep]):
                heard.setdefault(int(a), []).append((label, round(float(r), 1)))
        return [AnchorReport(self._ids[a], readings) for a, readings in sorted(heard.items())
                if self._ids[a] not in self.dead]
