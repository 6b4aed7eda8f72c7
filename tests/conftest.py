"""Shared fixtures: a private Mosquitto per test, the daemon as a real process, a headquarters client, a watched loop.

Every test's event loop runs in asyncio debug mode (`asyncio_debug` in pyproject.toml) with a
50 ms `slow_callback_duration`: a callback or task step that blocks the loop longer (a blocking
call where an executor belongs; tests/helpers/loopwatch.py says how noise is told apart) fails
the test that caused it.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from edge.config import config_model
from edge.demo.broker import Mosquitto
from edge.jobs import installed_jobs
from tests.helpers.daemon import DaemonProcess, write_config
from tests.helpers.loopwatch import SLOW_S, WATCH
from edge.demo.hq import Hq

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


def _watched_loop() -> asyncio.AbstractEventLoop:
    """A new loop whose callbacks longer than SLOW_S are logged by debug mode and judged by WATCH."""
    loop = asyncio.new_event_loop()
    loop.slow_callback_duration = SLOW_S
    return loop


def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item) -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    """pytest-asyncio makes every test's loop with the watched factory."""
    return {"watched": _watched_loop}


WATCH.install()
# The daemon reads its jobs and configuration model before its loop starts; the tests do the same, so
# a test that parses a configuration on its loop does not pay the jobs' first import there.
config_model(installed_jobs())


@pytest.fixture(autouse=True)
def no_blocking_on_the_loop() -> Iterator[None]:
    """Fail the test if its code blocked its event loop (see tests/helpers/loopwatch.py for what counts)."""
    WATCH.take()
    yield
    found = WATCH.take()
    if found:
        pytest.fail("the event loop was blocked:\n" + "\n".join(found[:5]), pytrace=False)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Fail loudly, not skip quietly, when the broker the integration tests need is missing."""
    if shutil.which("mosquitto") is None and not Path("/usr/sbin/mosquitto").exists():
        for item in items:
            if "broker" in getattr(item, "fixturenames", ()):
                item.add_marker(pytest.mark.xfail(reason="mosquitto not installed (apt-get install mosquitto)", run=False, strict=True))


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    """A fresh broker with persistence, on a free loopback port."""
    b = Mosquitto(tmp_path / "broker").start()
    yield b
    b.stop()


@pytest.fixture
def hq_factory() -> Iterator[Callable[..., Hq]]:
    """Make headquarters clients; all are closed at the end."""
    made: list[Hq] = []

    def make(port: int, store_id: str = "s1", **kwargs: Any) -> Hq:
        client = Hq(port, store_id, **kwargs)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def daemon_factory(tmp_path: Path) -> Iterator[Callable[..., DaemonProcess]]:
    """Make daemon processes with their own data dir; all are killed at the end."""
    made: list[DaemonProcess] = []

    def make(broker_url: str, store_id: str = "s1", name: str = "d", env: dict[str, str] | None = None, **sections: Any) -> DaemonProcess:
        data = tmp_path / f"{name}-data"
        config = write_config(tmp_path / f"{name}.toml", store_id, data, broker_url, **sections)
        daemon = DaemonProcess(config, tmp_path / f"{name}.log", env)
        made.append(daemon)
        return daemon

    yield make
    for daemon in made:
        if daemon.proc is not None:
            daemon.kill()


def wait_online(hq: Hq, count: int = 1, timeout: float = 15.0) -> dict[str, Any]:
    """Wait until `count` `online` statuses have been seen; returns the latest."""
    return hq.wait(lambda _: (s := [x for x in hq.statuses() if x["state"] == "online"]) and len(s) >= count and s[-1], timeout)
