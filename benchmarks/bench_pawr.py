"""Shelf labels over PAwR on the emulated radio: pick-light latency, LED throughput, full refresh, broadcast, memory, CPU.

Run: .venv/bin/python benchmarks/bench_pawr.py   (about 12 minutes on the 2-core development machine)
Prints one JSON object; progress lines go to stderr. The big runs (BENCHMARKS.md has their figures):
  --parts refresh,memory --refresh-labels 10000 --refresh-aps 1 2 4 --refresh-extra --refresh-random 0
  --memory-labels 10000   (about 35 minutes);  --parts pick --configs 0 --loss 0.05;
  --parts pick,throughput,broadcast --configs 5,6.

The production AP code (`PawrAccessPoint` and its `PawrScheduler`) drives the virtual store
(every label a Bumble device with the ESL service and OTS, `devices/esl/bumble/store.py`) on the
emulating controller (`devices/esl/bumble/controller.py`), all on looptime's virtual clock: the
radio's timing is the emulation's, exact and repeatable; wall time (perf_counter) and CPU time
(process_time) are measured beside it. A label counts as *lit* when its tag core starts the LED
run (the moment it decodes its group's subevent packet), seen by wrapping each tag's
`handle_sync_packet`; *answered* is when the AP's call returned (after the response slot).

The JSON's `emulation` block states the timing used: train layouts (HCI units and ms), the
controller's request lead and data guard, early data refused, empty subevents sent, the loss
model, the scheduler's attempts. Radio time the emulation does not charge (ACL data, connection
events, the AP's own processing) is not in any figure: see BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import math
import os
import random
import subprocess
import sys
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import looptime
from PIL import Image, ImageDraw

from devices.esl import framebuffer
from devices.esl.bumble.ap import PawrAccessPoint
from devices.esl.bumble.controller import RadioModel
from devices.esl.bumble.store import TagSpec, VirtualStore, open_virtual_store
from devices.esl.bumble.tag import SYNC_TIMEOUT_S, VirtualTag
from devices.esl.bumble.train import TrainParams
from devices.esl.codec import BROADCAST_ESL_ID, EslAddress, LedControl, encode_command
from devices.esl.errors import EslError
from devices.esl.led import LedColor, LedParams
from devices.esl.radio import Label
from devices.esl.sync_packet import MAX_PAYLOAD
from devices.esl.tag_core import MODELS
from edge.logs import configure

T = TypeVar("T")

#: Train layouts, in HCI units (TrainParams). `default` is Silicon Labs' ESL AP's.
LAYOUTS: dict[str, TrainParams] = {
    "default": TrainParams(),
    # The demo's picking window (config/demo.toml): 8 groups of 50 ms, slots 37.5 ms after the packet as Silicon
    # Labs' (room for a tag to answer): 400 ms; 8 x 255 = 2,040 labels per AP at most.
    "picking-400ms-8groups": TrainParams(interval=320, num_subevents=8, subevent_interval=40, response_slot_delay=30,
                                         response_slot_spacing=6, num_response_slots=8),
    # All 28 groups in 10 ms subevents: 280 ms, but a tag must answer 5 ms after the packet (unverified on hardware).
    "picking-280ms": TrainParams(interval=224, num_subevents=28, subevent_interval=8, response_slot_delay=4,
                                 response_slot_spacing=4, num_response_slots=8),
}
MAX_ESL_ID = 254
GREEN = LedColor(0, 3, 0)
LIT = LedParams.steady_on(GREEN)  # a pick light: on until the item is picked
COMMAND_TIMEOUT_S = 60.0
PER_PACKET = (MAX_PAYLOAD - 1) // len(encode_command(LedControl(0, 0, LIT)))  # Group_ID, then the commands


def log(message: str) -> None:
    """Progress on stderr (stdout is the JSON)."""
    print(f"[bench_pawr {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def run_virtual(make: Callable[[], Awaitable[T]]) -> T:
    """Run one coroutine on a fresh looptime loop (virtual clock from 0), then close the loop."""
    loop = looptime.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        return loop.run_until_complete(make())
    finally:
        loop.close()
        asyncio.set_event_loop(None)
        gc.collect()


def pct(values: Sequence[float], q: float) -> float:
    """The q-quantile by nearest rank (as bench_esl_job.py)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def figures_ms(values: Sequence[float], interval_s: float) -> dict[str, Any]:
    """p50/p95/max of seconds, in ms and in PAwR intervals."""
    if not values:
        return {"count": 0}
    return {"count": len(values),
            "p50_ms": round(pct(values, 0.5) * 1000, 1), "p95_ms": round(pct(values, 0.95) * 1000, 1),
            "max_ms": round(max(values) * 1000, 1),
            "p50_intervals": round(pct(values, 0.5) / interval_s, 3),
            "p95_intervals": round(pct(values, 0.95) / interval_s, 3),
            "max_intervals": round(max(values) / interval_s, 3)}


