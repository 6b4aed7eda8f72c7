"""Job-level ESL tests marked `both_radios` run twice: on the bleak-seam simulated fleet and on the PAwR virtual store."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.edge.esl import jobkit

RADIOS = ("simulated", "pawr")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One run per radio backend for tests marked `both_radios`."""
    if metafunc.definition.get_closest_marker("both_radios"):
        metafunc.parametrize("esl_radio", RADIOS, indirect=True)


@pytest.fixture(autouse=True)
def esl_radio(request: pytest.FixtureRequest) -> Iterator[str]:
    """The backend `jobkit.running` starts the job with (the simulated fleet unless parametrized)."""
    radio = getattr(request, "param", "simulated")
    jobkit.RADIO = radio
    try:
        yield radio
    finally:
        jobkit.RADIO = "simulated"
