"""Label content rules benchmark: a `price.update` of a 2,000-item batch with `[prices] rules = "cn"` vs `"none"`.

Run: .venv/bin/python benchmarks/bench_price_rules.py [--items 2000] [--rounds 5]
Prints one JSON object. Each rule set gets its own store (catalogue and esl schema, `[esl]` enabled so the shelf
labels' layout check is in force, labels of the simulated fleet's three display sizes) holding the demo catalogue's
first `--items` products (half sold by weight); each round sends one `price.update` of every product at a new price
through the real dispatcher (validation, the writer thread, the inbox, the price history), cn and none alternately.
The figures are the medians of the rounds (the ratio is the median of each round's ratio); the rounds are listed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from edge import catalog  # noqa: E402
from edge.catalog import Catalog  # noqa: E402
from edge.config import parse_config  # noqa: E402
from edge.esl.prices.demo_store import catalogue  # noqa: E402
from edge.jobs import schemas  # noqa: E402
from edge.scheduler import Scheduler  # noqa: E402
from edge.store import Store  # noqa: E402
from edge.sync.commands import CommandRegistry, Dispatcher  # noqa: E402

SIZES = ((250, 122), (296, 128), (400, 300))  # the simulated fleet's models: 2.13", 2.9", 4.2"


def _open(path: Path, rules: str) -> tuple[Store, Dispatcher]:
    """A store with its catalogue under one rule set (blocking)."""
    config = parse_config({"store": {"id": "bench", "timezone": "Asia/Shanghai"}, "prices": {"rules": rules},
                           "esl": {"backend": "simulated"}}, env={})
    store = Store(path, schemas={"catalog": catalog.STEPS, **schemas()})
    registry = CommandRegistry()
    Catalog(store, Scheduler(path), config).register(registry)
    return store, Dispatcher(registry, store)


async def _send(dispatcher: Dispatcher, command: str, request_id: str, args: dict[str, Any]) -> dict[str, Any]:
    """One command through the real dispatcher; it must succeed without refusals."""
    reply = await dispatcher.handle(command, json.dumps({"id": request_id, **args}, ensure_ascii=False).encode())
    assert reply["ok"] and "refused" not in reply["result"], reply
    return dict(reply["result"])


async def main(items: int, rounds: int) -> dict[str, Any]:
    """Set up both stores, then time the batches alternately."""
    products = catalogue(items, seed=1)
    labels = [{"id": f"L{n}", "esl_group": 0, "esl_id": n, "width": w, "height": h, "display_type": 1, "state": "unbound"}
              for n, (w, h) in enumerate(SIZES)]
    with tempfile.TemporaryDirectory() as tmp:
        shops = {}
        for rules in ("cn", "none"):
            store, dispatcher = await asyncio.to_thread(_open, Path(tmp) / f"{rules}.db", rules)
            await store.write(lambda tx: tx.db["esl_labels"].insert_all(labels))
            await _send(dispatcher, "product.upsert", "setup", {"items": products})
            shops[rules] = (store, dispatcher)
        seconds: dict[str, list[float]] = {"cn": [], "none": []}
        for n in range(rounds):
            batch = [{"sku": p["sku"], "price": f"{Decimal(p['price']) + Decimal(n + 1) / 100:.2f}"} for p in products]
            for rules in ("cn", "none") if n % 2 == 0 else ("none", "cn"):
                start = time.perf_counter()
                result = await _send(shops[rules][1], "price.update", f"round-{n}", {"items": batch})
                seconds[rules].append(time.perf_counter() - start)
                assert result["applied"] == items, result
        for store, _ in shops.values():
            await store.aclose()
    ratios = [on / off for on, off in zip(seconds["cn"], seconds["none"], strict=True)]
    return {
        "items": items, "rounds": rounds, "displays": [f"{w}x{h}" for w, h in SIZES],
        "cn_s": round(statistics.median(seconds["cn"]), 4), "none_s": round(statistics.median(seconds["none"]), 4),
        "ratio": round(statistics.median(ratios), 2),
        "cn_rounds_s": [round(s, 4) for s in seconds["cn"]], "none_rounds_s": [round(s, 4) for s in seconds["none"]],
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main(args.items, args.rounds))))
