"""The screen job's part of the demo story: a simulated shopper at the entrance screen, counted anonymously."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from edge.demo.hq import unique_in_order
from edge.demo.story_base import DemoContext, Scene
from edge.demo.words import clock


class DemoCheckFailed(AssertionError):
    """What the scene claims did not happen."""


def _data(ctx: DemoContext, kind: str, screen: str) -> list[dict[str, Any]]:
    """Data of the events of `kind` HQ received from one screen, repeats dropped."""
    return [e["data"] for e in unique_in_order(ctx.hq.events(kind)) if e["data"].get("screen") == screen]


async def scene_shopper(ctx: DemoContext) -> None:
    """A shopper walks up to the entrance screen, stops, looks and leaves: one `engaged`, then the `audience` period."""
    section = ctx.app.config.screen
    simulated = [s for s in (section.screens if section and section.enabled else []) if s.source == "simulated:shopper"]
    if not simulated:
        ctx.say("(screen scene skipped: no simulated screen in [screen])")
        return
    spec = simulated[0]
    ctx.say(f"screen '{spec.id}' films the shop (simulated camera, {spec.fps:g} fps): one second after the daemon "
            f"started, a shopper walks up from 3 m, stops at 1.2 m for 6 s looking at the screen, turns away and leaves")
    engaged = await ctx.wait(lambda _: _data(ctx, "engaged", spec.id), timeout=20)
    first = engaged[0]
    zone = ZoneInfo(ctx.app.config.store.timezone)
    viewers = f"{first['viewers']} viewer" + ("" if first["viewers"] == 1 else "s")
    ctx.say(f"  engaged at {clock(first['at'], zone)}: {first['distance_m']} m from the screen, {viewers} — "
            f"sent the moment the shopper entered the {spec.zone_near_m:g}–{spec.zone_far_m:g} m zone, "
            "so the screen can switch to interactive content")

    def counted(_: Any) -> list[dict[str, Any]] | None:
        periods = _data(ctx, "audience", spec.id)
        return periods if sum(p["passing"] for p in periods) >= 1 else None

    periods = [p for p in await ctx.wait(counted, timeout=25) if p["passing"] or p["engaged"]]
    ctx.say(f"  audience, counted per {spec.period_s:g} s period: how many people passed by, how many of them stopped in the"
            f" zone ({spec.min_stop_s:g} s or more), how many engaged events were sent, the longest stop, and the share of"
            " in-zone time spent facing the screen:")
    for p in periods:
        longest = "—" if p["dwell_s"]["max"] is None else f"{p['dwell_s']['max']:g} s"
        facing = "—" if p["facing_share"] is None else f"{p['facing_share']:.0%}"
        ctx.say(f"    {clock(p['period_start'], zone)[:8]}–{clock(p['period_end'], zone)}: {p['passing']} passing,"
                f" {p['stopping']} stopping, {p['engaged']} engaged, longest stop {longest}, facing {facing}")
    totals = {k: sum(p[k] for p in periods) for k in ("passing", "stopping", "engaged")}
    if len(_data(ctx, "engaged", spec.id)) != 1 or totals != {"passing": 1, "stopping": 1, "engaged": 1}:
        raise DemoCheckFailed(f"expected the shopper engaged, passing and stopping once; got {totals}")
    ctx.say("  privacy: frames stayed in memory; HQ received only counts, durations, a distance rounded to 0.1 m "
            "and times — no image, box, landmark or track id")


SCENES: list[Scene] = [scene_shopper]
