"""Poison messages through a real Mosquitto to the daemon process: each gets an error reply, the next command is
answered, the link stays up, and after a restart nothing is redelivered (the broker holds no unacknowledged copy)."""

from __future__ import annotations

import json
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from edge.demo.hq import Hq
from tests.conftest import wait_online
from tests.helpers.daemon import DaemonProcess

NESTED = b'{"id": "p-deep", "x": ' + b"[" * 5000 + b"]" * 5000 + b"}"
POISONS: dict[str, tuple[bytes, str]] = {
    "deep": (NESTED, "nested deeper than 32 levels"),
    "1000 levels": (b'{"id": "p-1000", "x": ' + b"[" * 1000 + b"]" * 1000 + b"}", "nested deeper than 32 levels"),
    "huge integer": (b'{"id": "p-int", "count": ' + b"7" * 5000 + b"}", "more than 4300 digits"),
    "lone surrogate id": (b'{"id": "\\ud800"}', "id: text is not valid Unicode"),
    "lone surrogate text": (b'{"id": "p-tag", "tag": "\\udc00"}', "tag: text is not valid Unicode"),
    "NaN": (b'{"id": "p-nan", "count": NaN}', "NaN is not a JSON number"),
    "over 16 MiB": (b'{"id": "p-big", "tag": "' + b"x" * (16 * 1024 * 1024) + b'"}', "over the limit of 16777216 bytes"),
}


def _replies(hq: Hq) -> list[dict[str, Any]]:
    return hq.replies("link.test")


def _longest_line(text: str) -> int:
    return max((len(line) for line in text.splitlines()), default=0)


def _restart_and_check_nothing_comes_back(daemon: DaemonProcess, hq: Hq, online: int, before: int) -> None:
    """A clean restart; the broker must have no unacknowledged copy of any poison left to deliver."""
    daemon.terminate()
    mark = len(daemon.log())
    daemon.start()
    wait_online(hq, count=online)
    assert hq.request("ping", {})["ok"] is True
    time.sleep(1.0)  # a redelivery would arrive right after the connect, before the ping's reply; give it margin
    assert hq.request("ping", {})["ok"] is True
    after = daemon.log()[mark:]
    assert len(_replies(hq)) == before, "a poison message was redelivered after the restart"
    assert "command.invalid_payload" not in after and "command.invalid_argument" not in after


def test_each_poison_gets_an_error_reply_and_the_next_command_is_answered(broker, daemon_factory, hq_factory):
    daemon = daemon_factory(broker.url).start()
    hq = hq_factory(broker.port)
    wait_online(hq)
    for name, (payload, words) in POISONS.items():
        reply = hq.request("link.test", payload, timeout=20)
        assert reply["ok"] is False and reply["error"]["code"] == "invalid_payload", name
        assert words in reply["error"]["message"] and len(json.dumps(reply)) < 500, (name, reply)
        assert hq.request("ping", {})["ok"] is True, f"not answered after {name}"

    huge_id = hq.request("link.test", {"tag": "x" * 100_000}, request_id="p-long-tag")
    assert huge_id["error"]["code"] == "invalid_argument" and huge_id["error"]["message"].startswith("tag: ")
    assert len(json.dumps(huge_id)) < 500  # the 100 kB value is not echoed
    log = daemon.log()
    assert log.count("link.connected") == 1, "the link reconnected while serving poison"
    assert "Traceback" not in log and _longest_line(log) < 4000, "a log line was not bounded"
    _restart_and_check_nothing_comes_back(daemon, hq, online=2, before=len(_replies(hq)))
    daemon.terminate()


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])  # bad input in 3.1.1 mode as in 5 (docs/brokers.md)
def test_poison_queued_while_offline_does_not_make_the_link_reconnect(broker, daemon_factory, hq_factory, protocol):
    """The field report's case: one poison message waiting in the session made ~95 reconnects per 15 s."""
    daemon = daemon_factory(broker.url, broker={"protocol": protocol}).start()
    hq = hq_factory(broker.port)
    wait_online(hq)
    daemon.terminate()  # the persistent session keeps what is sent meanwhile
    queued = ["deep", "huge integer", "lone surrogate id", "NaN"]
    for name in queued:
        hq.send("link.test", POISONS[name][0])
    daemon.start()
    wait_online(hq, count=2)
    hq.wait(lambda _: len(_replies(hq)) >= len(queued), timeout=20)
    assert [r["error"]["code"] for r in _replies(hq)] == ["invalid_payload"] * len(queued)
    assert hq.request("ping", {})["ok"] is True
    time.sleep(3.0)  # before the fix the link had reconnected ~20 times by now
    assert daemon.log().count("link.connected") == 2, "the link reconnected over a queued poison message"
    _restart_and_check_nothing_comes_back(daemon, hq, online=3, before=len(queued))
    daemon.terminate()


