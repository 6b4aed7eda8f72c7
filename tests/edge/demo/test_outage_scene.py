"""The demo's outage scene names the sequence numbers of the events sent during the outage, not of whatever came last."""

from __future__ import annotations

import re
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from edge.demo.story import outage_seqs, scene_outage
from edge.demo.story_base import DemoContext


class Outbox:
    """The store's outbox: every emit takes the next seq; the jobs keep emitting their own events in between."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def emit(self, kind: str, data: dict[str, Any]) -> int:
        """Queue an event; returns its seq."""
        seq = len(self.events) + 1
        self.events.append({"id": f"e{seq}", "seq": seq, "kind": kind, "data": data})
        return seq

    async def write(self, fn: Any) -> Any:
        """One transaction: a job's temperature event every third write, then the scene's own."""
        if len(self.events) % 3 == 0:
            self.emit("temperature", {"section": "dairy-1"})
        return fn(SimpleNamespace(emit=self.emit))


class Broker:
    """The demo's broker: while it is stopped HQ receives nothing; once back, the backlog and then fresh job events."""

    def __init__(self, outbox: Outbox, hq: Hq) -> None:
        self.outbox, self.hq = outbox, hq

    def stop(self) -> None:
        """The line is cut."""

    def start(self) -> None:
        """The backlog is delivered in seq order, some of it twice (QoS 1), then the jobs' events after the outage."""
        for _ in range(5):
            self.outbox.emit("label.updated", {"label": "E5"})
        self.hq.received = [*self.outbox.events[:4], *self.outbox.events]


class Hq:
    """Headquarters' record of what arrived."""

    def __init__(self, before: list[dict[str, Any]]) -> None:
        self.received = list(before)

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        """Every event seen, repeats included."""
        return [e for e in self.received if kind is None or e["kind"] == kind]

    def wait(self, predicate: Any, timeout: float = 10.0) -> Any:
        """What the predicate finds, polled until it finds something."""
        deadline = time.monotonic() + timeout
        while not (found := predicate(self.received)):
            assert time.monotonic() < deadline, "timed out"
            time.sleep(0.01)
        return found


def test_outage_seqs_keeps_the_sent_events_in_arrival_order_without_repeats():
    events = [{"id": f"e{s}", "seq": s} for s in (3, 4, 5, 3, 6, 7, 8)]
    assert outage_seqs([4, 6, 8], events) == [4, 6, 8]
    assert outage_seqs([9], events) == []


async def test_the_outage_scene_prints_the_range_of_the_events_sent_during_the_outage(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    outbox = Outbox()
    for n in range(3):
        outbox.emit("link.test", {"n": n + 1})  # the link scene's events, received before the outage
    hq = Hq(outbox.events)
    link = SimpleNamespace(refresh_depth=_zero, health=lambda: SimpleNamespace(outbox_depth=0))
    ctx = DemoContext(SimpleNamespace(store=outbox, link=link), hq, Broker(outbox, hq), tmp_path)  # type: ignore[arg-type]

    await scene_outage(ctx)

    sent = [e["seq"] for e in outbox.events if e["data"].get("tag") == "during-outage"]
    assert len(sent) == 20 and sent[-1] - sent[0] + 1 > 20  # the jobs' events are interleaved
    out = capsys.readouterr().out
    claimed = re.search(r"all 20 events of the outage reached HQ in order: #(\d+)…#(\d+)", out)
    assert claimed is not None, out
    assert (int(claimed[1]), int(claimed[2])) == (sent[0], sent[-1])
    assert f"with {sent[-1] - sent[0] + 1 - 20} events of the jobs between them" in out


async def _zero() -> int:
    """An outbox depth of nothing left."""
    return 0
