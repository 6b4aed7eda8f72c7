"""Where each label is, from what the anchors hear: smoothing of readings and a maximum-likelihood place.

Pure and synchronous (the job runs it in an executor). `Smoother` keeps an exponential moving
average of each (label, anchor) RSSI and forgets anchors that missed the last `forget_rounds`
scans (a moved label stops being "heard" where it was); readings
from unknown anchors or outside the plausible RSSI range are rejected. `Locator` predicts, with
the simulator's radio model, the mean RSSI every anchor would see from every place on the map,
and picks for each label the place whose prediction best matches its strongest smoothed
readings; the posterior mass of that bay (or endcap) is the confidence.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from devices.esl.anchors import AnchorReport, RadioModel, crossings
from edge.esl.map.storemap import Place, StoreMap

RSSI_RANGE = (-127.0, 0.0)


@dataclass(frozen=True)
class Estimate:
    """A label's most likely place and how sure (the posterior mass of its bay or endcap)."""

    place: Place
    confidence: float


class Smoother:
    """Per label and anchor, an exponential moving average of RSSI over recent scans."""

    def __init__(self, anchors: Iterable[str], alpha: float = 0.4, forget_rounds: int = 3) -> None:
        """Accept readings only from `anchors`; `alpha` weighs the newest reading."""
        self._anchors = set(anchors)
        self._alpha = alpha
        self._forget = forget_rounds
        self.round = 0
        self._seen: dict[str, dict[str, tuple[float, int]]] = {}  # label -> anchor -> (ema, last round heard)

    def update(self, reports: Iterable[AnchorReport]) -> list[tuple[str, str]]:
        """Fold one scan round in; returns (anchor, reason) of every rejected report or reading."""
        self.round += 1
        now = self.round
        rejected = []
        low, high = RSSI_RANGE
        for report in reports:
            if report.anchor not in self._anchors:
                rejected.append((report.anchor, "unknown anchor"))
                continue
            for label, rssi in report.readings:
                if not isinstance(rssi, (int, float)) or not math.isfinite(rssi) or not low <= rssi <= high:
                    rejected.append((report.anchor, f"rssi {rssi!r} out of range for {label!r}"))
                    continue
                seen = self._seen.setdefault(label, {})
                old = seen.get(report.anchor)
                ema = rssi if old is None or now - old[1] >= self._forget else old[0] + self._alpha * (rssi - old[0])
                seen[report.anchor] = (ema, now)
        return rejected

    def observations(self, label: str) -> dict[str, float]:
        """The label's smoothed RSSI per anchor heard in the last `forget_rounds` scans."""
        return {a: ema for a, (ema, seen) in self._seen.get(label, {}).items() if self.round - seen < self._forget}

    def labels(self) -> list[str]:
        """Every label heard so far."""
        return list(self._seen)


class Locator:
    """Maximum-likelihood place of a label given its smoothed readings."""

    def __init__(self, store_map: StoreMap, model: RadioModel, top_k: int = 10, near_m: float = 3.0,
                 predict_m: float = 10.0) -> None:
        """Predict the mean RSSI of every anchor within `predict_m` of every place (farther ones: not heard)."""
        self.map = store_map
        self.model = model
        self.top_k = top_k
        self.places = store_map.places()
        self._anchor_ids = list(store_map.anchors)
        self._anchor_index = {a: i for i, a in enumerate(self._anchor_ids)}
        axyz = np.array([store_map.anchors[a] for a in self._anchor_ids], dtype=float).reshape(-1, 3)
        pxyz = np.array([store_map.xyz(p) for p in self.places], dtype=float)
        spots = {}
        self._spot = np.array([spots.setdefault(p.spot, len(spots)) for p in self.places])
        self._spots = list(spots)
        floor = model.sensitivity_dbm
        self._predicted = np.full((len(pxyz), len(axyz)), floor)
        dist = np.linalg.norm(pxyz[:, None, :] - axyz[None, :, :], axis=2)
        pi, ai = np.nonzero(dist <= predict_m)
        shelves = crossings(pxyz[pi, :2], axyz[ai, :2], np.array(store_map.obstacles(), dtype=float).reshape(-1, 4))
        self._predicted[pi, ai] = np.maximum(model.mean(dist[pi, ai], shelves), floor)
        flat = np.linalg.norm(pxyz[:, None, :2] - axyz[None, :, :2], axis=2)
        self._near = [np.nonzero(flat[:, a] <= near_m)[0] for a in range(len(axyz))]

    def locate(self, observations: dict[str, float]) -> Estimate | None:
        """The most likely place of a label heard with `observations` (anchor → dBm); None if nothing usable."""
        heard = sorted(((r, self._anchor_index[a]) for a, r in observations.items() if a in self._anchor_index), reverse=True)
        if not heard:
            return None
        heard = heard[: self.top_k]
        cols = np.array([a for _, a in heard])
        obs = np.maximum(np.array([r for r, _ in heard]), self.model.sensitivity_dbm)
        cand = self._near[cols[0]]
        if len(cand) == 0:
            return None
        sse = ((self._predicted[np.ix_(cand, cols)] - obs[None, :]) ** 2).sum(axis=1)
        weight = np.exp(-(sse - sse.min()) / (2 * self.model.noise_db ** 2))
        weight /= weight.sum()
        spots = self._spot[cand]
        mass = np.bincount(spots, weights=weight, minlength=len(self._spots))
        best_spot = int(np.argmax(mass))
        within = spots == best_spot
        best = cand[within][int(np.argmax(weight[within]))]
        return Estimate(self.places[best], round(float(mass[best_spot]), 3))

    def locate_all(self, smoother: Smoother, labels: Iterable[str] | None = None) -> dict[str, Estimate]:
        """Estimates for `labels` (default: every label heard)."""
        out = {}
        for label in smoother.labels() if labels is None else labels:
            est = self.locate(smoother.observations(label))
            if est is not None:
                out[label] = est
        return out
