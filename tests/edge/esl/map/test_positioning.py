"""Label positioning on the simulated anchor field: accuracy, confidence, dead anchors, nonsense, moves."""

from __future__ import annotations

import math

import numpy as np
import pytest

from devices.esl.anchors import AnchorField, AnchorReport, RadioModel, crossings
from edge.esl.map.positioning import Locator, Smoother
from edge.esl.map.storemap import Layout, MapSection, Place, build


@pytest.fixture(scope="module")
def floor():
    """A small generated floor (4 aisles) and its locator."""
    m = build(MapSection(layout=Layout(aisles=4, bays=6)))
    return m, Locator(m, RadioModel())


def _scan(field: AnchorField, smoother: Smoother, rounds: int) -> None:
    """Feed `rounds` scans into the smoother."""
    for _ in range(rounds):
        assert smoother.update(field.scan()) == []


def test_crossings_counts_shelves_on_the_line():
    rects = np.array([[1, 0, 2, 10], [3, 0, 4, 10]], dtype=float)
    a = np.array([[0, 5], [0, 5], [0, 5], [1.5, -1]], dtype=float)
    b = np.array([[0.5, 5], [2.5, 5], [5, 5], [1.5, -0.5]], dtype=float)
    assert crossings(a, b, rects).tolist() == [0, 1, 2, 0]


def test_labels_are_located_to_their_bay_with_high_confidence(floor):
    m, locator = floor
    rng = np.random.default_rng(5)
    places = m.places()
    truth = {f"L{i}": places[j] for i, j in enumerate(rng.integers(0, len(places), 200))}
    field = AnchorField(m.anchors, m.obstacles(), RadioModel(), seed=2)
    field.place({k: m.xyz(p) for k, p in truth.items()})
    smoother = Smoother(m.anchors)
    _scan(field, smoother, 5)
    found = locator.locate_all(smoother)
    right = [k for k, p in truth.items() if found[k].place.spot == p.spot]
    assert len(right) >= 0.95 * len(truth)
    assert np.mean([found[k].confidence for k in right]) > 0.8
    wrong = [k for k in truth if k not in right]
    assert all(found[k].confidence < 0.99 for k in wrong)


def test_more_noise_means_less_confidence(floor):
    m, locator = floor
    place = Place("A02R", 3, 2)
    confidences = []
    for noise in (2.0, 10.0):
        field = AnchorField(m.anchors, m.obstacles(), RadioModel(noise_db=noise, miss_rate=0.3), seed=4)
        field.place({f"L{n}": m.xyz(place) for n in range(40)})
        smoother = Smoother(m.anchors)
        _scan(field, smoother, 2)
        confidences.append(np.mean([e.confidence for e in locator.locate_all(smoother).values()]))
    assert confidences[0] > confidences[1]


def test_dead_anchors_and_nonsense_reports(floor):
    m, locator = floor
    place = Place("A03L", 4, 3)
    near = sorted(m.anchors, key=lambda a: math.dist(m.anchors[a], m.xyz(place)))[:3]
    field = AnchorField(m.anchors, m.obstacles(), RadioModel(), seed=9, dead=set(near))
    field.place({"L1": m.xyz(place)})
    smoother = Smoother(m.anchors)
    _scan(field, smoother, 4)
    assert not set(near) & set(smoother.observations("L1"))
    assert locator.locate(smoother.observations("L1")).place.spot == place.spot
    rejected = smoother.update([AnchorReport("GHOST", [("L1", -50.0)]), AnchorReport(near[0], [("L1", 12.0), ("L1", float("nan"))])])
    assert [r[0] for r in rejected] == ["GHOST", near[0], near[0]]
    assert near[0] not in smoother.observations("L1")
    assert locator.locate({}) is None and locator.locate({"GHOST": -40.0}) is None


def test_a_moved_label_is_found_at_its_new_place_after_a_few_scans(floor):
    m, locator = floor
    field = AnchorField(m.anchors, m.obstacles(), RadioModel(), seed=11)
    field.place({"L1": m.xyz(Place("A01L", 2, 2))})
    smoother = Smoother(m.anchors, alpha=0.5)
    _scan(field, smoother, 3)
    assert locator.locate(smoother.observations("L1")).place.spot == Place("A01L", 2)
    field.place({"L1": m.xyz(Place(endcap="E03", level=3))})
    _scan(field, smoother, 4)
    assert locator.locate(smoother.observations("L1")).place.spot == Place(endcap="E03")
