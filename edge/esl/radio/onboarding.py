"""Onboarding on the hardware PAwR path: labels found advertising are given an address and keys, then served.

On real controllers no label is known at first, and a label the store knows must be served with
the keys it was given. So at start every AP adopts the labels stored for it (`edge.esl.radio.keys`),
and every `[esl.pawr] onboarding_interval_s` a sweep

1. scans on every AP for labels advertising the ESL service (unassociated ones, and ones that lost
   their train: after a restart every label does, once its sync times out);
2. pings each *known* one that the AP still counts as synchronized through the train: a lost label
   stays silent, the scheduler gives it up and the AP's own resync hands it the train again (by
   PAST over a connection, encrypting with the stored bond). It is never onboarded twice;
3. with `onboarding = "auto"`, onboards each unknown one: of the APs that heard it, the one with the
   fewest labels, on it the group with the fewest, the lowest free ESL ID (0..254; 0xFF is
   broadcast, and the reserved top bit of the address stays clear since groups are 0..127), a
   fresh response key; the key and address are committed *before* the label is configured, so a
   crash loses neither and no address is given twice. Then `configure` (address, keys, time, information, PAST) and the label is
   registered in `esl_labels`, where price pushes, pick lights and the cold chain find it. A label
   whose stored row was damaged or lost is unknown, and onboarded again the same way (at its old
   address when that still reads). With `"off"` unknown labels are only counted.

A failed onboarding is logged and tried again at a later sweep, backing off per label from one
interval to 15 minutes; nothing a label does stops the sweep or the job. APs onboard at the same
time, each one label after another (one connection at a time per controller).

The label's absolute time is the Unix time in milliseconds modulo 2^32, the same on every AP.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

import structlog

from devices.backoff import Backoff
from devices.errors import DriverError
from devices.esl.codec import MAX_ESL_ID, EslAddress
from devices.esl.radio import KeyMaterial, Label, LabelConfig, LabelInfo
from edge.esl.radio import keys
from edge.esl.radio.inventory import LabelRecord
from edge.store import Store, Tx
from edge.sync.commands import CommandRegistry, NoArgs

if TYPE_CHECKING:
    from devices.esl.bumble.ap import PawrAccessPoint

log = structlog.get_logger("esl")

#: How long each sweep scans: four adverts of a label at NCS peripheral_esl's 500 ms interval.
SCAN_S = 2.0
#: A label that keeps failing is tried at most this rarely (an unassociated Silicon Labs tag sleeps after an hour).
MAX_RETRY_S = 900.0
#: Labels heard, pending or failed, that are remembered at most (oldest forgotten first): advertisers are not ours to trust.
MAX_TRACKED = 10_000
#: Failures listed in `label.onboarding`'s reply (the counts cover all of them).
MAX_LISTED = 20
#: Damaged rows logged one by one at start; beyond that one line counts the rest.
MAX_LOGGED_ROWS = 20

Mode = Literal["auto", "off"]


def next_address(used: Mapping[int, Collection[int]], groups: int) -> EslAddress | None:
    """The next address on one train: the group with the fewest labels (the lowest on ties), its lowest free ESL ID.

    None when all `groups` x 255 addresses are taken.
    """
    open_groups = [g for g in range(groups) if len(used.get(g, ())) <= MAX_ESL_ID]
    if not open_groups:
        return None
    group = min(open_groups, key=lambda g: (len(used.get(g, ())), g))
    taken = used.get(group, ())
    return EslAddress(group, next(i for i in range(MAX_ESL_ID + 1) if i not in taken))


class AddressBook:
    """Which ESL addresses are taken on each train (AP row id), and by which label (served or reserved)."""

    def __init__(self) -> None:
        """Empty: every address free."""
        self._by_label: dict[str, tuple[int, EslAddress]] = {}
        self._used: dict[int, dict[int, set[int]]] = {}  # AP row id -> group -> ESL IDs taken

    def take(self, label: str, ap: int, esl: EslAddress) -> None:
        """Mark an address taken by a label (releasing the one it had)."""
        self.release(label)
        self._by_label[label] = (ap, esl)
        self._used.setdefault(ap, {}).setdefault(esl.group_id, set()).add(esl.esl_id)

    def release(self, label: str) -> None:
        """Free the address a label had."""
        prior = self._by_label.pop(label, None)
        if prior is not None:
            self._used[prior[0]][prior[1].group_id].discard(prior[1].esl_id)

    def load(self, ap: int) -> int:
        """Addresses taken on one train."""
        return sum(len(ids) for ids in self._used.get(ap, {}).values())

    def allocate(self, label: str, candidates: Sequence[tuple[int, int]]) -> tuple[int, EslAddress] | None:
        """An address for `label` on one of `candidates` ((AP row id, subevents), in the order to prefer on ties).

        Its earlier address when a candidate holds it (and still has that group), else the next
        address (`next_address`) on the candidate with the fewest labels; None when all are full.
        """
        prior = self._by_label.get(label)
        if prior is not None:
            if any(ap == prior[0] and prior[1].group_id < groups for ap, groups in candidates):
                return prior
            self.release(label)
        for ap, groups in sorted(candidates, key=lambda c: self.load(c[0])):
            esl = next_address(self._used.get(ap, {}), groups)
            if esl is not None:
                self.take(label, ap, esl)
                return ap, esl
        return None


@dataclass(frozen=True, slots=True)
class ServedAp:
    """One running access point with its stored identity."""

    stored: keys.StoredAp
    radio: PawrAccessPoint


@dataclass(frozen=True, slots=True)
class _Failure:
    """The last failed onboarding of a label: how often in a row, why, and when it may be tried again."""

    attempts: int
    error: str
    retry_at: float  # loop time
    retry_at_wall: float  # Unix time, for the reply


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What `label.onboarding` and `status` show; replaced whole, so the writer thread reads a consistent one."""

    mode: str
    onboarded: int = 0
    pending: int = 0
    failed: int = 0
    last_sweep: str | None = None
    failures: tuple[dict[str, Any], ...] = ()

    def reply(self) -> dict[str, Any]:
        """The command's result."""
        return {"mode": self.mode, "onboarded": self.onboarded, "pending": self.pending, "failed": self.failed,
                "last_sweep": self.last_sweep, "failures": list(self.failures)}


