"""A catalogue on a real store with its clock in the test's hands: commands through the real dispatcher, history read back."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import count
from pathlib import Path
from typing import Any

import pytest

from edge import catalog
from edge.catalog import Catalog
from edge.config import parse_config
from edge.scheduler import Scheduler
from edge.store import Store
from edge.sync.commands import CommandRegistry, Dispatcher

START = datetime(2026, 11, 1, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai


@dataclass
class Clock:
    """Time that moves only when the test says."""

    now: datetime = START

    def __call__(self) -> datetime:
        """The current time."""
        return self.now

    def advance(self, **delta: float) -> None:
        """Move on by a timedelta's worth."""
        self.now += timedelta(**delta)


@dataclass
class Shop:
    """One store's catalogue: send commands, read the products and the history."""

    store: Store
    catalog: Catalog
    dispatcher: Dispatcher
    clock: Clock
    ids: Any = field(default_factory=count)

    async def send(self, command: str, **args: Any) -> dict[str, Any]:
        """The reply to one request (a fresh id each time)."""
        payload = json.dumps({"id": f"r{next(self.ids)}", **args}, ensure_ascii=False).encode()
        return await self.dispatcher.handle(command, payload)

    async def ok(self, command: str, **args: Any) -> dict[str, Any]:
        """The result of a request that must succeed."""
        reply = await self.send(command, **args)
        assert reply["ok"], reply
        return dict(reply["result"])

    async def product(self, sku: str) -> dict[str, Any]:
        """The products row of `sku`."""
        def read(db: Any) -> dict[str, Any]:
            cur = db.execute("SELECT * FROM products WHERE sku = ?", [sku])
            return dict(zip([c[0] for c in cur.description], cur.fetchone()))
        return await self.store.read(read)

    async def rows(self, sku: str | None = None) -> list[dict[str, Any]]:
        """The history rows (of `sku`, or all), in id order."""
        def read(db: Any) -> list[dict[str, Any]]:
            cur = db.execute("SELECT * FROM price_history WHERE ?1 IS NULL OR sku = ?1 ORDER BY id", [sku])
            return [dict(zip([c[0] for c in cur.description], row)) for row in cur.fetchall()]
        return await self.store.read(read)

    async def events(self, kind: str) -> list[dict[str, Any]]:
        """The data of queued events of `kind`, in seq order."""
        rows = await self.store.read(lambda db: db.execute("SELECT data FROM outbox WHERE kind = ? ORDER BY seq", [kind]).fetchall())
        return [json.loads(r[0]) for r in rows]


def open_shop(path: Path, clock: Clock, **prices: Any) -> Shop:
    """A store and its catalogue (blocking: run it off the loop)."""
    config = parse_config({"store": {"id": "s1", "timezone": "Asia/Shanghai"}, "prices": prices}, env={})
    store = Store(path, schemas={"catalog": catalog.STEPS})
    shop = Catalog(store, Scheduler(path), config, clock)
    registry = CommandRegistry()
    shop.register(registry)
    return Shop(store, shop, Dispatcher(registry, store), clock)


@pytest.fixture
def clock() -> Clock:
    """A clock standing at START."""
    return Clock()


@pytest.fixture
async def shop(tmp_path: Path, clock: Clock) -> AsyncIterator[Shop]:
    """A CN store (7-day look-back, refusing fake promotions) at START."""
    opened = await asyncio.to_thread(open_shop, tmp_path / "s.db", clock)
    yield opened
    await opened.store.aclose()


APPLE = {"sku": "A1", "name": "红富士苹果", "price": "12.80", "unit": "500g", "sale_mode": "weight"}
MILK = {"sku": "M1", "name": "伊利纯牛奶", "price": "3.50", "spec": "250ml"}
