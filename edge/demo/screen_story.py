"""The screen job's part of the demo story: a simulated shopper at the entrance screen, counted anonymously."""

from __future__ import annotations

from typing import Any

from devices.camera.simulated import SceneSource
from edge.demo.hq import unique_in_order
from edge.demo.story_base import DemoContext, Scene


class DemoCheckFailed(AssertionError):
    """What the scene claims did not happen."""


def _new(ctx: DemoContext, kind: str, seen: set[str]) -> list[dict[str, Any]]:
    """Event data of `kind` that arrived since the scene began."""
    return [e["data"] for e in unique_in_order(ctx.hq.events(kind)) if e["id"] not in seen]


async def scene_shopper(ctx: DemoContext) -> None:
    """A shopper walks up to the entrance screen, stops, looks and leaves: one `engaged`, then the `audience` period."""
    job = next((j for j in ctx.app.jobs if j.name == "screen"), None)
    workers = [w for w in getattr(job, "workers", []) if w.camera and isinstance(w.camera.source, SceneSource)]
    if not workers:
        ctx.say("(screen scene skipped: no simulated screen in [screen])")
        return
    worker = workers[0]
    source = worker.camera.source
    seen = {e["id"] for e in ctx.hq.events()}
    ctx.say(f"a shopper walks up to screen '{worker.spec.id}' from 3 m, stops at 1.2 m for 6 s, turns away and leaves "
            f"(simulated camera, {worker.spec.fps:g} fps, engagement zone {worker.spec.zone_near_m}–{worker.spec.zone_far_m} m)")
    source.frame_index = 0  # replay the walk from its start
    engaged = await ctx.wait(lambda _: _new(ctx, "engaged", seen), timeout=15)
    first = engaged[0]
    ctx.say(f"  engaged at {first['at']}: {first['distance_m']} m from the screen, {first['viewers']} viewer(s) "
            "— the moment the screen can switch to interactive content")

    def counted(_: Any) -> list[dict[str, Any]] | None:
        periods = _new(ctx, "audience", seen)
        return periods if sum(p["passing"] for p in periods) >= 1 else None

    periods = await ctx.wait(counted, timeout=25)
    for p in periods:
        ctx.say(f"  audience {p['period_start'][11:19]}–{p['period_end'][11:19]}: passing {p['passing']}, "
                f"stopping {p['stopping']}, engaged {p['engaged']}, dwell {p['dwell_s']}, facing {p['facing_share']}")
    totals = {k: sum(p[k] for p in periods) for k in ("passing", "stopping", "engaged")}
    if len(_new(ctx, "engaged", seen)) != 1 or totals != {"passing": 1, "stopping": 1, "engaged": 1}:
        raise DemoCheckFailed(f"expected one shopper engaged, passing and stopping once; got {totals}")
    ctx.say("  privacy: frames stayed in memory; HQ received only counts, durations, a distance rounded to 0.1 m "
            "and times — no image, box, landmark or track id")


SCENES: list[Scene] = [scene_shopper]