def _iso(ts: float) -> str:
    """RFC 3339 UTC of a Unix time."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Onboarding:
    """The stored labels of every AP, and the sweep that brings lost ones back and onboards new ones."""

    def __init__(self, store: Store, mode: Mode, interval_s: float, *, scan_s: float = SCAN_S,
                 wall: Callable[[], float] = time.time, rng: random.Random | None = None) -> None:
        """Nothing runs until `run`; APs join with `attach` as the backend opens them."""
        self.store = store
        self.mode = mode
        self.interval_s = interval_s
        self.scan_s = scan_s
        self._wall = wall
        self._rng = rng or random.Random()
        self._backoff = Backoff(initial=interval_s, maximum=max(MAX_RETRY_S, interval_s))
        self.aps: list[ServedAp] = []
        self._served: dict[str, tuple[ServedAp, Label, LabelInfo]] = {}
        self.addresses = AddressBook()
        self._failures: dict[str, _Failure] = {}
        self._pending: dict[str, None] = {}  # unknown labels heard at the last sweep, not yet onboarded
        self._last_sweep: float | None = None
        self._full = False  # logged once until an address is found again
        self.snapshot = Snapshot(mode)

    # Start: what the store holds ------------------------------------------------------------------
    def attach(self, stored: keys.StoredAp, radio: PawrAccessPoint, rows: keys.LabelRows) -> int:
        """A newly opened AP: adopt its onboarded labels, keep its reserved addresses taken; returns how many it serves."""
        ap = ServedAp(stored, radio)
        self.aps.append(ap)
        served = 0
        for row in rows.labels:
            if row.ap != stored.id:
                continue
            self.addresses.take(row.label.ble_address, stored.id, row.label.esl)
            if row.info is None:
                continue  # onboarding never completed: the label is onboarded again (same address) when it advertises
            try:
                radio.adopt(row.label, row.response_key, row.info)
            except DriverError as err:  # e.g. its group has no subevent in this train any more
                log.error("esl.keys.not_adopted", label=row.label.ble_address, ap=stored.position, error=str(err),
                          hint="onboarded again when it advertises")
                self.addresses.release(row.label.ble_address)
                continue
            self._served[row.label.ble_address] = (ap, row.label, row.info)
            served += 1
        for address, ap_id, esl in rows.reserved:
            if ap_id == stored.id:
                self.addresses.take(address, ap_id, esl)
        self._publish()
        return served

    def records(self) -> list[LabelRecord]:
        """The `esl_labels` rows of the labels served now (registered again at start: a lost row comes back)."""
        return [keys.record(label.ble_address, label.esl, info) for _ap, label, info in self._served.values()]

    # The sweep ----------------------------------------------------------------------------------------
    async def run(self) -> None:
        """Sweep every `interval_s` until cancelled; a sweep that fails is logged and the next one runs."""
        while True:
            try:
                await self.sweep()
            except DriverError as err:
                log.warning("esl.onboarding.sweep_failed", error=f"{type(err).__name__}: {err}")
            except Exception:  # this loop supervises the sweeps: a bug in one must not restart every train
                log.exception("esl.onboarding.sweep_crashed")
            await asyncio.sleep(self.interval_s)

    async def sweep(self) -> None:
        """One round: scan, nudge known labels that lost the train, onboard unknown ones (mode "auto")."""
        heard = await self._discover()
        self._last_sweep = self._wall()
        await self._nudge([a for a in heard if a in self._served])
        unknown = [a for a in heard if a not in self._served]
        self._pending = dict.fromkeys(unknown)
        self._publish()
        if self.mode != "auto" or not unknown:
            return
        now = asyncio.get_running_loop().time()
        plan: dict[int, tuple[ServedAp, list[Label]]] = {}
        for address in unknown:
            failure = self._failures.get(address)
            if failure is not None and failure.retry_at > now:
                continue
            # Only APs that heard it: in a large store the least-loaded one may be out of its range.
            by_id = {ap.stored.id: ap for ap in heard[address]}
            chosen = self.addresses.allocate(address, [(i, ap.radio.params.num_subevents) for i, ap in by_id.items()])
            if chosen is None:
                if not self._full:
                    log.error("esl.onboarding.full", waiting=len(unknown),
                              hint="the access points that hear these labels hold 255 per group: add an AP or subevents")
                self._full = True
                continue
            self._full = False
            ap_id, esl = chosen
            plan.setdefault(ap_id, (by_id[ap_id], []))[1].append(Label(address, esl))
        await asyncio.gather(*(self._onboard_all(ap, labels) for ap, labels in plan.values()))

    async def _discover(self) -> dict[str, list[ServedAp]]:
        """Every AP scans at once: each label heard, with the APs that heard it (a scan that fails on one AP is logged)."""
        found = await asyncio.gather(*(ap.radio.discover(self.scan_s) for ap in self.aps), return_exceptions=True)
        heard: dict[str, list[ServedAp]] = {}
        for ap, result in zip(self.aps, found, strict=True):
            if isinstance(result, DriverError):
                log.warning("esl.onboarding.scan_failed", ap=ap.stored.position, error=f"{type(result).__name__}: {result}")
            elif isinstance(result, BaseException):
                raise result
            else:
                for address in result:
                    if address in heard or len(heard) < MAX_TRACKED:
                        heard.setdefault(address, []).append(ap)
        return heard

    async def _nudge(self, known: Iterable[str]) -> None:
        """Ping, through the train, known labels heard advertising: a silent one is given up and resynced by its AP."""
        targets = [(ap, label) for ap, label, _info in (self._served[a] for a in known) if ap.radio.synchronized(label)]
        if not targets:
            return
        results = await asyncio.gather(*(ap.radio.ping(label) for ap, label in targets), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException) and not isinstance(result, DriverError):
                raise result
        lost = sum(isinstance(r, DriverError) for r in results)
        log.info("esl.onboarding.lost_labels", heard=len(targets), silent=lost,
                 hint="their access points hand them the train again")

    async def _onboard_all(self, ap: ServedAp, labels: list[Label]) -> None:
        """Onboard labels on one AP, one after another."""
        for label in labels:
            await self._onboard(ap, label)

    async def _onboard(self, ap: ServedAp, label: Label) -> None:
        """Commit a fresh response key and the address, configure the label, then keep what it read."""
        response_key = KeyMaterial.generate()
        await self.store.write(lambda tx: keys.reserve(tx, label, ap.stored.id, response_key))
        config = LabelConfig(ap.radio.ap_sync_key, response_key, int(self._wall() * 1000) & 0xFFFFFFFF)
        try:
            info = await ap.radio.configure(label, config)
        except DriverError as err:
            self._failed(label.ble_address, err)
            return
        await self._complete(ap, label, info)

    async def _complete(self, ap: ServedAp, label: Label, info: LabelInfo) -> None:
        """The label is configured and on the train: store what it read, register it, count it served."""
        new = await self.store.write(lambda tx: keys.onboarded(tx, label, info))
        self._served[label.ble_address] = (ap, label, info)
        self._failures.pop(label.ble_address, None)
        self._pending.pop(label.ble_address, None)
        self._publish()
        log.info("esl.label.onboarded", label=label.ble_address, ap=ap.stored.position, group=label.esl.group_id,
                 esl_id=label.esl.esl_id, new=new)

    def _failed(self, address: str, err: DriverError) -> None:
        """Note a failed onboarding and when to try again (WARNING the first time in a row, INFO after)."""
        prior = self._failures.pop(address, None)
        attempts = prior.attempts + 1 if prior else 1
        delay = self._backoff.delay(attempts - 1, self._rng)
        error = f"{type(err).__name__}: {err}"[:300]
        self._failures[address] = _Failure(attempts, error, asyncio.get_running_loop().time() + delay, self._wall() + delay)
        while len(self._failures) > MAX_TRACKED:
            self._failures.pop(next(iter(self._failures)))
        self._publish()
        (log.warning if attempts == 1 else log.info)(
            "esl.onboarding.failed", label=address, attempts=attempts, error=error, retry_in_s=round(delay, 1))

    # What it reports ----------------------------------------------------------------------------------
    def _publish(self) -> None:
        """Replace the snapshot (no keys in it: labels, counts, errors)."""
        failures = sorted(self._failures.items())
        self.snapshot = Snapshot(
            self.mode, onboarded=len(self._served), pending=sum(a not in self._failures for a in self._pending),
            failed=len(self._failures), last_sweep=_iso(self._last_sweep) if self._last_sweep is not None else None,
            failures=tuple({"label": a, "attempts": f.attempts, "error": f.error, "retry_at": _iso(f.retry_at_wall)}
                           for a, f in failures[:MAX_LISTED]),
        )


def log_damaged(rows: keys.LabelRows) -> None:
    """One ERROR per damaged label row (the first few), then one line counting the rest; never a value."""
    for label, problem in rows.damaged[:MAX_LOGGED_ROWS]:
        log.error("esl.keys.damaged", label=label, problem=problem,
                  hint="not served with its stored keys; onboarded again when it advertises")
    if len(rows.damaged) > MAX_LOGGED_ROWS:
        log.error("esl.keys.damaged_more", count=len(rows.damaged) - MAX_LOGGED_ROWS)


def register_commands(registry: CommandRegistry, onboarding: Onboarding | None) -> None:
    """Add `label.onboarding` (on every backend: mode "none" where labels are not onboarded by the daemon)."""
    idle = Snapshot("none")

    def report(tx: Tx, args: NoArgs) -> dict[str, Any]:
        """Counts and the first failures of the onboarding sweep."""
        return (onboarding.snapshot if onboarding is not None else idle).reply()

    registry.register("label.onboarding", NoArgs, report, "Onboarding of new shelf labels: onboarded, pending and failed counts")
