"""Onboarding and keys that survive a restart on the hardware PAwR path, over emulated controllers (looptime's clock).

The hardware path runs as the daemon runs it (`backend.pawr` with hardware transports, the real
`open_access_point`: stored sync key, address and bonds, Bumble host, train) against a real SQLite
store; the only fake is the controller, an emulating `PawrController` on the test's link in place
of a dongle. The labels are unconfigured virtual tags, advertising as new labels do.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
from bumble.transport.common import Transport
from structlog.testing import capture_logs

from devices.esl.bumble.ap import PawrAccessPoint
from devices.esl.bumble.controller import PawrController, RadioModel
from devices.esl.bumble.hardware import open_access_point
from devices.esl.bumble.link import IndexedLink
from devices.esl.bumble.tag import VirtualTag
from devices.esl.bumble.transport import open_hci
from devices.esl.codec import EslAddress, LedState
from devices.esl.fridge import Fridge
from devices.esl.led import LedColor, LedParams
from devices.esl.radio import Label
from devices.esl.tag_core import EslState
from edge import catalog
from edge.esl.config import EslSection
from edge.esl.radio.backend import Backend, pawr
from edge.esl.radio.onboarding import AddressBook, next_address
from edge.jobs import schemas
from edge.store import Store, Tx

pytestmark = [pytest.mark.looptime, pytest.mark.timeout(120)]
T = TypeVar("T")

#: Silicon Labs' layout shortened to 8 groups and a 300 ms interval (as test_ap.py), so virtual time stays short.
TRAIN = {"interval": 240, "num_subevents": 8, "subevent_interval": 30, "response_slot_delay": 10,
         "response_slot_spacing": 20, "num_response_slots": 8}
INTERVAL_S = 240 * 1.25e-3
SWEEP_S = 30.0
GREEN = LedColor(0, 3, 0)


def config(transports: int = 1, **pawr_settings: Any) -> EslSection:
    """`[esl]` on the hardware PAwR path: `transports` dongles (never opened: the test's controllers stand in)."""
    return EslSection.model_validate({
        "backend": "pawr", "operation_timeout_s": 10.0,
        "pawr": {"transports": [f"usb:{n}" for n in range(transports)], "train": TRAIN,
                 "onboarding_interval_s": SWEEP_S, **pawr_settings},
    })


@dataclass
class Floor:
    """The shop floor: one radio link with the labels on it, and the access points the daemon opened on it."""

    link: IndexedLink = field(default_factory=IndexedLink)
    tags: dict[str, VirtualTag] = field(default_factory=dict)
    aps: list[PawrAccessPoint] = field(default_factory=list)
    configures: list[str] = field(default_factory=list)  # labels the daemon configured (onboarded), in order

    def opener(self) -> Callable[..., Awaitable[PawrAccessPoint]]:
        """`open_access_point` with an emulated controller on this link in place of the dongle."""

        async def controller(_setting: str) -> Transport:
            """The emulating controller a dongle running NCS hci_uart would be."""
            return await open_hci("virtual", link=self.link,
                                  controller_factory=lambda link: PawrController("ap", link=link, empty_subevents=True))

        async def opened(*args: Any, **kwargs: Any) -> PawrAccessPoint:
            """Open it, and note every label it configures."""
            ap = await open_access_point(*args, open_transport=controller, **kwargs)
            configure = ap.configure

            async def counted(label: Label, cfg: Any) -> Any:
                """The AP's own configure, counted."""
                self.configures.append(label.ble_address)
                return await configure(label, cfg)

            ap.configure = counted  # type: ignore[method-assign]
            self.aps.append(ap)
            return ap

        return opened

    async def add_tags(self, count: int, *, prefix: str = "C4:00:00:00:05") -> list[VirtualTag]:
        """`count` new (unassociated, advertising) labels: plain ones and a fridge label every third."""
        made = []
        for n in range(count):
            address = f"{prefix}:{len(self.tags) + 1:02X}"
            fridge = Fridge(set_point_c=4.0, seed=n) if n % 3 == 2 else None
            tag = VirtualTag.create(self.link, address, "2.13-bwr" if fridge else "2.9-bwr", radio=RadioModel(), fridge=fridge)
            await tag.start()
            assert tag.advertising and tag.core.state is EslState.UNASSOCIATED
            self.tags[address] = tag
            made.append(tag)
        return made

    async def close(self) -> None:
        """Take every label off the air."""
        for tag in self.tags.values():
            await tag.close()


class ClockedStore(Store):
    """The daemon's store, its writes awaited through an executor: looptime's clock waits for executor work, not for
    the writer thread's futures, and would jump ahead to the next timer while a write commits."""

    def write(self, fn: Callable[[Tx], T], *, wait_for_space: bool = True) -> asyncio.Future[T]:
        """`write_sync` on a worker thread (never on the loop)."""
        return asyncio.get_running_loop().run_in_executor(None, self.write_sync, fn)


async def open_store(path: Path) -> Store:
    """The daemon's store (its migrations applied), opened off the loop."""
    return await asyncio.to_thread(ClockedStore, path, schemas={"catalog": catalog.STEPS, **schemas()})


@contextlib.asynccontextmanager
async def daemon(floor: Floor, path: Path, section: EslSection) -> AsyncIterator[Backend]:
    """One life of the daemon's radio: a store on `path`, the hardware PAwR backend started; stopped and closed after."""
    store = await open_store(path)
    backend = pawr(section, store, open_ap=floor.opener())
    try:
        await backend.start()
        yield backend
    finally:
        if backend.stop is not None:
            await backend.stop()
        await store.aclose()


def rows(path: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """Query the database file on a read-only connection of the test's own."""
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        return conn.execute(sql, params).fetchall()


def edit(path: Path, sql: str, *params: Any) -> None:
    """Change the database while no daemon runs (a damaged or hand-edited row)."""
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute(sql, params)
        conn.commit()


def registered(path: Path) -> dict[str, Label]:
    """The labels `esl_labels` holds, as the job's features read them (id, group, ESL ID)."""
    return {r[0]: Label(r[0], EslAddress(r[1], r[2])) for r in rows(path, "SELECT id, esl_group, esl_id FROM esl_labels")}


async def until(condition: Callable[[], bool], timeout: float, step: float = 0.1) -> float:
    """Wait on the loop clock until `condition()` holds; returns how long it took."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(step)
    return loop.time() - started


async def new_labels_swept(backend: Backend, floor: Floor, count: int) -> None:
    """`count` new labels advertise on the floor, then one onboarding sweep runs."""
    await floor.add_tags(count)
    assert backend.onboarding is not None
    await backend.onboarding.sweep()


async def light(backend: Backend, label: Label) -> float:
    """Flash LED 0 of a label through the backend's radio; how long the answer took."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await backend.radio.flash_led(label, 0, LedParams.flash(GREEN, seconds=30)) == LedState(0)
    return loop.time() - started


def no_key_in(logs: list[dict[str, Any]], path: Path) -> list[str]:
    """Log lines that carry any stored key (sync, response or bond), as hex in any case."""
    secrets = [r[0] for r in rows(path, "SELECT sync_key FROM esl_access_points")]
    secrets += [r[0] for r in rows(path, "SELECT response_key FROM esl_label_keys")]
    secrets += [k["value"] for r in rows(path, "SELECT keys FROM esl_ap_bonds") for k in json.loads(r[0]).values()
                if isinstance(k, dict) and "value" in k]
    text = json.dumps(logs, default=str).lower()
    return [s[:8] + "…" for s in secrets if s.lower() in text or s.lower()[:32] in text]


# -------------------------------------------------------------------------------------------------
def test_the_next_address_fills_the_least_loaded_group_from_the_lowest_free_id() -> None:
    assert next_address({}, 4) == EslAddress(0, 0)
    assert next_address({0: {0}}, 4) == EslAddress(1, 0)
    assert next_address({0: {0}, 1: {0}, 2: {0}, 3: {0}}, 4) == EslAddress(0, 1)
    assert next_address({0: {0, 2}, 1: {0, 1}, 2: {0, 1}, 3: {0, 1}}, 4) == EslAddress(0, 1)  # a freed id is used again
    full = set(range(255))
    assert next_address({0: full, 1: {0}}, 2) == EslAddress(1, 1)  # never 0xFF: a full group is skipped
    assert next_address({0: full, 1: full}, 2) is None
    assert next_address({}, 128) == EslAddress(0, 0) and EslAddress(127, 254).value < 0x8000  # the top bit stays clear


async def test_a_fresh_store_onboards_advertising_labels_and_they_light_through_the_train(tmp_path: Path) -> None:
    floor, path = Floor(), tmp_path / "store.db"
    async with asyncio.timeout(3600):
        with capture_logs() as logs:
            async with daemon(floor, path, config(transports=2)) as backend:
                assert backend.labels == [] and backend.onboarding is not None
                tags = await floor.add_tags(6)
                await backend.onboarding.sweep()
                assert sorted(floor.configures) == sorted(floor.tags)
                labels = registered(path)
                assert set(labels) == set(floor.tags)
                assert [ap.label_count for ap in floor.aps] == [3, 3]  # the AP with fewest labels, in turn
                for tag in tags:
                    assert tag.core.state is EslState.SYNCHRONIZED and not tag.advertising
                    assert tag.core.esl_address == labels[tag.core.address].esl
                for ap in floor.aps:  # on each train, groups 0, 1, 2: the least-loaded group first
                    assert sorted(label.esl for label in labels.values() if ap.serves(label)) == \
                        [EslAddress(0, 0), EslAddress(1, 0), EslAddress(2, 0)]
                keyed = {r[0]: r[1:] for r in rows(path, "SELECT id, response_key, state, ap FROM esl_label_keys")}
                for address, tag in floor.tags.items():
                    assert keyed[address][:2] == (tag.core.response_key.hex(), "onboarded")
                sync_keys = dict(rows(path, "SELECT id, sync_key FROM esl_access_points ORDER BY position"))
                assert all(floor.tags[a].core.ap_sync_key.hex() == sync_keys[k[2]] for a, k in keyed.items())
                fridge = rows(path, "SELECT temp_sensor, volt_sensor, leds, width FROM esl_labels WHERE id = ?", tags[2].core.address)
                assert fridge == [(0, 1, 1, 250)]  # what onboarding read: the cold chain finds its temperature sensor
                for label in labels.values():  # as pick lights reach them: through the train, within an interval
                    assert await light(backend, label) <= 1.5 * INTERVAL_S
                    assert not floor.tags[label.ble_address].device.connections
                assert backend.onboarding.snapshot.reply() | {"last_sweep": None} == {
                    "mode": "auto", "onboarded": 6, "pending": 0, "failed": 0, "last_sweep": None, "failures": []}
                await backend.onboarding.sweep()
                assert len(floor.configures) == 6  # served labels do not advertise: nothing to onboard
        assert no_key_in(logs, path) == []
        await floor.close()


async def test_a_restart_serves_the_stored_labels_with_their_keys_without_onboarding_them_again(tmp_path: Path) -> None:
    floor, path, section = Floor(), tmp_path / "store.db", config()
    async with asyncio.timeout(3600):
        async with daemon(floor, path, section) as backend:
            await new_labels_swept(backend, floor, 4)
            assert len(floor.configures) == 4
            held = {a: (t.core.esl_address, t.core.response_key, t.core.ap_sync_key) for a, t in floor.tags.items()}
            address = floor.aps[0].train.device.random_address
            bonds = {peer: keys.ltk.value for peer, keys in await floor.aps[0].central.device.keystore.get_all()}
            assert set(bonds) == set(floor.tags)
        floor.configures.clear()

        with capture_logs() as logs:
            async with daemon(floor, path, section) as backend:  # a new process: new objects, the same SQLite file
                assert backend.onboarding is not None and floor.aps[-1].label_count == 4
                assert floor.aps[-1].train.device.random_address == address
                assert {label.id for label in backend.labels} == set(floor.tags)
                sweeps = asyncio.create_task(backend.onboarding.run())
                try:
                    # The old train is gone: each label loses it after its 20 s sync timeout and advertises;
                    # the next sweep hears it, finds it silent on the new train, and its AP hands the train over.
                    await until(lambda: all(t.advertising for t in floor.tags.values()), 60)
                    back = await until(lambda: all(t.core.state is EslState.SYNCHRONIZED and not t.advertising
                                                   for t in floor.tags.values()), 4 * SWEEP_S)
                    for label in registered(path).values():
                        assert await light(backend, label) <= 1.5 * INTERVAL_S
                finally:
                    sweeps.cancel()
                    await asyncio.gather(sweeps, return_exceptions=True)
                assert floor.configures == []  # not onboarded again
                assert {a: (t.core.esl_address, t.core.response_key, t.core.ap_sync_key) for a, t in floor.tags.items()} == held
                keystore = floor.aps[-1].central.device.keystore
                assert {peer: keys.ltk.value for peer, keys in await keystore.get_all()} == bonds  # encrypted, not paired again
        assert back <= 2 * SWEEP_S
        assert no_key_in(logs, path) == []
        await floor.close()


async def test_a_label_that_fails_onboarding_is_tried_again_with_back_off(tmp_path: Path) -> None:
    floor, path = Floor(), tmp_path / "store.db"
    async with asyncio.timeout(3600):
        async with daemon(floor, path, config()) as backend:
            good, bad = await floor.add_tags(2)
            bad.core.connect_failure_rate = 1.0  # every connection drops as soon as it is made
            onboarding = backend.onboarding
            assert onboarding is not None
            with capture_logs() as logs:
                await onboarding.sweep()
            assert good.core.state is EslState.SYNCHRONIZED  # one label failing does not hold up the others
            failed = [e for e in logs if e["event"] == "esl.onboarding.failed"]
            assert [(e["label"], e["attempts"], e["log_level"]) for e in failed] == [(bad.core.address, 1, "warning")]
            assert failed[0]["error"].startswith("LabelUnreachable")
            reply = onboarding.snapshot.reply()
            assert (reply["onboarded"], reply["pending"], reply["failed"]) == (1, 0, 1)
            assert reply["failures"][0]["label"] == bad.core.address and reply["failures"][0]["attempts"] == 1
            reserved = rows(path, "SELECT esl_group, esl_id, state FROM esl_label_keys WHERE id = ?", bad.core.address)
            assert reserved == [(1, 0, "onboarding")]  # its address is kept for it

            tries = floor.configures.count(bad.core.address)
            await onboarding.sweep()  # too soon: backing off
            assert floor.configures.count(bad.core.address) == tries
            await asyncio.sleep(SWEEP_S)
            with capture_logs() as logs:
                await onboarding.sweep()
            assert floor.configures.count(bad.core.address) == tries + 1
            assert [(e["attempts"], e["log_level"]) for e in logs if e["event"] == "esl.onboarding.failed"] == [(2, "info")]

            bad.core.connect_failure_rate = 0.0  # the label was only badly placed
            sweeps = asyncio.create_task(onboarding.run())
            try:
                await until(lambda: bad.core.state is EslState.SYNCHRONIZED, 30 * 60)
            finally:
                sweeps.cancel()
                await asyncio.gather(sweeps, return_exceptions=True)
            assert registered(path)[bad.core.address].esl == EslAddress(1, 0)  # at the address reserved for it
            assert onboarding.snapshot.reply()["failed"] == 0 and onboarding.snapshot.reply()["onboarded"] == 2
            assert await light(backend, registered(path)[bad.core.address]) <= 1.5 * INTERVAL_S
        await floor.close()


@pytest.mark.parametrize("damage", ["response_key", "info", "missing"])
async def test_a_damaged_or_missing_key_row_is_logged_and_that_label_onboarded_again(tmp_path: Path, damage: str) -> None:
    floor, path, section = Floor(), tmp_path / "store.db", config()
    async with asyncio.timeout(3600):
        async with daemon(floor, path, section) as backend:
            await new_labels_swept(backend, floor, 3)
        victim = min(floor.tags)
        before = registered(path)
        if damage == "missing":
            edit(path, "DELETE FROM esl_label_keys WHERE id = ?", victim)
        else:
            edit(path, f"UPDATE esl_label_keys SET {damage} = ? WHERE id = ?", "zz" * 24, victim)
        floor.configures.clear()

        with capture_logs() as logs:
            async with daemon(floor, path, section) as backend:
                assert backend.onboarding is not None and floor.aps[-1].label_count == 2
                sweeps = asyncio.create_task(backend.onboarding.run())
                try:
                    await until(lambda: all(t.core.state is EslState.SYNCHRONIZED and not t.advertising
                                            for t in floor.tags.values())
                                and backend.onboarding.snapshot.onboarded == 3, 4 * SWEEP_S)
                finally:
                    sweeps.cancel()
                    await asyncio.gather(sweeps, return_exceptions=True)
                assert floor.configures == [victim]  # only the label whose keys were lost is onboarded again
                after = registered(path)
                if damage != "missing":  # its address still read: kept for it, nobody else got it
                    assert after[victim].esl == before[victim].esl
                assert len({(floor.aps[-1].serves(label), label.esl) for label in after.values()}) == 3
                for label in after.values():
                    assert await light(backend, label) <= 1.5 * INTERVAL_S
        damaged = [e for e in logs if e["event"] == "esl.keys.damaged"]
        if damage == "missing":
            assert damaged == []
        else:
            assert [(e["label"], e["log_level"]) for e in damaged] == [(victim, "error")]
            assert damage in damaged[0]["problem"] and "zz" not in json.dumps(damaged)
        assert no_key_in(logs, path) == []
        await floor.close()


async def test_a_damaged_access_point_key_gets_a_new_one_and_its_labels_are_onboarded_again(tmp_path: Path) -> None:
    floor, path, section = Floor(), tmp_path / "store.db", config()
    async with asyncio.timeout(3600):
        async with daemon(floor, path, section) as backend:
            await new_labels_swept(backend, floor, 2)
        edit(path, "UPDATE esl_access_points SET sync_key = 'short'")
        floor.configures.clear()
        with capture_logs() as logs:
            async with daemon(floor, path, section) as backend:
                assert backend.onboarding is not None and floor.aps[-1].label_count == 0
                sweeps = asyncio.create_task(backend.onboarding.run())
                try:
                    await until(lambda: backend.onboarding.snapshot.onboarded == 2, 4 * SWEEP_S)
                finally:
                    sweeps.cancel()
                    await asyncio.gather(sweeps, return_exceptions=True)
                assert sorted(floor.configures) == sorted(floor.tags)
                new_key = rows(path, "SELECT sync_key FROM esl_access_points")[0][0]
                assert all(t.core.ap_sync_key.hex() == new_key for t in floor.tags.values())
                for label in registered(path).values():
                    assert await light(backend, label) <= 1.5 * INTERVAL_S
        assert [e["log_level"] for e in logs if e["event"] == "esl.keys.ap_damaged"] == ["error"]
        assert no_key_in(logs, path) == []
        await floor.close()


async def test_with_onboarding_off_new_labels_are_only_counted(tmp_path: Path) -> None:
    floor, path = Floor(), tmp_path / "store.db"
    async with asyncio.timeout(3600):
        async with daemon(floor, path, config(onboarding="off")) as backend:
            await new_labels_swept(backend, floor, 2)
            assert floor.configures == [] and all(t.advertising for t in floor.tags.values())
            assert backend.onboarding.snapshot.reply()["pending"] == 2 and registered(path) == {}
        await floor.close()


def test_a_new_label_goes_to_the_least_loaded_of_the_access_points_that_heard_it() -> None:
    book = AddressBook()
    near, far = 1, 2  # AP row ids; 8 subevents each
    for group in range(3):
        book.take(f"C4:00:00:00:08:0{group}", near, EslAddress(group, 0))
    assert book.allocate("C4:00:00:00:09:01", [(near, 8)]) == (near, EslAddress(3, 0))  # not the emptier AP it cannot reach
    assert book.allocate("C4:00:00:00:09:02", [(near, 8), (far, 8)]) == (far, EslAddress(0, 0))
    assert book.allocate("C4:00:00:00:09:02", [(near, 8), (far, 8)]) == (far, EslAddress(0, 0))  # its reservation, again
    assert book.allocate("C4:00:00:00:09:02", [(near, 8)]) == (near, EslAddress(4, 0))  # moved: far no longer hears it
    assert book.load(far) == 0 and book.load(near) == 5
    assert book.allocate("C4:00:00:00:09:03", [(far, 8), (near, 8)]) == (far, EslAddress(0, 0))  # the freed address
    book.take("C4:00:00:00:09:04", far, EslAddress(7, 3))
    assert book.allocate("C4:00:00:00:09:04", [(far, 4)]) == (far, EslAddress(1, 0))  # its group left the train: a new one
