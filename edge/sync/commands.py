"""Commands from headquarters: validation, the persisted inbox that makes them idempotent, and error replies.

A command handler is a plain function `(tx, args) -> result` that runs inside the store's
write transaction; who asked (the request's `id` and its optional `sender`) is `current_request()` while it runs. The inbox row holding the reply is written in that same transaction, so
after a crash a command has either fully happened (and its reply is remembered) or not at
all; a redelivered or repeated id gets the remembered reply and no second effect.

Nothing a sender puts in a message escapes as an exception: the payload is bounded and checked
(edge.sync.requests), arguments are validated with strict types (edge.sync.fields), the
prepare phase has a time limit, replies have a size limit, and a message that keeps failing
becomes a dead letter (edge.sync.deadletters).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Annotated, Any

import structlog
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from edge.store import Store, Tx
from edge.store.db import utc_now
from edge.store.errors import DiskFull
from edge.sync import deadletters
from edge.sync.fields import Printable
from edge.sync.requests import (
    Limits,
    PayloadError,
    clip,
    describe_validation,
    parse_request,
)

log = structlog.get_logger("commands")

ERROR_CODES = ("invalid_payload", "unknown_command", "invalid_argument", "not_found", "conflict", "busy", "internal")
#: Replies that are not remembered in the inbox: nothing happened, so the same id may be retried.
UNREMEMBERED = ("busy", "internal")
#: The `busy` reply's message for a command that needs to write while the store's disk is full.
DISK_FULL_MESSAGE = "the store's disk is full, so this command cannot be written; nothing was applied, retry later with the same id"


class CommandError(Exception):
    """A failure that becomes an error reply with one of the contract's codes."""

    def __init__(self, code: str, message: str) -> None:
        assert code in ERROR_CODES, code
        self.code = code
        self.message = message
        super().__init__(f"{code}: {message}")


class Args(BaseModel):
    """Base for command arguments: strict types (no "5" for 5, no 5.0, no "yes") and unknown fields refused."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class NoArgs(Args):
    """For commands that take no arguments."""


class Envelope(Args):
    """What a request says besides its `id` and arguments: the optional `sender`, the system that sent it (for audit trails)."""

    sender: Annotated[str, Field(min_length=1, max_length=64), Printable] | None = None


@dataclass(frozen=True)
class Request:
    """Who asked for the command being applied: the request's id and the sender it names (None: not stated)."""

    id: str
    sender: str | None = None


_REQUEST: ContextVar[Request | None] = ContextVar("request", default=None)


def current_request() -> Request | None:
    """The request whose handler runs now (on the writer thread); None outside a command (a scheduled change, a job's own write)."""
    return _REQUEST.get()


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


def encode_reply(reply: dict[str, Any]) -> str:
    """A reply as compact JSON text (every string in it is encodable: requests are checked, stored text is UTF-8)."""
    return json.dumps(reply, ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True)
class _Checked:
    """A request after the checks that need no transaction: either a reply already, or arguments ready to apply."""

    request_id: str
    reply: dict[str, Any] | None = None
    args: BaseModel | None = None
    sender: str | None = None


