"""The dispatcher's bounds without a broker: prepare time limit, reply size, bugs, redelivery counts and dead letters."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from edge.store import Store, Tx
from edge.sync import deadletters
from edge.sync.commands import Args, CommandRegistry, Dispatcher
from edge.sync.requests import Limits


class CountArgs(Args):
    """Test arguments."""

    n: int = 1


def _store(tmp_path: Path) -> Store:
    return Store(tmp_path / "s.db", schemas={"sync": deadletters.STEPS})


async def _rows(store: Store, sql: str) -> list[tuple[Any, ...]]:
    return await store.read(lambda db: db.execute(sql).fetchall())


async def test_prepare_has_a_time_limit_and_busy_is_not_remembered(tmp_path: Path) -> None:
    store = _store(tmp_path)
    registry = CommandRegistry()
    slow = {"s": 5.0}

    async def prepare(args: CountArgs) -> int:
        await asyncio.sleep(slow["s"])
        return args.n

    registry.register("slow", CountArgs, lambda tx, args, prepared: {"n": prepared}, prepare=prepare)
    dispatcher = Dispatcher(registry, store, Limits(prepare_s=0.2))
    timed_out = await asyncio.wait_for(dispatcher.handle("slow", b'{"id": "a", "n": 3}'), 3)
    assert timed_out["error"] == {"code": "busy", "message": "preparing the command took longer than 0.2 s; retry later"}
    slow["s"] = 0.0
    assert (await dispatcher.handle("slow", b'{"id": "a", "n": 3}'))["result"] == {"n": 3}  # the same id, retried
    await store.aclose()


async def test_bugs_in_prepare_or_handler_are_internal_and_the_next_command_is_served(tmp_path: Path) -> None:
    store = _store(tmp_path)
    registry = CommandRegistry()

    async def broken_prepare(args: CountArgs) -> None:
        raise RecursionError("maximum recursion depth exceeded")

    def broken_handler(tx: Tx, args: CountArgs) -> dict[str, Any]:
        tx.emit("half.done", {})
        raise UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed")

    registry.register("p", CountArgs, lambda tx, a, p: {}, prepare=broken_prepare)
    registry.register("h", CountArgs, broken_handler)
    registry.register("ok", CountArgs, lambda tx, a: {"fine": True})
    dispatcher = Dispatcher(registry, store)
    assert (await dispatcher.handle("p", b'{"id": "1"}'))["error"]["code"] == "internal"
    assert (await dispatcher.handle("h", b'{"id": "2"}')) == {
        "id": "2", "ok": False, "error": {"code": "internal", "message": "internal error; see the store's log"}}
    assert (await dispatcher.handle("ok", b'{"id": "3"}'))["result"] == {"fine": True}
    assert await _rows(store, "SELECT kind FROM outbox") == []  # the broken handler's effect was rolled back
    assert [r[0] for r in await _rows(store, "SELECT id FROM inbox")] == ["3"]  # internal replies are not remembered
    await store.aclose()


async def test_an_oversized_reply_is_refused_and_its_effects_undone(tmp_path: Path) -> None:
    store = _store(tmp_path)
    registry = CommandRegistry()

    def big(tx: Tx, args: CountArgs) -> dict[str, Any]:
        tx.emit("listed", {"n": args.n})
        return {"rows": ["x" * 100] * args.n}

    registry.register("list", CountArgs, big)
    dispatcher = Dispatcher(registry, store, Limits(reply_bytes=10_000))
    refused = await dispatcher.handle("list", b'{"id": "a", "n": 200}')
    assert refused["error"]["code"] == "invalid_argument"
    assert "over the limit of 10000; ask for less" in refused["error"]["message"]
    assert (await dispatcher.handle("list", b'{"id": "b", "n": 10}'))["ok"]
    assert await _rows(store, "SELECT data FROM outbox") == [('{"n":10}',)]
    await store.aclose()


async def test_unknown_command_with_a_huge_name_is_answered_briefly(tmp_path: Path) -> None:
    store = _store(tmp_path)
    dispatcher = Dispatcher(CommandRegistry(), store)
    reply = await dispatcher.handle("x" * 100_000, b'{"id": "a"}')
    assert reply["error"]["code"] == "unknown_command" and len(reply["error"]["message"]) < 200
    await store.aclose()


async def test_a_message_redelivered_without_an_answer_becomes_a_dead_letter(tmp_path: Path) -> None:
    """Each interrupted attempt (here: cancelled, as a crash would end it) is counted in SQLite before handling."""
    registry = CommandRegistry()
    started = asyncio.Event()

    async def never(args: CountArgs) -> None:
        started.set()
        await asyncio.Event().wait()

    registry.register("hang", CountArgs, lambda tx, a, p: {}, prepare=never)
    registry.register("ok", CountArgs, lambda tx, a: {"fine": True})
    payload = b'{"id": "poison-1", "n": 1}'
    for attempt in range(3):  # the first delivery is not a redelivery; the two after it are counted
        store = _store(tmp_path)  # a fresh process each time: the count lives in the database
        dispatcher = Dispatcher(registry, store)
        started.clear()
        task = asyncio.create_task(dispatcher.handle("hang", payload, redelivered=attempt > 0))
        await asyncio.wait_for(started.wait(), 5)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await store.aclose()
    store = _store(tmp_path)
    dispatcher = Dispatcher(registry, store)
    reply = await asyncio.wait_for(dispatcher.handle("hang", payload, redelivered=True), 5)
    assert reply["id"] == "poison-1" and reply["error"]["code"] == "internal"
    assert reply["error"]["message"] == "not applied: dead letter 1 (redelivered 3 times without an answer); see the store's log"
    letters = await _rows(store, "SELECT command, request_id, deliveries, payload_bytes, payload_head FROM dead_letters")
    assert letters == [("hang", "poison-1", 4, len(payload), payload.decode())]
    event = json.loads((await _rows(store, "SELECT data FROM outbox WHERE kind = 'command.dead_letter'"))[0][0])
    assert event["dead_letter"] == 1 and event["request_id"] == "poison-1" and event["deliveries"] == 4
    assert await _rows(store, "SELECT * FROM command_deliveries") == []
    assert (await dispatcher.handle("ok", b'{"id": "next"}', redelivered=True))["result"] == {"fine": True}
    assert await _rows(store, "SELECT * FROM command_deliveries") == []  # answered: its count is gone
    await store.aclose()


async def test_a_dead_letter_that_was_in_fact_answered_gets_the_remembered_reply(tmp_path: Path) -> None:
    store = _store(tmp_path)
    registry = CommandRegistry()
    registry.register("ok", CountArgs, lambda tx, a: {"n": a.n})
    dispatcher = Dispatcher(registry, store)
    first = await dispatcher.handle("ok", b'{"id": "a", "n": 2}')
    again = await dispatcher.dead_letter("ok", b'{"id": "a", "n": 2}', "handling raised KeyError", 1)
    assert again == first and await _rows(store, "SELECT * FROM dead_letters") == []
    unusable = await dispatcher.dead_letter("ok", b"\xff" * 10_000, "handling raised KeyError", 1)
    assert unusable["id"] is None and "dead letter 1" in unusable["error"]["message"]
    head = (await _rows(store, "SELECT payload_head, payload_bytes FROM dead_letters"))[0]
    assert head == ("\\xff" * deadletters.HEAD_BYTES, 10_000)
    await store.aclose()