def rss_mb() -> float:
    """Resident memory of this process now."""
    status = Path("/proc/self/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS"))) / 1024


def price_image(model: str = "2.9-bwr") -> bytes:
    """A packed price label for `model` (name, big price, promo bar, stripes), as bench_esl_refresh.py draws it."""
    info = MODELS[model].displays[0]
    image = Image.new("P", (info.width, info.height), 0)
    draw = ImageDraw.Draw(image)
    draw.text((6, 4), "Organic Bananas 1 kg", fill=1, font_size=18)
    draw.text((6, info.height // 3), "1.99", fill=1, font_size=info.height // 3)
    draw.rectangle((info.width * 2 // 3, 4, info.width - 6, 30), fill=2)
    for x in range(6, info.width // 2, 3):
        draw.line((x, info.height - 20, x, info.height - 4), fill=1 if x % 7 else 0)
    return framebuffer.pack(image, info.display_type)


def layout_of(params: TrainParams) -> dict[str, Any]:
    """A layout in HCI units and in milliseconds, with its unicast LED limit."""
    return {**asdict(params), "interval_ms": round(params.interval_s * 1000, 3),
            "subevent_interval_ms": round(params.subevent_interval_s * 1000, 3),
            "slot_delay_ms": round(params.slot_delay_s * 1000, 3), "slot_spacing_ms": params.slot_spacing_s * 1000,
            "led_limit_per_s_per_ap": round(PER_PACKET * params.num_subevents / params.interval_s, 2),
            "packets_per_label_per_hour": round(3600 / params.interval_s)}


def wide_layout(labels_per_ap: int) -> TrainParams:
    """Silicon Labs' subevent timing with enough subevents (groups) for `labels_per_ap` labels (255 per group)."""
    groups = max(28, math.ceil(labels_per_ap / (MAX_ESL_ID + 1)))
    base = TrainParams()
    return TrainParams(interval=max(base.interval, groups * base.subevent_interval), num_subevents=groups)


# The store -----------------------------------------------------------------------------------------
def make_specs(count: int, aps: int, groups: int, loss: float) -> list[TagSpec]:
    """`count` labels dealt round-robin over the APs, then over each AP's groups."""
    if math.ceil(count / aps) > groups * (MAX_ESL_ID + 1):
        raise SystemExit(f"{count} labels over {aps} APs need more than {groups} groups of 255")
    return [TagSpec(f"C4:00:00:{n >> 16:02X}:{(n >> 8) & 0xFF:02X}:{n & 0xFF:02X}",
                    EslAddress((n // aps) % groups, (n // aps) // groups), ap=n % aps,
                    radio=RadioModel(packet_loss=loss, response_loss=loss))
            for n in range(count)]


async def build_store(specs: list[TagSpec], aps: int, params: TrainParams, *, seed: int) -> VirtualStore:
    """The virtual store of `specs` (its labels preconfigured and synchronized, as `open_virtual_store` builds it)."""
    return await open_virtual_store(specs, aps=aps, params=params, seed=seed, timeout=COMMAND_TIMEOUT_S)


class LitClock:
    """When each watched label's LED 0 starts a run, seen from the tag (it decoded its subevent's packet)."""

    def __init__(self, store: VirtualStore) -> None:
        """Wrap every tag's `handle_sync_packet` (instrumentation only: the answer is passed on unchanged)."""
        self._waiting: dict[str, tuple[float, asyncio.Future[float]]] = {}
        self.reports = 0  # subevent packets the labels' controllers handed their hosts
        for address, tag in store.tags.items():
            self._hook(address, tag)

    def _hook(self, address: str, tag: VirtualTag) -> None:
        """Look at the LED after each sync packet the tag runs."""
        handle = tag.handle_sync_packet

        def wrapped(payload: bytes) -> Any:
            """The tag's own handling, then a look at LED 0 if someone waits for it."""
            response = handle(payload)
            waiting = self._waiting.get(address)
            if waiting is not None:
                run = tag.core.led(0)
                if run is not None and run.started_at >= waiting[0]:
                    del self._waiting[address]
                    if not waiting[1].done():
                        waiting[1].set_result(run.started_at)
            return response

        tag.handle_sync_packet = wrapped  # type: ignore[method-assign]
        receiver = tag.receiver
        if receiver is not None and receiver.on_report is not None:
            on_report = receiver.on_report

            def counted(report: Any) -> None:
                """Count the packet, then the tag's own handling."""
                self.reports += 1
                on_report(report)

            receiver.on_report = counted

    def watch(self, address: str, since: float) -> asyncio.Future[float]:
        """A future for the loop time at which `address` lights after `since`."""
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._waiting[address] = (since, future)
        return future

    def forget(self, address: str) -> None:
        """Stop waiting for `address`."""
        self._waiting.pop(address, None)


class Bench:
    """One built store with its labels indexed, the lit clock and a random generator."""

    def __init__(self, store: VirtualStore, specs: list[TagSpec], params: TrainParams, seed: int) -> None:
        """Index the labels by number and by AP."""
        self.store = store
        self.params = params
        self.labels = [Label(spec.address, spec.esl) for spec in specs]
        self.ap_of = [spec.ap for spec in specs]
        self.by_ap = [[n for n, spec in enumerate(specs) if spec.ap == a] for a in range(len(store.aps))]
        self.clock = LitClock(store)
        self.rng = random.Random(seed)
        self.loop = asyncio.get_running_loop()

    @property
    def interval_s(self) -> float:
        """The train's interval."""
        return self.params.interval_s

    def ap(self, n: int) -> PawrAccessPoint:
        """The AP serving label n."""
        return self.store.aps[self.ap_of[n]]

    def sample(self, k: int, busy: set[int]) -> list[int]:
        """k distinct labels not in `busy` (they are added to it)."""
        chosen: list[int] = []
        while len(chosen) < k:
            n = self.rng.randrange(len(self.labels))
            if n not in busy:
                busy.add(n)
                chosen.append(n)
        return chosen

    def order_size(self) -> int:
        """Labels of one order: 5 to 10."""
        return self.rng.randint(5, 10)

    async def light(self, chosen: Sequence[int]) -> dict[str, Any]:
        """One order: LED Control (steady on) to each of its labels at once; when all were lit and all answered."""
        t0 = self.loop.time()
        lit = [self.clock.watch(self.labels[n].ble_address, t0) for n in chosen]
        answers = await asyncio.gather(*(self.ap(n).flash_led(self.labels[n], 0, LIT) for n in chosen),
                                       return_exceptions=True)
        answered = self.loop.time() - t0
        await asyncio.wait(lit, timeout=self.interval_s)  # a label lit whose answer was lost
        times = [f.result() - t0 for f in lit if f.done()]
        for n, f in zip(chosen, lit, strict=True):
            if not f.done():
                self.clock.forget(self.labels[n].ble_address)
        failed = sum(isinstance(a, BaseException) for a in answers)
        return {"lit": max(times) if len(times) == len(chosen) else None, "answered": answered,
                "labels": times, "failed": failed, "size": len(chosen)}

    async def off(self, n: int) -> None:
        """The item was picked: LED off."""
        with contextlib.suppress(EslError):  # a lost off command does not change the figures
            await self.ap(n).stop_led(self.labels[n], 0)

    def totals(self) -> dict[str, int]:
        """The schedulers' counters summed over the APs."""
        out: dict[str, int] = {}
        for ap in self.store.aps:
            assert ap.scheduler is not None
            for key, value in asdict(ap.scheduler.figures()).items():
                if isinstance(value, int):
                    out[key] = out.get(key, 0) + value
        return out


def summarize(orders: list[dict[str, Any]], interval_s: float) -> dict[str, Any]:
    """Order figures: all labels lit, all answered, per label lit; failures."""
    lit = [o["lit"] for o in orders if o["lit"] is not None]
    return {"orders": len(orders), "labels": sum(o["size"] for o in orders),
            "order_all_lit": figures_ms(lit, interval_s),
            "order_all_answered": figures_ms([o["answered"] for o in orders], interval_s),
            "label_lit": figures_ms([t for o in orders for t in o["labels"]], interval_s),
            "orders_not_all_lit": len(orders) - len(lit), "commands_failed": sum(o["failed"] for o in orders)}


# Pick lights ---------------------------------------------------------------------------------------
async def pick_single(bench: Bench, orders: int) -> dict[str, Any]:
    """One order at a time, each at a random phase of the train."""
    results = []
    for _ in range(orders):
        await asyncio.sleep(bench.rng.uniform(0, bench.interval_s))
        results.append(await bench.light(bench.sample(bench.order_size(), set())))
    return summarize(results, bench.interval_s)


async def pick_steady(bench: Bench, pickers: int, orders: int, item_s: tuple[float, float]) -> dict[str, Any]:
    """`pickers` orders running: each lights its labels at start, one goes off per item picked, then the next order."""
    mean_order_s = 7.5 * sum(item_s) / 2
    warmup = bench.loop.time() + mean_order_s
    results: list[dict[str, Any]] = []
    busy: set[int] = set()
    offs: set[asyncio.Task[None]] = set()
    enough = asyncio.Event()

    def release(n: int, task: asyncio.Task[None]) -> None:
        """The off command finished: the label may be chosen again."""
        busy.discard(n)
        offs.discard(task)

    async def picker() -> None:
        """One picker: orders back to back."""
        await asyncio.sleep(bench.rng.uniform(0, mean_order_s))
        while True:
            started = bench.loop.time()
            chosen = bench.sample(bench.order_size(), busy)
            result = await bench.light(chosen)
            if started >= warmup and not enough.is_set():
                results.append(result)
                if len(results) >= orders:
                    enough.set()
            for n in chosen:
                await asyncio.sleep(bench.rng.uniform(*item_s))
                task = asyncio.create_task(bench.off(n))
                offs.add(task)
                task.add_done_callback(lambda t, n=n: release(n, t))

    tasks = [asyncio.create_task(picker()) for _ in range(pickers)]
    await enough.wait()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, *offs, return_exceptions=True)
    out = summarize(results, bench.interval_s)
    out["model"] = {"pickers": pickers, "item_pick_s": list(item_s), "labels_per_order": [5, 10],
                    "measured_after_s": round(mean_order_s, 1)}
    return out


async def pick_burst(bench: Bench, orders: int, rounds: int) -> dict[str, Any]:
    """`orders` orders released at the same instant (a wave), `rounds` times at random phases."""
    results = []
    for _ in range(rounds):
        await asyncio.sleep(bench.rng.uniform(0, bench.interval_s))
        busy: set[int] = set()
        wave = [bench.sample(bench.order_size(), busy) for _ in range(orders)]
        results += await asyncio.gather(*(bench.light(chosen) for chosen in wave))
    return summarize(results, bench.interval_s)


async def pick_burst_by_group(bench: Bench, orders: int, rounds: int) -> dict[str, Any]:
    """The wave again, but each order's labels lit by one LED broadcast per group they are in (shared by orders)."""
    results: list[dict[str, Any]] = []
    collateral = 0
    for _ in range(rounds):
        await asyncio.sleep(bench.rng.uniform(0, bench.interval_s))
        busy: set[int] = set()
        wave = [bench.sample(bench.order_size(), busy) for _ in range(orders)]
        t0 = bench.loop.time()
        groups = sorted({(bench.ap_of[n], bench.labels[n].esl.group_id) for chosen in wave for n in chosen})
        watches = {n: bench.clock.watch(bench.labels[n].ble_address, t0) for chosen in wave for n in chosen}
        await asyncio.gather(*(bench.store.aps[a].broadcast(g, LedControl(BROADCAST_ESL_ID, 0, LIT)) for a, g in groups))
        sent = bench.loop.time() - t0
        await asyncio.wait(list(watches.values()), timeout=2 * bench.interval_s)
        lit_groups = set(groups)
        in_groups = sum((bench.ap_of[n], label.esl.group_id) in lit_groups for n, label in enumerate(bench.labels))
        collateral += in_groups - len(watches)
        for chosen in wave:
            times = [watches[n].result() - t0 for n in chosen if watches[n].done()]
            results.append({"lit": max(times) if len(times) == len(chosen) else None, "answered": sent,
                            "labels": times, "failed": 0, "size": len(chosen)})
    out = summarize(results, bench.interval_s)
    out.pop("order_all_answered")
    out["broadcasts_returned"] = "a broadcast is answered by nobody: returned = given to the controller"
    out["labels_lit_not_in_any_order_per_wave"] = round(collateral / rounds)
    out["labels_in_store"] = len(bench.labels)
    return out


# Throughput and broadcast --------------------------------------------------------------------------
async def idle_cpu(bench: Bench, seconds: float) -> tuple[float, float]:
    """CPU seconds per virtual second of the trains running with nothing to send, and packets per label per hour."""
    cpu, reports = time.process_time(), bench.clock.reports
    await asyncio.sleep(seconds)
    return (time.process_time() - cpu) / seconds, (bench.clock.reports - reports) / len(bench.labels) / seconds * 3600


async def throughput(bench: Bench, intervals: int, idle: float | None = None) -> dict[str, Any]:
    """`intervals` full packets' worth of unicast LED commands queued in every group at once: answers per second per AP.

    The rate is taken between the 10th and 90th percentile answers of each AP (the queues are full
    throughout); `overall_per_ap_per_s` divides by the whole time, first interval's phase included.
    """
    if idle is None:
        idle, _ = await idle_cpu(bench, 8 * bench.interval_s)
    depth = intervals * PER_PACKET * bench.params.num_subevents
    done: list[list[float]] = [[] for _ in bench.store.aps]
    before = bench.totals()

    async def one(n: int) -> None:
        """One command; its answer time noted per AP."""
        try:
            await bench.ap(n).flash_led(bench.labels[n], 0, LIT)
        except Exception:  # noqa: BLE001 - counted below from the scheduler's figures
            return
        done[bench.ap_of[n]].append(bench.loop.time())

    per_group = intervals * PER_PACKET  # every group's queue equally deep: the rate is the train's, not the draw's
    chosen = []
    for members in bench.by_ap:
        for group in range(bench.params.num_subevents):
            mine = [n for n in members if bench.labels[n].esl.group_id == group]
            chosen += bench.rng.sample(mine, per_group) if per_group <= len(mine) else bench.rng.choices(mine, k=per_group)
    t0, cpu0, wall0 = bench.loop.time(), time.process_time(), time.perf_counter()
    await asyncio.gather(*(one(n) for n in chosen))
    elapsed, cpu, wall = bench.loop.time() - t0, time.process_time() - cpu0, time.perf_counter() - wall0
    rates = []
    for times in done:
        times.sort()
        lo, hi = int(0.1 * len(times)), int(0.9 * len(times)) - 1
        rates.append((hi - lo) / (times[hi] - times[lo]))
    after = bench.totals()
    limit = PER_PACKET * bench.params.num_subevents / bench.interval_s
    return {"queued_per_ap": depth, "answered": sum(map(len, done)), "virtual_s": round(elapsed, 2),
            "overall_per_ap_per_s": round(depth / elapsed, 2),
            "per_ap_per_s": [round(r, 2) for r in rates], "limit_per_ap_per_s": round(limit, 2),
            "ratio_to_limit": round(min(rates) / limit, 3),
            "retries": after["retries"] - before["retries"], "unanswered": after["unanswered"] - before["unanswered"],
            "early_refused": after["early_refused"] - before["early_refused"],
            "wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "idle_cpu_per_virtual_s": round(idle, 4),
            "cpu_ms_per_command": round((cpu - idle * elapsed) / len(chosen) * 1000, 3)}


async def broadcast_all(bench: Bench) -> dict[str, Any]:
    """One LED broadcast per group of every AP, all at once: time until every label was lit."""
    t0 = bench.loop.time()
    watches = [bench.clock.watch(label.ble_address, t0) for label in bench.labels]
    await asyncio.gather(*(ap.broadcast(group, LedControl(BROADCAST_ESL_ID, 0, LIT))
                           for ap in bench.store.aps for group in range(bench.params.num_subevents)))
    returned = bench.loop.time() - t0
    await asyncio.wait(watches, timeout=3 * bench.interval_s)
    times = [w.result() - t0 for w in watches if w.done()]
    out = figures_ms(times, bench.interval_s)
    out.update({"labels": len(watches), "lit": len(times), "broadcasts": len(bench.store.aps) * bench.params.num_subevents,
                "all_given_to_controllers_ms": round(returned * 1000, 1)})
    return out


def emulation_of(store: VirtualStore) -> dict[str, Any]:
    """How the emulating controller and the scheduler are set, read from the running objects."""
    train = next(iter(store.link.trains.values()))
    controller = train.controller
    ap = store.aps[0]
    assert ap.scheduler is not None
    return {"request_lead_ms": round(train.request_lead_s * 1000, 3), "data_guard_ms": controller.data_guard_s * 1000,
            "accept_early": controller.accept_early, "empty_subevents": controller.empty_subevents,
            "scheduler": {"max_attempts": ap.scheduler.max_attempts, "push_early": ap.scheduler.push_early,
                          "keepalive_s": ap.scheduler.keepalive_s},
            "led_control_octets": len(encode_command(LedControl(0, 0, LIT))), "packet_octets": MAX_PAYLOAD,
            "led_commands_per_packet": PER_PACKET}


# Per configuration ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class PickConfig:
    """One store to measure pick lights (and throughput, broadcast) on."""

    name: str
    layout: str
    aps: int
    steady: bool
    by_group: bool


async def measure_config(config: PickConfig, args: argparse.Namespace) -> dict[str, Any]:
    """Build the store, then run each measurement on it in turn."""
    params = LAYOUTS[config.layout]
    specs = make_specs(args.labels, config.aps, params.num_subevents, args.loss)
    wall0, cpu0 = time.perf_counter(), time.process_time()
    store = await build_store(specs, config.aps, params, seed=args.seed)
    bench = Bench(store, specs, params, args.seed)
    out: dict[str, Any] = {"layout": config.layout, "aps": config.aps, "labels": args.labels,
                           "build_wall_s": round(time.perf_counter() - wall0, 1),
                           "build_cpu_s": round(time.process_time() - cpu0, 1)}
    out["emulation"] = emulation_of(store)
    idle, heard = await idle_cpu(bench, 8 * params.interval_s)
    out["idle"] = {"cpu_s_per_virtual_s": round(idle, 4), "packets_heard_per_label_per_hour": round(heard)}
    try:
        async with asyncio.timeout(7200):
            if "pick" in args.parts:
                out["one_order"] = await pick_single(bench, args.single_orders)
                log(f"{config.name}: one order {out['one_order']['order_all_lit']}")
                if config.steady:
                    out["orders_running"] = await pick_steady(bench, args.running, args.steady_orders, (6.0, 30.0))
                    log(f"{config.name}: {args.running} running {out['orders_running']['order_all_lit']}")
                out["orders_at_once"] = await pick_burst(bench, args.running, args.rounds)
                log(f"{config.name}: {args.running} at once {out['orders_at_once']['order_all_lit']}")
                if config.by_group:
                    out["orders_at_once_by_group_broadcast"] = await pick_burst_by_group(bench, args.running, args.rounds)
                    log(f"{config.name}: by group {out['orders_at_once_by_group_broadcast']['order_all_lit']}")
            if "throughput" in args.parts:
                out["throughput"] = await throughput(bench, args.queue_intervals)
                log(f"{config.name}: throughput {out['throughput']['per_ap_per_s']}/s")
            if "broadcast" in args.parts:
                await asyncio.sleep(2 * params.interval_s)
                out["broadcast_all"] = await broadcast_all(bench)
                log(f"{config.name}: broadcast {out['broadcast_all']}")
            out["scheduler_totals"] = bench.totals()
    finally:
        await store.close()
    return out


def free_every(pacing: str, params: TrainParams) -> int | None:
    """After how many rounds of connects (one per group) a refresh leaves one interval free; None: never.

    "sync": a label hears nothing in an occurrence of its subevent that carries a connect request,
    and must hear a packet within its sync timeout: K rounds + the free one < the timeout.
    """
    if pacing == "full":
        return None
    if pacing == "picking":
        return 1
    return max(1, math.ceil(SYNC_TIMEOUT_S / params.interval_s) - 2)


async def measure_refresh(labels: int, aps: int, order: str, pacing: str, probe: bool,
                          args: argparse.Namespace) -> dict[str, Any]:
    """Push a price image to every label through the train, one label at a time per AP (with `probe`: orders lighting).

    `order` "groups": each AP's labels in rounds of one per group (0, 1, ..., 27), so every connect
    takes the very next subevent; "adaptive": the same, but a group with commands waiting is
    skipped for the next one (the AP would hold the push back for them); "random": in random order;
    "paced": as the job's pusher asks since the AP has a `ConnectPacer`: due labels by ESL id then
    group, `--paced-waiting` pushes per group waiting on each AP, and the AP chooses (pacing "full": no bench-side free
    intervals, the pacer rests groups itself). `pacing` (see `free_every`) leaves
    whole intervals without connects so labels keep their sync and LED commands get through. The
    probe lights one order of 5-10 random labels every other interval meanwhile (picking hours).
    """
    per_ap = math.ceil(labels / aps)
    params = LAYOUTS["default"] if per_ap <= 28 * (MAX_ESL_ID + 1) else wide_layout(per_ap)
    specs = make_specs(labels, aps, params.num_subevents, args.loss)
    store = await build_store(specs, aps, params, seed=args.seed)
    bench = Bench(store, specs, params, args.seed)
    image = price_image()
    loop = asyncio.get_running_loop()
    rng = random.Random(args.seed)
    every = free_every(pacing, params) if order in ("groups", "adaptive") else None
    failures: list[str] = []
    probes: list[dict[str, Any]] = []

    async def worker(ap: PawrAccessPoint, mine: list[TagSpec]) -> None:
        """One AP's labels, one push at a time (the emulation charges no air time once a connection is made)."""
        groups = params.num_subevents
        if order == "paced":
            waiting = deque(sorted(mine, key=lambda s: (s.esl.esl_id, s.esl.group_id)))  # the pusher's order

            async def one() -> None:
                """One of the pusher's workers: the next label whatever its group."""
                while waiting:
                    spec = waiting.popleft()
                    try:
                        await ap.push_image(Label(spec.address, spec.esl), 0, image, image_index=0)
                    except Exception as err:  # noqa: BLE001 - counted and shown
                        failures.append(f"{type(err).__name__}: {err}")

            await asyncio.gather(*(one() for _ in range(args.paced_waiting * groups)))
            return
        if order == "random":
            queue = rng.sample(mine, len(mine))
        else:
            queue = sorted(mine, key=lambda s: (s.esl.esl_id, s.esl.group_id))
        left = {g: deque(s for s in queue if s.esl.group_id == g) for g in range(groups)}
        last = groups - 1
        free_end = loop.time()
        for index in range(len(queue)):
            # A free interval (no connect: every group's packet goes out) after every `every` rounds of one label
            # per group; in adaptive order rounds drift (skipped groups wait longer), so by time, one round earlier.
            if every and ((index and index % (every * groups) == 0) if order == "groups" else
                          loop.time() - free_end >= max(every - 1, 1) * params.interval_s):
                await asyncio.sleep(params.interval_s)
                free_end = loop.time()
            if order == "adaptive":  # the next group in air order that has labels left and no commands waiting
                assert ap.scheduler is not None
                ready = [g for g in ((last + k) % groups for k in range(1, groups + 1)) if left[g]]
                last = next((g for g in ready if not ap.scheduler.busy(g)), ready[0])
                spec = left[last].popleft()
            else:
                spec = queue[index]
            try:
                await ap.push_image(Label(spec.address, spec.esl), 0, image, image_index=0)
            except Exception as err:  # noqa: BLE001 - counted and shown
                failures.append(f"{type(err).__name__}: {err}")

    async def lights() -> None:
        """Pick lights meanwhile: one order of 5-10 labels every other interval."""
        while True:
            await asyncio.sleep(2 * params.interval_s)
            probes.append(await bench.light(bench.sample(bench.order_size(), set())))

    t0, cpu0, wall0 = loop.time(), time.process_time(), time.perf_counter()
    prober = asyncio.create_task(lights() if probe else asyncio.sleep(0))
    try:
        async with asyncio.timeout(36_000):
            await asyncio.gather(*(worker(ap, [s for s in specs if s.ap == a]) for a, ap in enumerate(store.aps)))
        virtual = loop.time() - t0
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        prober.cancel()
        await asyncio.gather(prober, return_exceptions=True)
        shown = sum(tag.core.displayed_bytes(0) == image for tag in store.tags.values())
        totals = bench.totals()
    finally:
        await store.close()
    counts = [sum(s.ap == a for s in specs) for a in range(aps)]
    limit = max(counts) * params.subevent_interval_s
    return {"labels": labels, "aps": aps, "order": order, "pacing": pacing, "free_interval_every_rounds": every,
            "orders_lit_meanwhile": probe,
            "layout": "default" if params == LAYOUTS["default"] else layout_of(params),
            "image_octets": len(image), "virtual_s": round(virtual, 2), "radio_limit_s": round(limit, 2),
            "ratio_limit_to_time": round(limit / virtual, 3), "failures": len(failures),
            "failure_kinds": sorted({f.split(" in subevent")[0].split(":")[0] + ": " + f.split(": ", 2)[-1][:90]
                                     for f in failures})[:3],
            "shown": shown, "labels_unsynchronized_for_the_scheduler": totals["unsynchronized"],
            "pick_lights_meanwhile": summarize(probes, params.interval_s) if probe else None,
            "wall_s": round(wall, 1), "cpu_s": round(cpu, 1), "cpu_ms_per_label": round(cpu / labels * 1000, 1)}


async def measure_memory(labels: int, args: argparse.Namespace) -> dict[str, Any]:
    """RSS, build cost, idle CPU and CPU per LED command of a store of `labels` (run in its own process)."""
    aps = math.ceil(labels / (28 * (MAX_ESL_ID + 1)))
    params = LAYOUTS["default"]
    specs = make_specs(labels, aps, params.num_subevents, 0.0)
    gc.collect()
    before = rss_mb()
    wall0, cpu0 = time.perf_counter(), time.process_time()
    store = await build_store(specs, aps, params, seed=args.seed)
    build_wall, build_cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    bench = Bench(store, specs, params, args.seed)
    try:
        await asyncio.sleep(2 * params.interval_s)
        gc.collect()
        after = rss_mb()
        idle, heard = await idle_cpu(bench, args.idle_s)
        commands = await throughput(bench, 3, idle)
    finally:
        await store.close()
    return {"labels": labels, "aps": aps, "rss_before_mb": round(before, 1), "rss_after_mb": round(after, 1),
            "rss_mb_per_1000_labels": round((after - before) / labels * 1000, 1),
            "build_wall_s": round(build_wall, 1), "build_cpu_ms_per_label": round(build_cpu / labels * 1000, 2),
            "idle_cpu_s_per_virtual_s": round(idle, 4), "packets_heard_per_label_per_hour": round(heard),
            "idle_cpu_ms_per_virtual_s_per_1000_labels": round(idle / labels * 1000 * 1000, 2),
            "led_commands": commands["answered"], "cpu_ms_per_led_command": commands["cpu_ms_per_command"]}


def memory_in_child(labels: int, args: argparse.Namespace) -> dict[str, Any]:
    """Run `measure_memory` in a fresh interpreter, so RSS is this store's alone."""
    command = [sys.executable, __file__, "--memory-child", str(labels), "--seed", str(args.seed),
               "--idle-s", str(args.idle_s)]
    done = subprocess.run(command, check=True, capture_output=True, text=True, cwd=REPO)
    return json.loads(done.stdout)


PICK_CONFIGS = [
    PickConfig("default, 1 AP", "default", 1, steady=True, by_group=True),
    PickConfig("default, 2 APs", "default", 2, steady=True, by_group=False),
    PickConfig("default, 4 APs", "default", 4, steady=False, by_group=False),
    PickConfig("picking 400 ms (8 groups), 4 APs", "picking-400ms-8groups", 4, steady=False, by_group=False),
    PickConfig("picking 280 ms, 1 AP", "picking-280ms", 1, steady=False, by_group=False),
    PickConfig("picking 400 ms (8 groups), 2 APs", "picking-400ms-8groups", 2, steady=False, by_group=False),
    PickConfig("picking 280 ms, 4 APs", "picking-280ms", 4, steady=False, by_group=False),
]


def main() -> None:
    """Parse options, run the parts asked for, print the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="pick,throughput,broadcast,refresh,memory",
                        help="comma-separated: pick, throughput, broadcast (on the pick stores), refresh, memory")
    parser.add_argument("--configs", default="0,1,2,3,4",
                        help="which pick stores, by index: " + "; ".join(f"{n} {c.name}" for n, c in enumerate(PICK_CONFIGS)))
    parser.add_argument("--steady-all", action="store_true", help="the 50-running model on every pick store")
    parser.add_argument("--labels", type=int, default=2800, help="labels in each pick store")
    parser.add_argument("--running", type=int, default=50, help="orders running (and orders in a wave)")
    parser.add_argument("--single-orders", type=int, default=40)
    parser.add_argument("--steady-orders", type=int, default=80)
    parser.add_argument("--rounds", type=int, default=4, help="waves of --running orders at once")
    parser.add_argument("--queue-intervals", type=int, default=8, help="throughput queue depth, in intervals of full packets")
    parser.add_argument("--refresh-labels", type=int, nargs="+", default=[1000])
    parser.add_argument("--refresh-aps", type=int, nargs="*", default=[1, 2, 4])
    parser.add_argument("--paced-waiting", type=int, default=1, help="paced order: pushes waiting per group and AP")
    parser.add_argument("--refresh-order", default="groups", choices=["groups", "paced"],
                        help="order of the main refresh runs: the bench's air order with free intervals, or the AP's pacer")
    parser.add_argument("--refresh-extra", nargs="*",
                        default=["full", "sync+lights", "adaptive:sync+lights"],
                        help="extra 1-AP refresh runs of the first --refresh-labels: [adaptive:|paced:]full|sync|picking[+lights]"
                             " (adaptive: skip groups with commands waiting; paced: the AP's pacer orders;"
                             " +lights: orders lit meanwhile)")
    parser.add_argument("--refresh-random", type=int, default=200, help="labels of the random-order refresh (1 AP); 0: skip")
    parser.add_argument("--memory-labels", type=int, nargs="+", default=[1000, 3000])
    parser.add_argument("--idle-s", type=float, default=30.0, help="virtual seconds of idle train per CPU figure")
    parser.add_argument("--loss", type=float, default=0.0, help="per-label packet and response loss probability")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--memory-child", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    configure("warning", "console")
    import logging
    logging.getLogger("bumble").setLevel(logging.ERROR)  # refused early data is logged per packet: expected here
    if args.memory_child:
        print(json.dumps(run_virtual(lambda: measure_memory(args.memory_child, args))))
        return
    args.parts = set(args.parts.split(","))
    if args.labels < 20 * args.running:
        parser.error("--labels must be at least 20 x --running (orders of up to 10 distinct labels)")
    wall0, cpu0 = time.perf_counter(), time.process_time()
    out: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "layouts": {name: layout_of(params) for name, params in LAYOUTS.items()},
        "loss_model": asdict(RadioModel(packet_loss=args.loss, response_loss=args.loss)),
    }
    if args.parts & {"pick", "throughput", "broadcast"}:
        out["stores"] = {}
        for index in map(int, args.configs.split(",")):
            config = PICK_CONFIGS[index]
            if args.steady_all:
                config = PickConfig(config.name, config.layout, config.aps, True, config.by_group)
            log(f"store {config.name}: {args.labels} labels")
            out["stores"][config.name] = run_virtual(lambda config=config: measure_config(config, args))
    if "refresh" in args.parts:
        out["refresh"] = []
        pacing = "sync" if args.refresh_order == "groups" else "full"
        runs = [(labels, aps, args.refresh_order, pacing, False) for labels in args.refresh_labels for aps in args.refresh_aps]
        for extra in args.refresh_extra:  # [adaptive:]PACING[+lights]
            order, _, rest = extra.rpartition(":")
            runs.append((args.refresh_labels[0], 1, order or "groups", rest.split("+")[0], rest.endswith("+lights")))
        if args.refresh_random:
            runs.append((args.refresh_random, 1, "random", "full", False))
        for labels, aps, order, pacing, probe in runs:
            log(f"refresh {labels} labels over {aps} APs, {order} order, {pacing} pacing, lights {probe}")
            out["refresh"].append(run_virtual(lambda labels=labels, aps=aps, order=order, pacing=pacing, probe=probe:
                                              measure_refresh(labels, aps, order, pacing, probe, args)))
            log(f"  {out['refresh'][-1]}")
    if "memory" in args.parts:
        out["memory"] = []
        for labels in args.memory_labels:
            log(f"memory and CPU with {labels} labels")
            out["memory"].append(memory_in_child(labels, args))
            log(f"  {out['memory'][-1]}")
    out["run"] = {"wall_s": round(time.perf_counter() - wall0, 1), "cpu_s": round(time.process_time() - cpu0, 1),
                  "argv": sys.argv[1:]}
    print(json.dumps(out, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
