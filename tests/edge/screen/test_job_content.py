"""Audience per content through the real job: a scripted scene of known shoppers, `screen.content` over a real broker."""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
from pathlib import Path
from typing import Any

import pytest

from devices.camera.capture import Camera
from devices.camera.scene import Keyframe, Scene, face_width_px, shopper_walk
from devices.camera.simulated import SceneSource
from edge.demo.hq import Hq, unique_in_order
from edge.screen import job as screen_job_module
from edge.screen.events import rfc3339
from tests.conftest import wait_online
from tests.edge.screen.test_job import make_app, screen_job, shop_folder, until

FPS = 10.0
LEAD_S = 6.0  # empty shop first: time to send the schedule before anyone appears
CHANGE_S = 12.0  # scene time at which content "spring-a" gives way to "spring-b" (shopper 1 is standing then)
SCENE_END_S = 26.0
ZONE = (1.0, 1.5)
MIN_FACE_PX = 16


def scripts() -> list[list[Keyframe]]:
    """Shopper 1 walks up, stops at 1.2 m across the change and leaves; shopper 2 crosses far off, looking."""
    far = face_width_px(2.3)
    passer = [Keyframe(18.0, 40.0, 110.0, far), Keyframe(24.0, 600.0, 110.0, far)]
    return [shopper_walk(t0=LEAD_S), passer]


def true_distance(script: list[Keyframe], t: float) -> float | None:
    """The scripted distance of a shopper at scene time `t` (None: not in the picture, or turned away past 45°)."""
    if t < script[0].t or t > script[-1].t:
        return None
    for a, b in itertools.pairwise(script):
        if a.t <= t <= b.t:
            u = (t - a.t) / (b.t - a.t)
            width = a.width_px + (b.width_px - a.width_px) * u
            if a.yaw_deg + (b.yaw_deg - a.yaw_deg) * u > 45.0:
                return None
            return 0.15 * (320 / 0.7002075382097097) / width  # focal of 640 px at 70°
    return None


def expected() -> dict[str, dict[str, float]]:
    """Per content, from the script alone: people in view, in-zone seconds of shopper 1, engaged triggers."""
    s1, s2 = scripts()
    zone = {"spring-a": 0.0, "spring-b": 0.0}
    entered = None
    for i in range(int(SCENE_END_S * 100)):
        t = i / 100
        d = true_distance(s1, t)
        if d is not None and ZONE[0] <= d <= ZONE[1]:
            zone["spring-a" if t < CHANGE_S else "spring-b"] += 0.01
            entered = t if entered is None else entered
    assert entered is not None and entered < CHANGE_S < s1[-1].t and s2[0].t > CHANGE_S
    return {
        "spring-a": {"ots": 1, "stopping": 1, "engaged": 1, "dwell": zone["spring-a"]},
        "spring-b": {"ots": 2, "stopping": 1, "engaged": 0, "dwell": zone["spring-b"]},
    }


