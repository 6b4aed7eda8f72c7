"""The screen job in the daemon, in-process on a real broker: shopper counted, cameras lost and found, bad config."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from aiohttp import web

from devices.camera.scene import shop_background
from edge.app import App
from edge.config import ConfigError, parse_config
from edge.demo.hq import Hq, unique_in_order
from edge.screen.hook import EngagedHook
from edge.screen.job import ScreenJob


async def make_app(broker_url: str, data: Path, screens: list[dict[str, Any]]) -> App:
    """An App with only the screen job, on the test's broker."""
    return await App.create(parse_config({
        "store": {"id": "s1"}, "data": {"dir": str(data)}, "http": {"enabled": False},
        "broker": {"url": broker_url},
        "screen": {"screens": screens},
    }, env={}))


@pytest.fixture
async def running(broker: Any, tmp_path: Path) -> AsyncIterator[Callable[[list[dict[str, Any]]], Awaitable[App]]]:
    """Start Apps in-process; each is stopped (bounded) at the end of the test."""
    started: list[tuple[App, asyncio.Task[None]]] = []

    async def start(screens: list[dict[str, Any]]) -> App:
        app = await make_app(broker.url, tmp_path / f"data{len(started)}", screens)
        started.append((app, asyncio.create_task(app.run())))
        return app

    yield start
    for app, task in started:
        app.request_stop()
        await asyncio.wait_for(task, 15)


def screen_job(app: App) -> ScreenJob:
    """The app's screen component."""
    (job,) = [j for j in app.jobs if j.name == "screen"]
    assert isinstance(job, ScreenJob)
    return job


