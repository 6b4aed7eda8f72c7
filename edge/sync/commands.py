"""Commands from headquarters: validation, the persisted inbox that makes them idempotent, and error replies.

A command handler is a plain function `(tx, args) -> result` that runs inside the store's
write transaction. The inbox row holding the reply is written in that same transaction, so
after a crash a command has either fully happened (and its reply is remembered) or not at
all; a redelivered or repeated id gets the remembered reply and no second effect.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import structlog
from pydantic import BaseModel, ConfigDict, ValidationError

from edge.store import Store, Tx
from edge.store.db import utc_now

log = structlog.get_logger("commands")

ERROR_CODES = ("invalid_payload", "unknown_command", "invalid_argument", "not_found", "conflict", "busy", "internal")


class CommandError(Exception):
    """A failure that becomes an error reply with one of the contract's codes."""

    def __init__(self, code: str, message: str) -> None:
        assert code in ERROR_CODES, code
        self.code = code
        self.message = message
        super().__init__(f"{code}: {message}")


class Args(BaseModel):
    """Base for command arguments: strict about unknown fields so a typo is an error, not a no-op."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class NoArgs(Args):
    """For commands that take no arguments."""


Handler = Callable[..., dict[str, Any]]
Prepare = Callable[[Any], Awaitable[Any]]


@dataclass(frozen=True)
class Command:
    """A registered command: its argument model, an optional slow preparation, and the transactional handler.

    `prepare(args)` runs on the event loop before the transaction (e.g. decoding images and
    running a model in an executor); it must have no effects, because a repeated id runs it
    again before the inbox answers. Its result is passed to `handler(tx, args, prepared)`.
    """

    name: str
    args: type[BaseModel]
    handler: Handler
    summary: str
    prepare: Prepare | None = None


class CommandRegistry:
    """The commands this daemon answers; jobs add theirs at start-up."""

    def __init__(self) -> None:
        self._commands: dict[str, Command] = {}

    def register(self, name: str, args: type[BaseModel], handler: Handler, summary: str = "", prepare: Prepare | None = None) -> None:
        """Add a command; names are unique across jobs."""
        if name in self._commands:
            raise ValueError(f"command {name!r} registered twice")
        self._commands[name] = Command(name, args, handler, summary or (handler.__doc__ or "").strip(), prepare)

    def names(self) -> list[str]:
        """Registered command names, sorted."""
        return sorted(self._commands)

    def get(self, name: str) -> Command | None:
        """The command called `name`, if any."""
        return self._commands.get(name)


def _reply_ok(request_id: str, result: dict[str, Any]) -> dict[str, Any]:
    return {"id": request_id, "ok": True, "result": result}


def _reply_error(request_id: str | None, code: str, message: str) -> dict[str, Any]:
    return {"id": request_id, "ok": False, "error": {"code": code, "message": message}}


def _field_path(loc: tuple[Any, ...]) -> str:
    """`items[0].price` from pydantic's ('items', 0, 'price')."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(arguments)"


def describe_validation(err: ValidationError) -> str:
    """A human message naming every offending field, as the contract asks."""
    parts = []
    for e in err.errors():
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = "unknown field"
        parts.append(f"{_field_path(tuple(e['loc']))}: {msg}")
    return "; ".join(parts)


def parse_request(payload: bytes) -> tuple[str | None, dict[str, Any] | None, str | None]:
    """Split a raw payload into (id, arguments, problem); problem is set when the payload is unusable."""
    try:
        body = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        return None, None, f"not JSON: {err}"
    if not isinstance(body, dict):
        return None, None, "request must be a JSON object"
    request_id = body.get("id")
    if not isinstance(request_id, str) or not 1 <= len(request_id) <= 64:
        return None, None, "id: must be a string of 1-64 characters"
    args = {k: v for k, v in body.items() if k != "id"}
    return request_id, args, None


