"""The dispatcher without a broker: the prepare phase runs outside the transaction and repeats stay single."""

from __future__ import annotations

import asyncio
import json

from edge.store import Store
from edge.sync.commands import Args, CommandError, CommandRegistry, Dispatcher


class CountArgs(Args):
    """Test arguments."""

    n: int


async def test_prepare_runs_off_the_writer_and_its_failure_is_remembered(tmp_path):
    store = await asyncio.to_thread(Store, tmp_path / "s.db")
    registry = CommandRegistry()
    prepared_on: list[str] = []

    async def prepare(args: CountArgs) -> int:
        prepared_on.append(asyncio.current_task().get_name())  # on the loop, not the writer thread
        if args.n < 0:
            raise CommandError("invalid_argument", "n: must not be negative")
        return args.n * 10

    def handler(tx, args, prepared):  # noqa: ANN001, ANN202
        tx.emit("counted", {"value": prepared})
        return {"value": prepared}

    registry.register("count", CountArgs, handler, prepare=prepare)
    dispatcher = Dispatcher(registry, store)
    first = await dispatcher.handle("count", json.dumps({"id": "a", "n": 4}).encode())
    again = await dispatcher.handle("count", json.dumps({"id": "a", "n": 4}).encode())
    assert first == again == {"id": "a", "ok": True, "result": {"value": 40}}
    bad = await dispatcher.handle("count", json.dumps({"id": "b", "n": -1}).encode())
    assert bad["error"] == {"code": "invalid_argument", "message": "n: must not be negative"}
    wrong_type = await dispatcher.handle("count", json.dumps({"id": "c", "n": "x"}).encode())
    assert wrong_type["error"]["code"] == "invalid_argument" and wrong_type["error"]["message"].startswith("n:")
    events = await store.read(lambda db: db.execute("SELECT data FROM outbox").fetchall())
    assert events == [('{"value":40}',)]
    inbox = await store.read(lambda db: dict(db.execute("SELECT id, name FROM inbox").fetchall()))
    assert inbox == {"a": "count", "b": "count", "c": "count"}
    assert len(prepared_on) == 3  # a repeated id prepares again (effect-free) but applies once
    await store.aclose()


async def test_internal_errors_are_not_remembered(tmp_path):
    store = await asyncio.to_thread(Store, tmp_path / "s.db")
    registry = CommandRegistry()
    calls = []

    def flaky(tx, args):  # noqa: ANN001, ANN202
        calls.append(1)
        if len(calls) == 1:
            raise CommandError("internal", "model file unreadable")
        return {"ok": True}

    registry.register("flaky", CountArgs, flaky)
    dispatcher = Dispatcher(registry, store)
    first = await dispatcher.handle("flaky", b'{"id": "x", "n": 1}')
    second = await dispatcher.handle("flaky", b'{"id": "x", "n": 1}')
    assert first["error"]["code"] == "internal" and second["ok"] is True
    await store.aclose()
