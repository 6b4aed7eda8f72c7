"""`logs.fetch` (issue 17 item 4): the daemon's recent log lines, compressed, in bounded chunks, refused clearly when asked wrongly."""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
import os
import time
from typing import Any

from edge import log_ring
from edge.config import parse_config
from edge.core_commands import register_core_commands
from edge.demo.hq import Hq
from edge.log_ring import CHUNK_BYTES, LogRing
from edge.store import Store
from edge.sync.commands import CommandRegistry, Dispatcher
from edge.sync.requests import Limits
from tests.conftest import wait_online


def decode(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The lines of one `logs.fetch` result."""
    assert result["encoding"] == "gzip+base64" and result["format"] == "jsonl"
    text = gzip.decompress(base64.b64decode(result["data"])).decode()
    lines = [json.loads(line) for line in text.splitlines()]
    assert len(lines) == result["lines"]
    return lines


def test_the_ring_is_bounded_and_chunks_walk_every_line_once() -> None:
    ring = LogRing(max_bytes=3 * 1024 * 1024)
    for n in range(6000):  # incompressible values: chunks must split on their compressed size, not their line count
        ring.append({"event": "noise", "level": "info", "n": n, "blob": base64.b64encode(os.urandom(450)).decode()})
    ring.append({"event": "odd", "level": "info", "value": object(), "huge": "x" * 100_000})  # clipped, never raises
    kept = ring.chunk(0, time.time() + 1, 0, None).oldest_seq
    assert kept is not None and kept > 1  # the oldest lines left the ring
    seen: list[int] = []
    after, chunks = 0, 0
    while True:
        chunk = ring.chunk(0, time.time() + 1, 0, None, after)
        assert len(chunk.data) <= CHUNK_BYTES
        lines = decode({"encoding": "gzip+base64", "format": "jsonl", "data": chunk.data, "lines": chunk.lines})
        seen += [line["n"] for line in lines if "n" in line]
        chunks += 1
        if chunk.next_cursor is None:
            break
        after = int(chunk.next_cursor)
    assert chunks >= 3 and seen == list(range(seen[0], 6000))
    assert lines[-1]["event"] == "odd" and "clipped" in lines[-1]


async def test_reading_a_full_ring_keeps_the_loop_free(tmp_path, monkeypatch) -> None:
    ring = LogRing()

    def fill() -> None:
        """A full ring of incompressible warnings (filled off the loop: the test must not block it either)."""
        for n in range(9000):
            ring.append({"event": "esl.noise", "level": "warning", "n": n, "blob": base64.b64encode(os.urandom(300)).decode()})

    await asyncio.to_thread(fill)
    monkeypatch.setattr(log_ring, "RING", ring)
    store = await asyncio.to_thread(Store, tmp_path / "s.db")
    registry = CommandRegistry()
    register_core_commands(registry, parse_config({"store": {"id": "s1"}}, env={}), time.monotonic())
    dispatcher = Dispatcher(registry, store)
    reply = await dispatcher.handle("logs.fetch", json.dumps({"id": "a", "level": "warning", "job": "esl"}).encode())
    assert reply["ok"] and reply["result"]["next"] is not None  # a full ring needs more than one chunk
    assert len(json.dumps(reply)) < Limits().reply_bytes
    await store.aclose()


def test_logs_fetch_over_the_broker(broker: Any, daemon_factory: Any, hq_factory: Any) -> None:
    daemon_factory(broker.url).start()  # log level debug
    hq: Hq = hq_factory(broker.port)
    wait_online(hq)
    assert hq.request("no.such.command", {})["error"]["code"] == "unknown_command"  # a warning line

    everything = hq.request("logs.fetch", {"level": "debug"})
    assert everything["ok"], everything
    lines = decode(everything["result"])
    assert {"command.unknown"} <= {line["event"] for line in lines}
    assert all({"timestamp", "level", "event"} <= set(line) for line in lines)

    warnings = decode(hq.request("logs.fetch", {"level": "warning"})["result"])
    assert warnings and {line["level"] for line in warnings} <= {"warning", "error", "critical"}
    assert "command.unknown" in {line["event"] for line in warnings}

    first = everything["result"]
    later = hq.request("logs.fetch", {"level": "debug", "cursor": str(first["last_seq"])})["result"]
    assert later["first_seq"] > first["last_seq"]  # from the cursor on: only lines logged since
    assert decode(hq.request("logs.fetch", {"job": "esl"})["result"]) == []  # no esl job in this store

    window = hq.request("logs.fetch", {"since": "2026-01-01T00:00:00Z", "until": "2026-01-01T00:00:01Z"})["result"]
    assert window["lines"] == 0 and window["next"] is None
    huge = hq.request("logs.fetch", {"level": "debug", "since": "1970-01-01T00:00:00Z", "until": "9999-12-31T23:59:59Z"})
    assert huge["ok"] and len(huge["result"]["data"]) <= CHUNK_BYTES  # a huge range is bounded, not refused

    def refused(args: dict[str, Any]) -> str:
        """The error message of a refused `logs.fetch`, which must name the field."""
        reply = hq.request("logs.fetch", args)
        assert not reply["ok"] and reply["error"]["code"] == "invalid_argument", reply
        return str(reply["error"]["message"])

    assert refused({"since": "2026-12-02T10:00:00Z", "until": "2026-12-02T09:00:00Z"}) == "until: must not be before since"
    assert refused({"level": "verbose"}).startswith("level:")
    assert "unknown job 'nope'" in refused({"job": "nope"})
    assert refused({"cursor": "abc"}).startswith("cursor:")
    assert refused({"cursor": "9" * 40}).startswith("cursor:")
    assert refused({"since": "yesterday"}).startswith("since:")
    assert refused({"lines": 5}).startswith("lines:")
    assert hq.request("ping", {})["ok"]  # and the store keeps serving
