"""Helpers for the esl job tests: an in-process daemon with a simulated fleet, and headquarters' side."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge.app import App
from edge.config import parse_config
from edge.demo.hq import Hq
from edge.esl.job import EslJob

FAST_RADIO = {"connect_s": 2.0, "gatt_op_s": 0.03, "time_scale": 0.005}
#: A short PAwR train for job tests on the virtual store (wall clock): 200 ms interval, 4 groups of 50 ms, the
#: slots 37.5 ms after the packet as in Silicon Labs' layout (room for a loaded test machine to answer in time).
FAST_TRAIN = {"interval": 160, "num_subevents": 4, "subevent_interval": 40, "response_slot_delay": 30,
              "response_slot_spacing": 6, "num_response_slots": 4}
#: The backend `running` uses: "simulated" (bleak seam) or "pawr" (virtual store); set per test by conftest.py.
RADIO = "simulated"

PRODUCTS = [
    {"sku": f"SKU{n:03d}", "name": name, "price": price, "unit": unit, "sale_mode": "weight" if unit != "piece" else "piece"}
    for n, (name, price, unit) in enumerate([
        ("红富士苹果", "12.80", "kg"), ("伊利纯牛奶 250ml", "3.50", "piece"), ("农夫山泉 550ml", "2.00", "piece"),
        ("五常大米 5kg", "59.90", "piece"), ("西红柿", "4.98", "500g"), ("鲜鸡蛋 30枚", "23.80", "piece"),
    ])
]


@dataclass
class Running:
    """A daemon running in this process, its esl job and a headquarters client."""

    app: App
    job: EslJob
    hq: Hq

    async def request(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        """A command from headquarters, waited for off the loop."""
        return await asyncio.to_thread(self.hq.request, name, body, None, 15.0)

    async def wait(self, predicate: Callable[[], Any], timeout: float = 20.0) -> Any:
        """Poll `predicate` on the loop until it is truthy."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            await asyncio.sleep(0.05)
        raise AssertionError("condition not met in time")

    def events(self, kind: str) -> list[dict[str, Any]]:
        """Events of one kind headquarters received, de-duplicated by id."""
        seen: dict[str, dict[str, Any]] = {}
        for e in self.hq.events(kind):
            seen.setdefault(e["id"], e)
        return list(seen.values())

    def db(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        """Query the daemon's database on a read-only connection of the test's own (WAL: it never waits for the writer)."""
        with contextlib.closing(sqlite3.connect(f"file:{self.app.store.path}?mode=ro", uri=True)) as conn:
            return conn.execute(sql, params).fetchall()


def esl_config(**overrides: Any) -> dict[str, Any]:
    """An `[esl]` section with a small fast simulated fleet."""
    section: dict[str, Any] = {"simulated": {"labels": 8, "seed": 3, **FAST_RADIO}, "connections": 4,
                               "operation_timeout_s": 0.5, "retry": {"max_attempts": 2, "base_s": 0.2, "max_s": 1.0}}
    if RADIO == "pawr":
        section |= {"backend": "pawr", "pawr": {"train": FAST_TRAIN}, "operation_timeout_s": 2.0}
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(section.get(key), dict):
            section[key] = {**section[key], **value}
        else:
            section[key] = value
    return section


@asynccontextmanager
async def running(broker_port: int, data: Path, **esl: Any) -> AsyncIterator[Running]:
    """Start the App in-process with `[esl]` from `esl_config(**esl)`; stop it at the end."""
    config = parse_config(
        {"store": {"id": "s1"}, "data": {"dir": str(data)}, "broker": {"url": f"mqtt://127.0.0.1:{broker_port}"},
         "http": {"enabled": False}, "log": {"level": "warning"}, "esl": esl_config(**esl)},
        env={},
    )
    app = await App.create(config)
    task = asyncio.create_task(app.run())
    hq = await asyncio.to_thread(Hq, broker_port, "s1")
    job = next(j for j in app.jobs if j.name == "esl")
    try:
        await asyncio.wait_for(asyncio.to_thread(hq.wait, lambda _: [s for s in hq.statuses() if s["state"] == "online"], 15), 20)
        d = Running(app, job, hq)  # type: ignore[arg-type]
        await d.wait(lambda: job.healthy)  # its radio is up and its labels registered (a PAwR store powers on first)
        yield d
    finally:
        app.request_stop()
        await asyncio.wait_for(task, 15)
        hq.close()