class Dispatcher:
    """Turns a raw request into exactly one reply, applying the command at most once per id."""

    def __init__(self, registry: CommandRegistry, store: Store) -> None:
        self._registry = registry
        self._store = store

    async def handle(self, name: str, payload: bytes) -> dict[str, Any]:
        """The reply for `payload` sent to `cmd/<name>`; never raises for bad input."""
        request_id, args, problem = parse_request(payload)
        if problem is not None:
            log.warning("command.invalid_payload", command=name, problem=problem)
            return _reply_error(None, "invalid_payload", problem)
        assert request_id is not None and args is not None
        prepared: Any = None
        failure: dict[str, Any] | None = None
        command = self._registry.get(name)
        if command is not None and command.prepare is not None:
            prepared, failure = await self._prepare(command, request_id, args)
        try:
            return await self._store.write(lambda tx: self._apply(tx, name, request_id, args, prepared, failure))
        except Exception:
            log.exception("command.internal_error", command=name, request_id=request_id)
            # Not remembered in the inbox: a retry with the same id may succeed.
            return _reply_error(request_id, "internal", "internal error; see the store's log")

    async def _prepare(self, command: Command, request_id: str, args: dict[str, Any]) -> tuple[Any, dict[str, Any] | None]:
        """Run the command's slow, effect-free part off the writer thread; a failure becomes the reply."""
        try:
            parsed = command.args.model_validate(args)
        except ValidationError:
            return None, None  # reported by _run, inside the transaction, like any bad argument
        assert command.prepare is not None
        try:
            return await command.prepare(parsed), None
        except CommandError as err:
            log.warning("command.failed", command=command.name, request_id=request_id, code=err.code, problem=err.message)
            return None, _reply_error(request_id, err.code, err.message)

    def _apply(
        self, tx: Tx, name: str, request_id: str, args: dict[str, Any], prepared: Any = None, failure: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Runs on the writer thread: inbox check, validation and the handler share one transaction."""
        seen = tx.conn.execute("SELECT name, reply FROM inbox WHERE id = ?", (request_id,)).fetchone()
        if seen is not None:
            if seen[0] != name:
                return _reply_error(request_id, "conflict", f"id {request_id!r} was already used for command {seen[0]!r}")
            log.info("command.repeat", command=name, request_id=request_id)
            return json.loads(seen[1])
        reply = failure or self._run(tx, name, request_id, args, prepared)
        if not reply["ok"] and reply["error"]["code"] == "internal":
            return reply  # not remembered: a retry with the same id may succeed
        tx.conn.execute(
            "INSERT INTO inbox (id, name, received_at, reply) VALUES (?, ?, ?, ?)",
            (request_id, name, utc_now(), json.dumps(reply, ensure_ascii=False, separators=(",", ":"))),
        )
        return reply

    def _run(self, tx: Tx, name: str, request_id: str, args: dict[str, Any], prepared: Any) -> dict[str, Any]:
        command = self._registry.get(name)
        if command is None:
            log.warning("command.unknown", command=name, request_id=request_id)
            return _reply_error(request_id, "unknown_command", f"unknown command {name!r}")
        try:
            parsed = command.args.model_validate(args)
        except ValidationError as err:
            message = describe_validation(err)
            log.warning("command.invalid_argument", command=name, request_id=request_id, problem=message)
            return _reply_error(request_id, "invalid_argument", message)
        tx.conn.execute("SAVEPOINT cmd")
        try:
            result = command.handler(tx, parsed, prepared) if command.prepare else command.handler(tx, parsed)
        except CommandError as err:
            tx.conn.execute("ROLLBACK TO cmd")
            tx.conn.execute("RELEASE cmd")
            log.warning("command.failed", command=name, request_id=request_id, code=err.code, problem=err.message)
            return _reply_error(request_id, err.code, err.message)
        tx.conn.execute("RELEASE cmd")
        log.info("command.applied", command=name, request_id=request_id)
        return _reply_ok(request_id, result)


def purge_inbox(tx: Tx, older_than_days: int) -> int:
    """Forget replies older than the retention period (the contract asks for at least 7 days)."""
    cur = tx.conn.execute(
        "DELETE FROM inbox WHERE received_at < strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?)",
        (f"-{older_than_days} days",),
    )
    return cur.rowcount