class Dispatcher:
    """Turns a raw request into exactly one reply, applying the command at most once per id."""

    def __init__(self, registry: CommandRegistry, store: Store, limits: Limits | None = None) -> None:
        self._registry = registry
        self._store = store
        self.limits = limits or Limits()

    async def handle(self, name: str, payload: bytes, redelivered: bool = False) -> dict[str, Any]:
        """The reply for `payload` sent to `cmd/<name>`; never raises for any input.

        `redelivered` (the MQTT DUP flag) counts the message in `command_deliveries` before
        handling it; one redelivered too often without an answer becomes a dead letter.
        """
        key = deadletters.delivery_key(name, payload) if redelivered else None
        if key is not None:
            deliveries = await self._count(key, name)
            if deliveries >= self.limits.redeliveries:
                return await self.dead_letter(name, payload, f"redelivered {deliveries} times without an answer", deliveries + 1)
        try:
            reply = await self._handle(name, payload)
        except Exception:  # noqa: BLE001 - the boundary: a bug becomes an `internal` reply, the message is still answered
            log.exception("command.internal_error", command=clip(name, self.limits.log_chars))
            reply = _reply_error(None, "internal", "internal error; see the store's log")
        if key is not None:
            await self._forget(key)
        return reply

    async def dead_letter(self, name: str, payload: bytes, reason: str, deliveries: int) -> dict[str, Any]:
        """Give up on a message: record it (table row and `command.dead_letter` event) and answer `internal`; never raises."""
        request_id: str | None = None
        try:
            request_id = (await self._parse(payload))[0]
        except PayloadError:
            pass
        letter = deadletters.DeadLetter(name, request_id, reason, deliveries, payload)
        key = deadletters.delivery_key(name, payload)

        def record(tx: Tx) -> tuple[dict[str, Any], int | None]:
            """The inbox's reply if the message was in fact handled; else the dead letter, stored."""
            deadletters.forget_delivery(tx, key)
            if request_id is not None:
                seen = tx.conn.execute("SELECT name, reply FROM inbox WHERE id = ?", (request_id,)).fetchone()
                if seen is not None and seen[0] == name:
                    return dict(json.loads(seen[1])), None
            number = letter.record(tx)
            return _reply_error(request_id, "internal", f"not applied: dead letter {number} ({reason}); see the store's log"), number

        shown = clip(name, self.limits.log_chars)
        try:
            reply, number = await self._store.write(record, wait_for_space=False)
        except DiskFull:
            log.error("command.dead_letter.unrecorded", command=shown, request_id=request_id, reason=reason, store="disk full")
            return _reply_error(request_id, "internal", f"not applied ({reason}); see the store's log")
        except Exception:  # noqa: BLE001 - even with the store failing, the message gets an answer
            log.exception("command.dead_letter.unrecorded", command=shown, request_id=request_id, reason=reason)
            return _reply_error(request_id, "internal", f"not applied ({reason}); see the store's log")
        if number is not None:
            log.error("command.dead_letter", command=shown, request_id=request_id, reason=reason, deliveries=deliveries, dead_letter=number)
        return reply

    async def _count(self, key: str, name: str) -> int:
        """Count a redelivery before handling it (0 when the store cannot: the message is then handled as usual)."""
        try:
            return await self._store.write(lambda tx: deadletters.count_delivery(tx, key, name), wait_for_space=False)
        except DiskFull:
            log.warning("command.delivery.uncounted", command=clip(name, self.limits.log_chars), reason="disk full")
            return 0
        except Exception:  # noqa: BLE001 - counting is a safety net; handling must not depend on it
            log.exception("command.delivery.uncounted", command=clip(name, self.limits.log_chars))
            return 0

    async def _forget(self, key: str) -> None:
        """The message was answered; a failure to forget only leaves a count behind (purged with the inbox)."""
        try:
            await self._store.write(lambda tx: deadletters.forget_delivery(tx, key), wait_for_space=False)
        except DiskFull:
            log.debug("command.delivery.unforgotten", reason="disk full")
        except Exception:  # noqa: BLE001 - see _count
            log.exception("command.delivery.unforgotten")

    async def _parse(self, payload: bytes) -> tuple[str, dict[str, Any]]:
        """parse_request, on a worker thread for large payloads so the loop never parses megabytes."""
        if len(payload) <= self.limits.inline_bytes:
            return parse_request(payload, self.limits)
        return await asyncio.to_thread(parse_request, payload, self.limits)

    async def _handle(self, name: str, payload: bytes) -> dict[str, Any]:
        """Check, prepare (bounded in time), then apply in the store's transaction."""
        shown = clip(name, self.limits.log_chars)
        try:
            request_id, raw = await self._parse(payload)
        except PayloadError as err:
            problem = clip(str(err), self.limits.problem_chars)
            log.warning("command.invalid_payload", command=shown, problem=problem)
            return _reply_error(None, "invalid_payload", problem)
        command = self._registry.get(name)
        if command is None:
            log.warning("command.unknown", command=shown, request_id=request_id)
            checked = _Checked(request_id, _reply_error(request_id, "unknown_command", f"unknown command {clip(name, 64)!r}"))
        elif len(payload) <= self.limits.inline_bytes:
            checked = self._validate(command, request_id, raw)
        else:
            checked = await asyncio.to_thread(self._validate, command, request_id, raw)
        prepared: Any = None
        if checked.args is not None and command is not None and command.prepare is not None:
            prepared, failure = await self._prepare(command, request_id, checked.args)
            if failure is not None:
                checked = _Checked(request_id, failure)
        try:
            return await self._store.write(lambda tx: self._apply(tx, name, checked, prepared), wait_for_space=False)
        except DiskFull:
            return await self._without_writing(name, checked, prepared)
        except Exception:  # noqa: BLE001 - a handler's bug; the reply is not remembered, a retry may succeed
            log.exception("command.internal_error", command=shown, request_id=request_id)
            return _reply_error(request_id, "internal", "internal error; see the store's log")

    async def _without_writing(self, name: str, checked: _Checked, prepared: Any) -> dict[str, Any]:
        """With the disk full: a command whose handler changes nothing (a read, `ping`) is answered, unremembered; others are `busy`."""
        request_id = checked.request_id
        try:
            reply, wrote = await self._store.dry_run(lambda tx: self._apply(tx, name, checked, prepared, remember=False))
        except DiskFull:
            wrote = True
        except Exception:  # noqa: BLE001 - as in _handle
            log.exception("command.internal_error", command=clip(name, self.limits.log_chars), request_id=request_id)
            return _reply_error(request_id, "internal", "internal error; see the store's log")
        if not wrote:
            return reply
        log.warning("command.busy.disk_full", command=clip(name, self.limits.log_chars), request_id=request_id)
        return _reply_error(request_id, "busy", DISK_FULL_MESSAGE)

    def _validate(self, command: Command, request_id: str, raw: dict[str, Any]) -> _Checked:
        """The envelope's `sender` and the arguments as the command's model, or an `invalid_argument` reply naming the fields (bounded)."""
        try:
            envelope = Envelope.model_validate({"sender": raw.pop("sender")} if "sender" in raw else {})
            return _Checked(request_id, args=command.args.model_validate(raw), sender=envelope.sender)
        except ValidationError as err:
            message = describe_validation(err, self.limits)
            log.warning("command.invalid_argument", command=command.name, request_id=request_id,
                        problem=clip(message, self.limits.log_chars))
            return _Checked(request_id, _reply_error(request_id, "invalid_argument", message))

    async def _prepare(self, command: Command, request_id: str, args: BaseModel) -> tuple[Any, dict[str, Any] | None]:
        """Run the command's slow, effect-free part, bounded in time; a failure becomes the reply."""
        assert command.prepare is not None
        limit = self.limits.prepare_s
        try:
            return await asyncio.wait_for(command.prepare(args), limit), None
        except CommandError as err:
            log.warning("command.failed", command=command.name, request_id=request_id, code=err.code,
                        problem=clip(err.message, self.limits.log_chars))
            return None, _reply_error(request_id, err.code, clip(err.message, self.limits.problem_chars))
        except TimeoutError:
            log.warning("command.prepare.timeout", command=command.name, request_id=request_id, limit_s=limit)
            return None, _reply_error(request_id, "busy", f"preparing the command took longer than {limit:g} s; retry later")
        except Exception:  # noqa: BLE001 - a bug in a job's prepare must not take the command channel down
            log.exception("command.prepare.failed", command=command.name, request_id=request_id)
            return None, _reply_error(request_id, "internal", "internal error while preparing; see the store's log")

    def _apply(self, tx: Tx, name: str, checked: _Checked, prepared: Any, remember: bool = True) -> dict[str, Any]:
        """Runs on the writer thread: the inbox check and the handler share one transaction (`remember`: store the reply)."""
        request_id = checked.request_id
        seen = tx.conn.execute("SELECT name, reply FROM inbox WHERE id = ?", (request_id,)).fetchone()
        if seen is not None:
            if seen[0] != name:
                return _reply_error(request_id, "conflict", f"id {request_id!r} was already used for command {clip(seen[0], 64)!r}")
            log.info("command.repeat", command=name, request_id=request_id)
            return dict(json.loads(seen[1]))
        reply = checked.reply or self._run(tx, name, checked, prepared)
        if not remember or (not reply["ok"] and reply["error"]["code"] in UNREMEMBERED):
            return reply  # not remembered: a retry with the same id may succeed
        tx.conn.execute(
            "INSERT INTO inbox (id, name, received_at, reply) VALUES (?, ?, ?, ?)",
            (request_id, name, utc_now(), encode_reply(reply)),
        )
        return reply

    def _run(self, tx: Tx, name: str, checked: _Checked, prepared: Any) -> dict[str, Any]:
        """The handler in a savepoint: a refusal or an oversized reply leaves no effect behind."""
        command = self._registry.get(name)
        assert command is not None and checked.args is not None
        request_id = checked.request_id
        tx.conn.execute("SAVEPOINT cmd")
        token = _REQUEST.set(Request(request_id, checked.sender))
        try:
            result = command.handler(tx, checked.args, prepared) if command.prepare else command.handler(tx, checked.args)
        except CommandError as err:
            tx.conn.execute("ROLLBACK TO cmd")
            tx.conn.execute("RELEASE cmd")
            log.warning("command.failed", command=name, request_id=request_id, code=err.code,
                        problem=clip(err.message, self.limits.log_chars))
            return _reply_error(request_id, err.code, clip(err.message, self.limits.problem_chars))
        finally:
            _REQUEST.reset(token)
        reply = _reply_ok(request_id, result)
        size = len(encode_reply(reply).encode())
        if size > self.limits.reply_bytes:
            tx.conn.execute("ROLLBACK TO cmd")
            tx.conn.execute("RELEASE cmd")
            log.warning("command.reply.too_large", command=name, request_id=request_id, bytes=size)
            return _reply_error(request_id, "invalid_argument",
                                f"the reply would be {size} bytes, over the limit of {self.limits.reply_bytes}; ask for less")
        tx.conn.execute("RELEASE cmd")
        log.info("command.applied", command=name, request_id=request_id, sender=checked.sender)
        return reply


def purge_inbox(tx: Tx, older_than_days: int) -> int:
    """Forget replies (and dead letters) older than the retention period (the contract asks for at least 7 days)."""
    cur = tx.conn.execute(
        "DELETE FROM inbox WHERE received_at < strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?)",
        (f"-{older_than_days} days",),
    )
    deadletters.purge(tx, older_than_days)
    return cur.rowcount
