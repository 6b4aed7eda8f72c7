"""The daily shelf = catalogue proof over 10,000 labels: wall time, CPU and memory, stale store and clean store.

Direct table setup, as the other ESL benchmarks do: a store with the real migrations, the demo catalogue (10,000
products, Chinese names, specs and origins), one label per product on the simulator's display models, and a planogram
and position for every label (one in ten misplaced). The first proof finds every label stale (each was recorded as
showing an image no product renders to: the worst case, every label failing, listed and re-queued); the labels are then
recorded as showing the images that proof expected, and the second proof is the ordinary day (every label rendered and
checked, one in ten misplaced). Each proof is `PriceProof.prove` + `record` (one write: re-queue, rows, event) +
`write_report` (HTML and CSV), with the job's one render thread. Memory: the process's peak RSS during the proof above
its RSS before it (sampled every 20 ms), and with `--tracemalloc` the peak of Python allocations (slower).

    .venv/bin/python benchmarks/bench_price_proof.py
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import tempfile
import threading
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from devices.esl.tag_core import MODELS
from edge import catalog
from edge.esl.prices.demo_store import catalogue
from edge.esl.prices.proof import Filter, PriceProof
from edge.jobs import schemas
from edge.store import Store


def rss_mb() -> float:
    """The process's resident set now (MB)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class PeakRss:
    """Samples RSS on a thread while a proof runs; `peak` is the highest seen."""

    def __init__(self) -> None:
        """Start sampling."""
        self.peak = rss_mb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        """Sample until stopped."""
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, rss_mb())

    def stop(self) -> float:
        """Stop; the peak."""
        self._stop.set()
        self._thread.join()
        return max(self.peak, rss_mb())


def setup(store: Store, labels: int) -> None:
    """Products, labels (displays known, recorded as showing an unknown image), planogram and positions."""
    products = catalogue(labels, 1)
    models = [MODELS[name] for name in sorted(MODELS)]

    def fill(tx: Any) -> None:
        """All in one transaction."""
        tx.conn.executemany(
            "INSERT INTO products (sku, name, name_en, price, unit, spec, origin, sale_mode, revision, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, 'piece', 1, 'x')",
            [(p["sku"], p["name"], p.get("name_en"), p["price"], p["unit"], p.get("spec") or None, p.get("origin") or None)
             for p in products])
        rows = []
        for n, p in enumerate(products):
            display = models[n % len(models)].displays[0]
            rows.append((f"E5:00:00:{n >> 16 & 255:02X}:{n >> 8 & 255:02X}:{n & 255:02X}", 1 + n // 250, n % 250, display.width,
                         display.height, display.display_type, p["sku"], "0" * 64))
        tx.conn.executemany(
            "INSERT INTO esl_labels (id, esl_group, esl_id, width, height, display_type, sku, shown_digest, state, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'ok', 'x')", rows)
        tx.conn.executemany("INSERT INTO esl_planogram (sku, run, bay, level, set_at) VALUES (?, ?, ?, 1, 'x')",
                            [(p["sku"], f"A{n // 200:02d}L", 1 + n % 20) for n, p in enumerate(products)])
        tx.conn.executemany(
            "INSERT INTO esl_positions (label, run, bay, level, confidence, located_at) VALUES (?, ?, ?, 1, 0.9, 'x')",
            [(r[0], f"A{n // 200:02d}L", 1 + (n + (n % 10 == 0)) % 20) for n, r in enumerate(rows)])

    store.write_sync(fill)


async def one_proof(checker: PriceProof, store: Store) -> dict[str, Any]:
    """Prove, record and write the report once; timings and memory."""
    before = rss_mb()
    peak = PeakRss()
    wall, cpu = time.perf_counter(), time.process_time()
    outcome = await checker.prove(Filter())
    proved = time.perf_counter() - wall
    data = await store.write(lambda tx: checker.record(tx, outcome, "on_demand"))
    recorded = time.perf_counter() - wall
    await checker.write_report(data["proof"])
    total, cpu = time.perf_counter() - wall, time.process_time() - cpu
    top = peak.stop()
    size = sum(Path(data[k]).stat().st_size for k in ("html", "csv"))
    return {"labels": outcome.labels, "failing": data["failing"], "requeued": data["requeued"], "prove_s": proved,
            "record_s": recorded - proved, "report_s": total - recorded, "wall_s": total, "cpu_s": cpu,
            "rss_before_mb": before, "rss_peak_over_mb": top - before, "report_kb": size / 1024}


async def run(labels: int) -> list[dict[str, Any]]:
    """The stale proof, then the clean one, on a fresh store."""
    with tempfile.TemporaryDirectory() as tmp:
        store = await asyncio.to_thread(lambda: Store(Path(tmp) / "s.db", schemas={"catalog": catalog.STEPS, **schemas()}))
        await asyncio.to_thread(setup, store, labels)
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="esl-render")
        checker = PriceProof(store, pool, "https://shop.example.cn/p/", None, ZoneInfo("Asia/Shanghai"), Path(tmp) / "reports",
                             "bench", 6, 30)
        results = [await one_proof(checker, store)]

        def shown(tx: Any) -> None:
            """Every label now shows what the first proof expected; the re-queued work is done."""
            tx.conn.execute("UPDATE esl_labels SET shown_digest = (SELECT expected_digest FROM esl_price_proof_labels f"
                            " WHERE f.proof = 1 AND f.label = esl_labels.id)")
            tx.conn.execute("DELETE FROM esl_work")

        await store.write(shown)
        results.append(await one_proof(checker, store))
        pool.shutdown()
        await store.aclose()
        return results


def main() -> None:
    """Parse options, run, print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=int, default=10_000)
    parser.add_argument("--tracemalloc", action="store_true", help="also the peak of Python allocations (slower)")
    args = parser.parse_args()
    if args.tracemalloc:
        tracemalloc.start()
    results = asyncio.run(run(args.labels))
    print(f"{args.labels} labels, one render thread; max RSS of the process {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    print("| proof | failing | requeued | prove s | record s | report s | wall s | CPU s | RSS before MB | RSS peak above MB | report kB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, r in zip(("every label stale", "clean (1 in 10 misplaced)"), results):
        print(f"| {name} | {r['failing']} | {r['requeued']} | {r['prove_s']:.1f} | {r['record_s']:.2f} | {r['report_s']:.2f} |"
              f" {r['wall_s']:.1f} | {r['cpu_s']:.1f} | {r['rss_before_mb']:.0f} | {r['rss_peak_over_mb']:.1f} | {r['report_kb']:.0f} |")
    if args.tracemalloc:
        print(f"peak Python allocations (tracemalloc, whole run): {tracemalloc.get_traced_memory()[1] / 2**20:.1f} MB")


if __name__ == "__main__":
    main()
