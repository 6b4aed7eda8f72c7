"""The demo's script: scenes played by a scripted headquarters against the running daemon.

Each scene tells one part of the story and checks what it claims (a demo that prints
"delivered" must have seen the delivery). The core's scenes are here; each job's scenes come
from its JobSpec (`edge/<job>/demo.py`), played in job order between the link and the web pages.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from edge.demo import web_story
from edge.demo.hq import unique_in_order
from edge.demo.story_base import DemoContext, Scene
from edge.demo.words import seq_range
from edge.jobs import JobSpec

OUTAGE_EVENTS = 20


class DemoCheckFailed(AssertionError):
    """What a scene claims did not happen."""


async def scene_link(ctx: DemoContext) -> None:
    """Headquarters talks to the store: ping, configuration, a bad request, a repeated one."""
    status = await ctx.wait(lambda _: [s for s in ctx.hq.statuses() if s["state"] == "online"])
    ctx.say(f"HQ sees the store online: its status message (kept by the broker for whoever subscribes later) says online,"
            f" connection #{status[-1]['birth']} (its 'birth' count), software {status[-1]['version']}")
    pong = await ctx.request("ping", {})
    ctx.say(f"HQ → ping: the store answers; it has been running {pong['result']['uptime_s']:.1f} s")
    config = await ctx.request("config.get", {})
    ctx.say(f"HQ → config.get: store {config['result']['store']['id']}, broker {config['result']['broker']['url']}")
    bad = await ctx.request("price.update", b"{this is not json")
    ctx.say(f"HQ → a command that is not JSON: refused with error {bad['error']['code']} (\u201c{bad['error']['message'][:80].strip()}\u201d);"
            " the store carries on (the daemon logs the refusal as a warning)")
    first = await ctx.request("link.test", {"count": 3, "tag": "hello"}, request_id="demo-once")
    again = await ctx.request("link.test", {"count": 3, "tag": "hello"}, request_id="demo-once")
    await ctx.wait(lambda _: len(ctx.hq.events("link.test")) >= 3)
    delivered = len(unique_in_order(ctx.hq.events("link.test")))
    if first != again or delivered != 3:
        raise DemoCheckFailed(f"a repeated command took effect twice: replies equal {first == again}, {delivered} events")
    ctx.say("HQ → link.test sent twice with the same request id 'demo-once' (as HQ does when a reply is lost):"
            " the same reply both times and 3 events, not 6: a command takes effect once however often it is sent")


def outage_seqs(sent: list[int], events: list[dict[str, Any]]) -> list[int]:
    """The sequence numbers of the `sent` events in the order headquarters first received them (repeats dropped)."""
    wanted = set(sent)
    return [e["seq"] for e in unique_in_order(events) if e["seq"] in wanted]


async def scene_outage(ctx: DemoContext) -> None:
    """The WAN drops: the store keeps working, events wait in the outbox and all arrive afterwards."""
    if ctx.broker is None:
        ctx.say("(outage scene skipped: the broker is not the demo's own)")
        return
    ctx.broker.stop()
    ctx.say("✂ the broker stops, as when the store's internet line is cut: the store is offline"
            " (the daemon's warnings below are its own log noticing this and retrying)")
    sent = []
    for i in range(OUTAGE_EVENTS):
        sent.append(await ctx.app.store.write(lambda tx, i=i: tx.emit("link.test", {"n": i + 1, "of": OUTAGE_EVENTS, "tag": "during-outage"})))
    await asyncio.sleep(1.0)
    depth = await ctx.app.link.refresh_depth()
    ctx.say(f"  meanwhile the store keeps working: it records {OUTAGE_EVENTS} test events ({seq_range(sent)}); {depth} events"
            " (these and the jobs' own) wait in its outbox, a queue on disk that survives a restart")
    ctx.broker.start()
    ctx.say("✔ the broker is back")

    def all_arrived(_: Any) -> list[int] | None:
        """The outage's events as HQ received them, once every one is there."""
        got = outage_seqs(sent, ctx.hq.events())
        return got if len(got) == len(sent) else None

    arrived = await ctx.wait(all_arrived, timeout=40)
    for _ in range(50):  # acknowledgements are deleted in batches; give the last batch a moment
        if await ctx.app.link.refresh_depth() == 0:
            break
        await asyncio.sleep(0.1)
    if arrived != sent:
        raise DemoCheckFailed(f"the outage's events arrived out of order: {arrived}")
    between = sent[-1] - sent[0] + 1 - len(sent)
    others = f" (with {between} events of the jobs between them)" if between else ""
    ctx.say(f"  all {len(sent)} events of the outage reached HQ in order: {seq_range(sent)}{others}, none lost, none twice;"
            f" {ctx.app.link.health().outbox_depth} events wait in the outbox now")


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