CRASH_JOB = '''
"""A job whose one command kills the daemon, as a segfault in a C library or the OOM killer would."""

import asyncio
import os
import signal

from pydantic import BaseModel, ConfigDict

from edge.jobs import JobSpec
from edge.sync.commands import Args


class Section(BaseModel):
    """`[crash]`."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    enabled: bool = True


class CrashJob:
    """Registers `crash.now`."""

    name = "crash"
    healthy = True

    def __init__(self, ctx):
        async def die(args):
            os.kill(os.getpid(), signal.SIGKILL)

        ctx.registry.register("crash.now", Args, lambda tx, args, prepared: {}, "Kill the daemon", prepare=die)

    async def run(self):
        await asyncio.Event().wait()

    async def stop(self):
        pass

    def health(self):
        return {}


JOB = JobSpec(name="crash", section=Section, migrations=[], build=CrashJob)
'''


def _install_crash_job(site: Path) -> dict[str, str]:
    """A third-party job package on PYTHONPATH, found through its entry point like any installed job."""
    (site / "crashjob-0.dist-info").mkdir(parents=True)
    (site / "crashjob.py").write_text(textwrap.dedent(CRASH_JOB))
    (site / "crashjob-0.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: crashjob\nVersion: 0\n")
    (site / "crashjob-0.dist-info" / "entry_points.txt").write_text("[store_edge.jobs]\ncrash = crashjob:JOB\n")
    return {"PYTHONPATH": str(site)}


def _wait_dead(daemon: DaemonProcess, timeout: float = 15.0) -> None:
    assert daemon.proc is not None
    daemon.proc.wait(timeout)
    daemon.proc = None


def test_a_message_that_kills_the_daemon_becomes_a_dead_letter(tmp_path, broker, daemon_factory, hq_factory):
    daemon = daemon_factory(broker.url, env=_install_crash_job(tmp_path / "site"), crash={"enabled": True}).start()
    hq = hq_factory(broker.port)
    wait_online(hq)
    hq.send("crash.now", {}, request_id="boom")
    for restart in range(3):  # the first delivery and two redeliveries each kill it; systemd starts it again
        _wait_dead(daemon)
        daemon.start()
    reply = hq.wait(lambda _: hq.replies("crash.now"), timeout=20)[0]
    assert reply["id"] == "boom" and reply["error"]["code"] == "internal"
    assert "dead letter 1 (redelivered 3 times without an answer)" in reply["error"]["message"]
    event = hq.wait(lambda _: hq.events("command.dead_letter"), timeout=10)[0]["data"]
    assert (event["command"], event["request_id"], event["deliveries"], event["dead_letter"]) == ("crash.now", "boom", 4, 1)
    assert hq.request("ping", {})["ok"] is True
    assert "command.dead_letter" in daemon.log()
    daemon.terminate()
    daemon.start()  # acknowledged: not delivered again, the daemon stays up
    wait_online(hq, count=5)
    assert hq.request("ping", {})["ok"] is True
    time.sleep(1.0)
    assert daemon.proc is not None and daemon.proc.poll() is None
    assert len(hq.replies("crash.now")) == 1
    daemon.terminate()
