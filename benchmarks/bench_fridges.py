"""`/api/fridges` response time against the number of fridge sections, through the real web server and store.

Run: .venv/bin/python benchmarks/bench_fridges.py [--sections 50 150 300 600] [--days 1] [--requests 15]

Each size gets its own store (real migrations, WAL file): every section polled every 5 minutes by
two labels for `--days` days (the default retention keeps 30), inserted poll by poll as the cold chain
does, and one open alert per 30 sections. The status page's default request (24 h in 96 buckets) is
timed from the HTTP client: query, JSON and transport; so is the live feed's fridge summary (latest
reading per section) on the store's read thread. Prints one line per size, with the time per section,
so growth faster than linear shows as a rising per-section figure.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from edge.esl.web import queries  # noqa: E402
from edge.esl.web.routes import status_part  # noqa: E402
from edge.jobs import schemas  # noqa: E402
from edge.logs import configure  # noqa: E402
from edge.store import Store  # noqa: E402
from edge.web import Sources, WebServer, build_app  # noqa: E402

LABELS_PER_SECTION = 2


def _seed(store: Store, sections: int, days: float) -> int:
    """The readings and alerts of `sections` sections over `days`; returns the number of readings."""
    now = time.time()

    def fill(tx: Any) -> int:
        """Poll after poll, as the cold chain writes them."""
        rows = [
            (f"F{s:03d}", f"L{s:03d}-{k}", now - 300 * poll, 3 + ((poll + k) % 12) / 4)
            for poll in range(int(days * 288), 0, -1)
            for s in range(sections)
            for k in range(LABELS_PER_SECTION)
        ]
        tx.conn.executemany("INSERT INTO esl_readings (section, label, ts, temp_c) VALUES (?, ?, ?, ?)", rows)
        tx.conn.executemany(
            "INSERT INTO esl_alerts (section, raised_at, peak_c, reason) VALUES (?, ?, ?, ?)",
            [(f"F{s:03d}", now - 600, 11.0, "bench") for s in range(0, sections, 30)],
        )
        return len(rows)

    return store.submit(fill).result(600)


async def one_size(sections: int, days: float, requests: int) -> dict[str, float]:
    """p50 / max of `/api/fridges` for one store size."""
    with tempfile.TemporaryDirectory(prefix="bench-fridges-") as tmp:
        store = Store(Path(tmp) / "edge.db", schemas=schemas())
        readings = await asyncio.to_thread(_seed, store, sections, days)
        configured = [{"id": f"F{s:03d}", "name": f"冷柜 {s}", "min_c": 0.0, "max_c": 6.0} for s in range(sections)]

        async def status() -> dict[str, Any]:
            """A daemon status of App.status()'s shape."""
            return {"store_id": "bench", "link": {"state": "connected", "outbox_depth": 0, "last_sync": None}, "components": {}}

        server = WebServer(build_app(Sources(status, store, [status_part(store, configured)]), None), "127.0.0.1", 0)
        await server.start()
        try:
            async with aiohttp.ClientSession() as client:
                url = f"http://127.0.0.1:{server.port}/api/fridges"
                times, size = [], 0
                for i in range(requests + 2):
                    start = time.perf_counter()
                    async with client.get(url) as response:
                        size = len(await response.read())
                    if i >= 2:  # the first two warm the page cache and the reader thread
                        times.append((time.perf_counter() - start) * 1000)
            summary = []
            for _ in range(requests):
                start = time.perf_counter()
                await store.read(queries.fridge_summary)
                summary.append((time.perf_counter() - start) * 1000)
        finally:
            await server.stop()
            await store.aclose()
    p50 = statistics.median(times)
    return {"readings": readings, "p50_ms": p50, "max_ms": max(times), "per_section_ms": p50 / sections, "kb": size / 1000,
            "summary_ms": statistics.median(summary)}


async def main() -> None:
    """Every size in turn, one line each."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sections", type=int, nargs="+", default=[50, 150, 300, 600])
    parser.add_argument("--days", type=float, default=1.0, help="days of readings kept (the window shown is the last 24 h)")
    parser.add_argument("--requests", type=int, default=15)
    args = parser.parse_args()
    configure("error", "console")
    print(f"/api/fridges (24 h, 96 buckets), {LABELS_PER_SECTION} labels per section, {args.days:g} days of readings kept")
    print(f"{'sections':>8} {'readings':>10} {'p50 ms':>8} {'max ms':>8} {'ms/section':>11} {'KB':>6} {'summary p50 ms':>15}")
    for sections in args.sections:
        r = await one_size(sections, args.days, args.requests)
        print(f"{sections:8d} {r['readings']:10d} {r['p50_ms']:8.1f} {r['max_ms']:8.1f} {r['per_section_ms']:11.3f} {r['kb']:6.0f} {r['summary_ms']:15.1f}")


if __name__ == "__main__":
    asyncio.run(main())