async def until(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll `predicate` on the loop until it is truthy, or fail after `timeout` s."""
    async with asyncio.timeout(timeout):
        while not (found := predicate()):
            await asyncio.sleep(0.1)
    assert found, what
    return found


def shop_folder(path: Path, image: np.ndarray | None = None) -> Path:
    """A folder holding one shop picture (no one in it), as a camera source."""
    path.mkdir(parents=True)
    cv2.imwrite(str(path / "shop.png"), shop_background(640, 480) if image is None else image)
    return path


@pytest.fixture
async def player() -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    """A stand-in for the screen's media player on the store LAN: records what the engaged hook posts."""
    posted: list[dict[str, Any]] = []

    async def engaged(request: web.Request) -> web.Response:
        posted.append(await request.json())
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/engaged", engaged)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}/engaged", posted
    await runner.cleanup()


async def test_a_shopper_engages_once_and_is_counted(running: Any, broker: Any, hq_factory: Any, player: Any) -> None:
    hq: Hq = hq_factory(broker.port)
    url, posted = player
    app = await running([{"id": "entrance", "source": "simulated:shopper", "fps": 10, "period_s": 300,
                    "engaged_hook": {"url": url}}])
    job = screen_job(app)
    engaged = await until(lambda: unique_in_order(hq.events("engaged")), 15, "no engaged event")
    await until(lambda: posted, 5, "the local hook was not called")
    assert posted == [engaged[0]["data"]]
    assert job.healthy and job.health()["screens"]["entrance"]["state"] == "up"
    data = engaged[0]["data"]
    assert data["screen"] == "entrance" and 1.0 <= data["distance_m"] <= 1.5 and data["viewers"] == 1
    assert data["at"].endswith("Z")
    # the shopper turns away about 10 s in and is gone at 14 s: wait for the track to end, then stop
    await until(lambda: job.health()["screens"]["entrance"]["people_in_view"] == 0, 15, "track never ended")
    assert len(unique_in_order(hq.events("engaged"))) == 1  # once per person entering the zone
    await job.stop()
    await until(lambda: [e for e in hq.events("audience") if e["data"]["partial"]], 10, "no partial period")
    periods = [e["data"] for e in unique_in_order(hq.events("audience"))]
    assert periods[-1]["partial"] is True  # the open period, closed early by the stop
    assert sum(p["passing"] for p in periods) == 1 and sum(p["stopping"] for p in periods) == 1
    assert sum(p["engaged"] for p in periods) == 1
    assert 4.0 <= max(p["dwell_s"]["max"] or 0 for p in periods) <= 10.0  # ~6 s standing at 1.2 m
    assert max(p["facing_share"] or 0 for p in periods) >= 0.7


async def test_a_dead_hook_endpoint_is_logged_not_fatal() -> None:
    hook = EngagedHook("http://127.0.0.1:9/engaged", 1.0, "x")  # port 9 (discard): nothing listens
    hook.fire({"screen": "x"})
    await asyncio.sleep(0)
    await asyncio.wait_for(hook.close(), 5)
    assert hook.failed == 1 and hook.sent == 0 and hook.last_error


async def test_a_missing_camera_is_unhealthy_and_the_rest_goes_on(
    running: Any, broker: Any, hq_factory: Any, tmp_path: Path
) -> None:
    hq: Hq = hq_factory(broker.port)
    good = await asyncio.to_thread(shop_folder, tmp_path / "good")
    app = await running([
        {"id": "ghost", "source": str(tmp_path / "no-such-camera.mp4"), "fps": 5},
        {"id": "aisle", "source": f"folder:{good}", "fps": 5},
    ])
    job = screen_job(app)
    await until(lambda: job.health()["screens"]["ghost"]["state"] == "down", 10, "missing camera not down")
    await until(lambda: job.health()["screens"]["aisle"]["state"] == "up", 10, "good camera not up")
    assert not job.healthy
    ghost = job.health()["screens"]["ghost"]
    assert "no such file" in ghost["detail"] and ghost["camera"] == "reconnecting"
    reports = await until(lambda: health_reports(hq, "screen:ghost") and health_reports(hq, "screen:aisle"), 10, "")
    assert reports
    assert health_reports(hq, "screen:ghost")[-1] == {
        "device": "screen:ghost", "job": "screen", "healthy": False, "detail": ghost["detail"]}
    assert health_reports(hq, "screen:aisle")[-1]["healthy"] is True
    status = await app.status()
    assert status["components"]["screen"]["healthy"] is False
    assert status["components"]["sync"]["healthy"] is True


async def test_a_broken_stream_that_comes_back_is_healthy_again(
    running: Any, broker: Any, hq_factory: Any, tmp_path: Path
) -> None:
    hq: Hq = hq_factory(broker.port)
    folder = await asyncio.to_thread(shop_folder, tmp_path / "cam")
    app = await running([{"id": "door", "source": f"folder:{folder}", "fps": 5}])
    job = screen_job(app)
    await until(lambda: job.healthy and job.health()["screens"]["door"]["state"] == "up", 10, "never up")
    aside = folder.rename(tmp_path / "unplugged")  # the stream breaks: files gone, folder gone
    await until(lambda: not job.healthy, 10, "outage not noticed")
    assert "camera unavailable" in job.health()["screens"]["door"]["detail"]
    aside.rename(folder)
    await until(lambda: job.healthy and job.health()["screens"]["door"]["state"] == "up", 20, "never back")
    states = await until(lambda: [e["healthy"] for e in health_reports(hq, "screen:door")][-3:] == [True, False, True]
                         and health_reports(hq, "screen:door"), 10, "device.health events missing")
    assert [e["healthy"] for e in states] == [True, False, True]


async def test_black_frames_mean_the_camera_is_down(running: Any, tmp_path: Path) -> None:
    folder = await asyncio.to_thread(shop_folder, tmp_path / "covered", np.zeros((480, 640, 3), np.uint8))
    app = await running([{"id": "lens", "source": f"folder:{folder}", "fps": 5}])
    job = screen_job(app)
    await until(lambda: job.health()["screens"]["lens"]["state"] == "down", 10, "black frames not noticed")
    screen = job.health()["screens"]["lens"]
    assert "uniform" in screen["detail"] and screen["camera"] == "streaming" and screen["bad_frames"] > 0


def health_reports(hq: Hq, device: str) -> list[dict[str, Any]]:
    """`device.health` data HQ received for one device, in order, repeats dropped."""
    return [e["data"] for e in unique_in_order(hq.events("device.health")) if e["data"]["device"] == device]


async def test_full_detect_every_s_reaches_the_pipeline(running: Any) -> None:
    """0 turns the search near tracks off: every frame with someone tracked is a full detection, as before issue 16."""
    app = await running([
        {"id": "every", "source": "simulated:shopper", "fps": 10, "full_detect_every_s": 0},
        {"id": "cheap", "source": "simulated:shopper", "fps": 10},
    ])
    every, cheap = screen_job(app).workers
    await until(lambda: min(every.figures.analysed, cheap.figures.analysed) >= 80, 30, "frames not analysed")
    assert every._pipeline is not None and cheap._pipeline is not None
    assert every._pipeline.full_every_s == 0 and cheap._pipeline.full_every_s == 1.0
    assert every._pipeline.detections >= 2 * cheap._pipeline.detections, (every._pipeline.detections, cheap._pipeline.detections)


@pytest.mark.parametrize(
    ("screen", "message"),
    [
        ({"id": "a", "source": 0, "zone_near_m": 2.0, "zone_far_m": 1.5}, "zone_near_m (2.0) must be below zone_far_m (1.5)"),
        ({"id": "a", "source": "simulated:robot"}, "screen.screens[0].source: Value error, unknown simulated source"),
        ({"id": "a", "source": 0, "fps": 0}, "screen.screens[0].fps: Input should be greater than 0"),
        ({"id": "a", "source": 0, "engaged_hook": {"url": "ftp://player"}}, "screen.screens[0].engaged_hook.url"),
        ({"id": "a", "source": 0, "zone_far": 2}, "screen.screens[0].zone_far: unknown key"),
        ({"id": "a", "source": 0, "full_detect_every_s": -1}, "screen.screens[0].full_detect_every_s"),
    ],
)
def test_bad_screen_config_is_a_readable_error(screen: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config({"store": {"id": "s1"}, "screen": {"screens": [screen]}}, env={})
    assert message in str(err.value)


def test_screen_ids_must_be_unique() -> None:
    with pytest.raises(ConfigError, match="repeated: a"):
        parse_config({"store": {"id": "s1"}, "screen": {"screens": [{"id": "a", "source": 0}, {"id": "a", "source": 1}]}}, env={})
