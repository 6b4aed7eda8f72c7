"""`store-edge demo`: a local broker, the daemon on simulated devices, and the scripted headquarters."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from edge.app import App
from edge.config import load_config
from edge.demo.broker import BrokerUnavailable, Mosquitto
from edge.demo.hq import Hq
from edge.demo.story import scenes, write_summary
from edge.demo.story_base import DemoContext
from edge.demo.words import event_line
from edge.logs import configure


PRINTED_PER_KIND = 3


def _printer(root: str, zone: ZoneInfo):  # noqa: ANN202
    """Print what headquarters receives as it arrives, as words: the first few events of each kind, then a count.

    A full-store refresh sends hundreds of `label.updated`; the scenes summarise those, and
    `hq-received.jsonl` in the output folder keeps every one.
    """
    seen: dict[str, int] = {}

    def show(topic: str, payload: bytes) -> None:
        rel = topic.removeprefix(root + "/")
        if not rel.startswith("event/"):
            return
        event = json.loads(payload)
        kind = event["kind"]
        if not seen:
            print("         (⇡ marks an event the store sends to headquarters; #n is its sequence number, by which HQ"
                  " sees that none is missing or repeated; times are the store's local time)", flush=True)
        seen[kind] = seen.get(kind, 0) + 1
        if seen[kind] <= PRINTED_PER_KIND:
            print(f"         ⇡ {event_line(event, zone)}", flush=True)
        elif seen[kind] == PRINTED_PER_KIND + 1:
            print(f"         ⇡ … more {kind} events follow (not printed; every one is in hq-received.jsonl)", flush=True)

    return show


async def run_demo(config_path: Path, output: Path, keep_running: bool) -> int:
    """Play the story, then stop (or keep serving with `keep_running`)."""
    broker: Mosquitto | None = None
    if os.environ.get("STORE_EDGE_BROKER"):
        broker_url = os.environ["STORE_EDGE_BROKER"]
    else:
        try:
            broker = Mosquitto(output / "broker").start()
        except BrokerUnavailable as err:
            print(f"demo: {err}", file=sys.stderr)
            return 1
        broker_url = broker.url
    data_dir = output / "data"
    env = {**os.environ, "STORE_EDGE_BROKER": broker_url, "STORE_EDGE_DATA_DIR": str(data_dir)}
    config = load_config(config_path, env=env)
    # The demo must not collide with a daemon already serving on the configured port.
    config = config.model_copy(update={"http": config.http.model_copy(update={"listen": f"{config.http.host}:0"})})
    configure("warning", "console")
    app = await App.create(config)
    daemon = asyncio.create_task(app.run(), name="daemon")
    port = urlsplit(broker_url).port or 1883
    hq = Hq(port, config.store.id, prefix=config.broker.topic_prefix, on_message=_printer(f"{config.broker.topic_prefix}/{config.store.id}", ZoneInfo(config.store.timezone)))
    ctx = DemoContext(app, hq, broker, output)
    ctx.say(f"store-edge demo: store {config.store.id}, broker {broker_url}, output {output}")
    code = 0
    try:
        for scene in scenes(config.jobs):
            ctx.say(f"── {scene.__doc__.splitlines()[0] if scene.__doc__ else scene.__name__}")
            await scene(ctx)
        ctx.say(f"HQ's log of everything it received: {write_summary(ctx)}")
        if keep_running:
            ctx.say(f"keeping the daemon running (status: store-edge status --url http://127.0.0.1:{app.web.port if app.web else '?'}); Ctrl-C stops")
            await daemon
    except Exception as err:  # noqa: BLE001 - the demo reports and stops cleanly
        ctx.say(f"demo failed: {err!r}")
        code = 1
    finally:
        app.request_stop()
        await asyncio.wait_for(daemon, 15)
        hq.close()
        if broker is not None:
            broker.stop()
    ctx.say("demo finished" if code == 0 else "demo finished with errors")
    return code


MARKER = ".store-edge-demo"  # in every output folder the demo made: only such a folder is ever emptied


class OutputRefused(Exception):
    """`--output` names something the demo must not write into; nothing was deleted."""


def prepare_output(output: Path) -> Path:
    """An empty output folder: a new one (marked as the demo's), an empty one, or one the demo made before (emptied); never another's."""
    if output.is_symlink() or (output.exists() and not output.is_dir()):
        raise OutputRefused(f"--output {output} is not a folder; nothing was changed")
    if output.is_dir() and any(output.iterdir()):
        if not (output / MARKER).is_file():
            raise OutputRefused(
                f"--output {output} is not empty and was not made by the demo (no {MARKER} in it); "
                "choose a new or empty folder; nothing was deleted"
            )
        for entry in output.iterdir():  # a previous run's files, in a folder the demo made
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
    output.mkdir(parents=True, exist_ok=True)
    (output / MARKER).write_text("made by store-edge demo; the next demo run with this --output empties this folder\n")
    return output.resolve()
