"""The demo's script: scenes played by a scripted headquarters against the running daemon.

Each scene tells one part of the story and checks what it claims (a demo that prints
"delivered" must have seen the delivery). The core's scenes are here; each job's scenes come
from its JobSpec (`edge/<job>/demo.py`), played in job order between the link and the web pages.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from edge.demo import web_story
from edge.demo.hq import unique_in_order
from edge.demo.story_base import DemoContext, Scene
from edge.jobs import JobSpec


async def scene_link(ctx: DemoContext) -> None:
    """Headquarters talks to the store: ping, configuration, a bad request, a repeated one."""
    status = await ctx.wait(lambda _: [s for s in ctx.hq.statuses() if s["state"] == "online"])
    ctx.say(f"HQ sees the store online (retained status, birth {status[-1]['birth']}, version {status[-1]['version']})")
    pong = await ctx.request("ping", {})
    ctx.say(f"HQ → ping: ok, uptime {pong['result']['uptime_s']} s")
    config = await ctx.request("config.get", {})
    ctx.say(f"HQ → config.get: store {config['result']['store']['id']}, broker {config['result']['broker']['url']}")
    bad = await ctx.request("price.update", b"{this is not json")
    ctx.say(f"HQ → malformed payload: error reply {bad['error']['code']!r} ({bad['error']['message'][:60]})")
    first = await ctx.request("link.test", {"count": 3, "tag": "hello"}, request_id="demo-once")
    again = await ctx.request("link.test", {"count": 3, "tag": "hello"}, request_id="demo-once")
    await ctx.wait(lambda _: len(ctx.hq.events("link.test")) >= 3)
    ctx.say(
        f"HQ → link.test sent twice with id 'demo-once': same reply both times ({first == again}), "
        f"{len(unique_in_order(ctx.hq.events('link.test')))} events delivered (not 6)"
    )


async def scene_outage(ctx: DemoContext) -> None:
    """The WAN drops: the store keeps working, events wait in the outbox and all arrive afterwards."""
    if ctx.broker is None:
        ctx.say("(outage scene skipped: the broker is not the demo's own)")
        return
    before = len(unique_in_order(ctx.hq.events()))
    ctx.broker.stop()
    ctx.say("✂ broker stopped: the store is offline")
    for i in range(20):
        await ctx.app.store.write(lambda tx, i=i: tx.emit("link.test", {"n": i + 1, "of": 20, "tag": "during-outage"}))
    await asyncio.sleep(1.0)
    depth = await ctx.app.link.refresh_depth()
    ctx.say(f"  meanwhile the store keeps working: {depth} events wait in the durable outbox")
    ctx.broker.start()
    ctx.say("✔ broker back")
    await ctx.wait(lambda _: len(unique_in_order(ctx.hq.events())) >= before + 20, timeout=40)
    seqs = [e["seq"] for e in unique_in_order(ctx.hq.events())]
    for _ in range(50):  # acknowledgements are deleted in batches; give the last batch a moment
        if await ctx.app.link.refresh_depth() == 0:
            break
        await asyncio.sleep(0.1)
    ctx.say(f"  all 20 arrived, in order: seq {seqs[-20]}…{seqs[-1]}, none lost, outbox depth now {ctx.app.link.health().outbox_depth}")


def scenes(jobs: tuple[JobSpec, ...]) -> list[Scene]:
    """The story, in order: the link first, then each job's part, then the status page."""
    job_scenes = [scene for spec in jobs if spec.demo is not None for scene in spec.demo()]
    return [scene_link, scene_outage, *job_scenes, *web_story.SCENES]


def write_summary(ctx: DemoContext) -> Path:
    """Everything headquarters received, for a look after the demo."""
    path = ctx.output / "hq-received.jsonl"
    with path.open("w", encoding="utf-8") as out:
        for topic, payload, retained in ctx.hq.messages:
            out.write(json.dumps({"topic": topic, "retained": retained, "payload": payload.decode(errors="replace")}, ensure_ascii=False) + "\n")
    return path
