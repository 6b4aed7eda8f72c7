"""Battery sweep: read the supply voltage of the labels least recently checked, a few per run, off peak of pushes."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import structlog

from devices.esl.codec import EslAddress
from devices.esl.errors import EslError
from devices.esl.radio import EslRadio, Label
from edge.store import Store, Tx
from edge.store.db import utc_now

log = structlog.get_logger("esl.battery")

_CONCURRENCY = 2


class BatterySweep:
    """Each run reads `per_run` labels that have a voltage sensor, oldest reading first (never read = first)."""

    def __init__(self, store: Store, radio: EslRadio, per_run: int) -> None:
        """Nothing runs until the scheduler calls `run_once`."""
        self._store = store
        self._radio = radio
        self._per_run = per_run

    async def run_once(self) -> None:
        """Read a batch of labels and record voltage and last contact."""
        rows = await self._store.read(lambda db: db.execute(
            "SELECT id, esl_group, esl_id, volt_sensor FROM esl_labels WHERE volt_sensor IS NOT NULL"
            " ORDER BY battery_at IS NOT NULL, battery_at, id LIMIT ?", (self._per_run,)).fetchall())
        slots = asyncio.Semaphore(_CONCURRENCY)

        async def read(row: tuple[Any, ...]) -> tuple[str, float | None]:
            """One label's voltage, or None when it did not answer."""
            async with slots:
                try:
                    reading = await self._radio.read_sensor(Label(row[0], EslAddress(row[1], row[2])), row[3])
                except (EslError, TimeoutError) as err:
                    log.debug("esl.battery.failed", label=row[0], error=str(err) or type(err).__name__)
                    return row[0], None
                return row[0], reading.value

        results = await asyncio.gather(*(read(r) for r in rows))
        now, stamp = time.time(), utc_now()

        def record(tx: Tx) -> None:
            """Voltage and last contact; a silent label moves to the back of the line too."""
            for label, volts in results:
                if volts is None:
                    tx.conn.execute("UPDATE esl_labels SET battery_at = ? WHERE id = ?", (now, label))
                else:
                    tx.conn.execute(
                        "UPDATE esl_labels SET battery_v = ?, battery_at = ?, last_seen = ? WHERE id = ?",
                        (round(volts, 2), now, stamp, label),
                    )

        if results:
            await self._store.write(record)