@pytest.fixture
def scene_cameras(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Screens film the scripted scene; frame times are scene time after the recorded start (listed here)."""
    starts: list[float] = []

    def make(source: str | int, *, name: str, fps: float) -> Camera:
        scene = SceneSource(Scene(scripts(), width=640, height=480), fps=FPS, loop=False)
        base = time.time()
        starts.append(base)
        return Camera(scene, name=name, fps=FPS, clock=lambda: base + (scene.frame_index - 1) / FPS)

    monkeypatch.setattr(screen_job_module, "make_camera", make)
    return starts


async def test_audience_is_split_by_the_content_playing(
    broker: Any, hq_factory: Any, tmp_path: Path, scene_cameras: list[float]
) -> None:
    hq: Hq = hq_factory(broker.port)
    app = await make_app(broker.url, tmp_path / "data", [
        {"id": "entrance", "source": "simulated:shopper", "fps": FPS, "period_s": 300, "min_face_px": MIN_FACE_PX},
    ])
    task = asyncio.create_task(app.run())
    try:
        await until(lambda: scene_cameras, 20, "the camera never started")
        base = scene_cameras[0]
        body = {"screen": "entrance", "spans": [
            {"content": "spring-a", "start": rfc3339(base), "end": rfc3339(base + CHANGE_S)},
            {"content": "spring-b", "start": rfc3339(base + CHANGE_S)},
        ]}
        reply = await asyncio.to_thread(hq.request, "screen.content", body, None, 10.0)
        assert reply["ok"], reply
        assert time.time() < base + LEAD_S, "the schedule arrived after the first shopper appeared"
        assert reply["result"] == {"screen": "entrance", "spans": 2, "playing": "spring-a"}
        job = screen_job(app)
        await until(lambda: time.time() > base + SCENE_END_S + 2, 60, "scene did not end")
        await until(lambda: job.health()["screens"]["entrance"]["people_in_view"] == 0, 15, "tracks never ended")
        await job.stop()
        await until(lambda: [e for e in hq.events("audience") if e["data"]["partial"]], 10, "no partial period")
    finally:
        app.request_stop()
        await asyncio.wait_for(task, 15)

    periods = [e["data"] for e in unique_in_order(hq.events("audience"))]
    rows: dict[str | None, dict[str, Any]] = {}
    for period in periods:
        for row in period["by_content"]:
            total = rows.setdefault(row["content"], {"ots": 0, "watchers": 0, "stopping": 0, "engaged": 0,
                                                     "attention": 0.0, "dwell": 0.0, "playing": 0.0})
            for key in ("ots", "watchers", "stopping", "engaged"):
                total[key] += row[key]
            total["attention"] += row["attention_s"]["total"]
            total["dwell"] += (row["dwell_s"]["mean"] or 0.0) * row["stopping"]
            total["playing"] += row["playing_s"]
    want = expected()
    assert {k for k in rows if rows[k]["ots"]} == set(want), rows  # nobody counted under unknown content
    for content, figures in want.items():
        got = rows[content]
        assert (got["ots"], got["stopping"], got["engaged"]) == (figures["ots"], figures["stopping"], figures["engaged"])
        assert got["dwell"] == pytest.approx(figures["dwell"], abs=1.0), (content, got)
        assert got["watchers"] == figures["ots"]  # everyone in this scene looks at the screen for seconds
    assert rows["spring-a"]["playing"] == pytest.approx(CHANGE_S, abs=0.1)
    assert sum(p["passing"] for p in periods) == 2 and sum(p["engaged"] for p in periods) == 1


@pytest.mark.parametrize(("spans", "message"), [
    ([], "spans"),
    ([{"content": "a", "start": "yesterday"}], "spans[0].start"),
    ([{"content": "a b", "start": "2026-11-25T10:00:00Z"}], "spans[0].content"),
    ([{"content": "a", "start": "2026-11-25T10:00:00Z", "end": "2026-11-25T09:00:00Z"}], "'end' must be later"),
    ([{"content": "a", "start": "2026-11-25T10:00:00Z", "end": "2026-11-25T11:00:00Z"},
      {"content": "b", "start": "2026-11-25T10:30:00Z"}], "spans[1].start: overlaps spans[0]"),
    ([{"content": "a", "start": "2026-11-25T10:00:00Z"}] * 2, "spans[1].start: spans must be in start order"),
    ([{"content": "a", "start": "2026-11-25T10:00:00Z", "colour": "red"}], "spans[0].colour"),
    ([{"content": f"c{n}", "start": f"2026-11-25T10:00:{n % 60:02d}.{n // 60:03d}Z"} for n in range(501)], "spans"),
])
async def test_bad_content_commands_get_field_errors_and_the_screen_counts_on(
    broker: Any, hq_factory: Any, tmp_path: Path, spans: list[dict[str, Any]], message: str
) -> None:
    hq: Hq = hq_factory(broker.port)
    folder = await asyncio.to_thread(shop_folder, tmp_path / "cam")
    app = await make_app(broker.url, tmp_path / "data", [{"id": "entrance", "source": f"folder:{folder}"}])
    task = asyncio.create_task(app.run())
    try:
        await asyncio.to_thread(wait_online, hq, 1, 20)
        reply = await asyncio.to_thread(hq.request, "screen.content", {"screen": "entrance", "spans": spans}, None, 15.0)
        assert reply["ok"] is False and reply["error"]["code"] == "invalid_argument", reply
        assert message in reply["error"]["message"], reply
        unknown = {"screen": "back-door", "spans": [{"content": "a", "start": "2026-11-25T10:00:00Z"}]}
        reply = await asyncio.to_thread(hq.request, "screen.content", unknown, None, 10.0)
        assert reply["error"]["code"] == "not_found" and "screen" in reply["error"]["message"], reply
        await until(lambda: screen_job(app).health()["screens"]["entrance"]["state"] == "up", 20, "screen not up")
    finally:
        app.request_stop()
        await asyncio.wait_for(task, 15)


async def test_the_schedule_survives_a_restart_and_a_new_schedule_replaces_from_its_start(
    broker: Any, hq_factory: Any, tmp_path: Path
) -> None:
    hq: Hq = hq_factory(broker.port)
    folder = await asyncio.to_thread(shop_folder, tmp_path / "cam")
    screens = [{"id": "entrance", "source": f"folder:{folder}"}]
    now = time.time()
    plan = {"screen": "entrance", "spans": [
        {"content": "morning", "start": rfc3339(now - 600), "end": rfc3339(now + 600)},
        {"content": "noon", "start": rfc3339(now + 600), "end": rfc3339(now + 1200)},
        {"content": "evening", "start": rfc3339(now + 1200)},
    ]}
    for n, step in enumerate(("plan", "check")):
        app = await make_app(broker.url, tmp_path / "data", screens)
        task = asyncio.create_task(app.run())
        try:
            await asyncio.to_thread(wait_online, hq, n + 1, 20)
            if step == "plan":
                reply = await asyncio.to_thread(hq.request, "screen.content", plan, None, 15.0)
                assert reply["result"] == {"screen": "entrance", "spans": 3, "playing": "morning"}, reply
            else:  # after the restart: the stored plan, then "now playing" cuts it from its start on
                worker = screen_job(app).workers[0]
                await until(lambda w=worker: w.content.at(now + 900) == "noon", 20, "schedule not loaded")
                assert worker.content.at(now) == "morning" and worker.content.at(now + 5000) == "evening"
                playing = {"screen": "entrance", "spans": [{"content": "flash-sale", "start": rfc3339(now + 300)}]}
                reply = await asyncio.to_thread(hq.request, "screen.content", playing, None, 15.0)
                assert reply["result"] == {"screen": "entrance", "spans": 2, "playing": "morning"}, reply
                assert worker.content.at(now + 299) == "morning"
                assert worker.content.at(now + 900) == worker.content.at(now + 5000) == "flash-sale"
        finally:
            app.request_stop()
            await asyncio.wait_for(task, 15)


async def test_the_documented_example_works_as_written(broker: Any, hq_factory: Any, tmp_path: Path) -> None:
    doc = (Path(__file__).resolve().parents[3] / "docs/mqtt-api/screen.md").read_text(encoding="utf-8")
    section = doc[doc.index("## Command `screen.content`"):]
    request, documented = (json.loads(b) for b in re.findall(r"```json\n(.*?)```", section, re.S)[:2])
    hq: Hq = hq_factory(broker.port)
    folder = await asyncio.to_thread(shop_folder, tmp_path / "cam")
    app = await make_app(broker.url, tmp_path / "data", [{"id": "entrance", "source": f"folder:{folder}"}])
    task = asyncio.create_task(app.run())
    try:
        await asyncio.to_thread(wait_online, hq, 1, 20)
        body = {k: v for k, v in request.items() if k != "id"}
        reply = await asyncio.to_thread(hq.request, "screen.content", body, request["id"], 15.0)
        assert reply == documented
    finally:
        app.request_stop()
        await asyncio.wait_for(task, 15)
