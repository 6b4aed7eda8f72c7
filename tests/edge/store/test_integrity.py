"""A store's database is never silently started afresh: identity and floors beside it, refusals, restore and reinitialise (issue 11, item 7).

The first release made a brand-new store of a 0-byte or missing database (catalogue gone, seq
back at 1, old commands answered again), served a file damaged mid-way, and died with a
traceback in a restart loop on a damaged header.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

from edge.demo.hq import unique_in_order
from edge.store import Store
from edge.store.errors import StoreRefused
from edge.store.identity import SEQ_BLOCK, read_state, state_path
from tests.conftest import wait_online
from tests.edge.sync.test_delivery import daemon_dir
from tests.helpers.daemon import REPO

PRODUCT = {"sku": "6901234567892", "name": "Apples", "price": "12.80", "unit": "kg", "sale_mode": "weight"}


def _run_once(config: Path) -> subprocess.CompletedProcess[str]:
    """`store-edge run` as systemd starts it, expected to stop at once with one line."""
    return subprocess.run([sys.executable, "-m", "edge.cli", "run", "--config", str(config)], cwd=REPO,
                          capture_output=True, text=True, timeout=60)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    """Another `store-edge` command."""
    return subprocess.run([sys.executable, "-m", "edge.cli", *args], cwd=REPO, capture_output=True, text=True, timeout=60)


def _assert_refused(done: subprocess.CompletedProcess[str], db: Path, *words: str) -> None:
    """Exit status 2 (RestartPreventExitStatus=2 in the unit), one line naming the file and the recovery commands, no traceback."""
    assert done.returncode == 2, (done.returncode, done.stdout[-2000:], done.stderr[-2000:])
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("store-edge: cannot start: ") and str(db) in lines[0], lines[0]
    assert "Traceback" not in done.stderr + done.stdout
    for word in words:
        assert word in lines[0], lines[0]


def _online_after(hq, birth: int) -> dict:
    """The first `online` status with a birth above `birth`."""
    return hq.wait(lambda _: [s for s in hq.statuses() if s["state"] == "online" and s["birth"] > birth])[0]


def _served_store(daemon_factory, hq_factory, broker, events: int = 5):
    """A daemon that ran: a product, `events` link.test events delivered; stopped cleanly. Returns (daemon, db, last seq, birth)."""
    daemon = daemon_factory(broker.url).start()
    hq = hq_factory(broker.port)
    birth = wait_online(hq)["birth"]
    assert hq.request("product.upsert", {"items": [PRODUCT]})["ok"]
    assert hq.request("link.test", {"count": events}, request_id="cmd-before")["ok"]
    got = hq.wait(lambda _: len(unique_in_order(hq.events("link.test"))) >= events and unique_in_order(hq.events("link.test")))
    daemon.terminate()
    db = daemon_dir(daemon) / "store-edge.db"
    return daemon, db, max(e["seq"] for e in got), birth, hq


def test_a_zero_byte_database_is_refused_and_reinitialise_continues_seq(broker, daemon_factory, hq_factory):
    daemon, db, last_seq, birth, hq = _served_store(daemon_factory, hq_factory, broker)
    db.write_bytes(b"")  # what a full disk, a bad restore or a careless `>` leaves behind
    _assert_refused(_run_once(daemon.config), db, "empty (0 bytes)", "store s1's database", "store-edge restore", "store-edge reinitialise")
    assert db.stat().st_size == 0  # not made into a new store

    refused = _cli("reinitialise", "--config", str(daemon.config))
    assert refused.returncode == 2 and "--yes-lose-local-state" in refused.stderr
    done = _cli("reinitialise", "--config", str(daemon.config), "--yes-lose-local-state")
    assert done.returncode == 0, done.stderr
    assert "reinitialised" in done.stdout and "before-reinitialise" in done.stdout

    daemon.start()
    _online_after(hq, birth)  # births continue too
    notice = hq.wait(lambda _: hq.events("store.reinitialised"))[0]
    assert notice["seq"] > last_seq  # before: seq restarted at 1
    assert hq.request("link.test", {"count": 2}, request_id="cmd-before")["ok"]  # the inbox is gone: a new command
    after = hq.wait(lambda _: len(unique_in_order(hq.events("link.test"))) >= 7 and unique_in_order(hq.events("link.test")))
    assert [e["seq"] for e in after[5:]] == [notice["seq"] + 1, notice["seq"] + 2]
    daemon.terminate()


def test_a_missing_database_with_its_state_file_is_refused(broker, daemon_factory, hq_factory):
    daemon, db, _, _, _ = _served_store(daemon_factory, hq_factory, broker)
    db.unlink()
    _assert_refused(_run_once(daemon.config), db, "is missing", "store-edge restore")
    assert not db.exists()


def test_header_damage_is_one_line_and_exit_status_2(broker, daemon_factory, hq_factory):
    daemon, db, _, _, _ = _served_store(daemon_factory, hq_factory, broker)
    with open(db, "r+b") as f:
        f.write(os.urandom(100))
    _assert_refused(_run_once(daemon.config), db, "damaged", "store-edge restore")


def test_damage_in_the_middle_is_found_at_start(broker, daemon_factory, hq_factory):
    daemon, db, _, _, _ = _served_store(daemon_factory, hq_factory, broker, events=400)
    with closing(sqlite3.connect(db)) as conn:
        page = conn.execute("PRAGMA page_size").fetchone()[0]
    pages = db.stat().st_size // page
    with open(db, "r+b") as f:  # a run of pages in the middle of the file
        f.seek(page * (pages // 2))
        f.write(os.urandom(page * 3))
    _assert_refused(_run_once(daemon.config), db, "damaged", "store-edge restore")


def test_another_stores_database_is_refused(broker, daemon_factory, hq_factory, tmp_path):
    daemon, db, _, _, _ = _served_store(daemon_factory, hq_factory, broker)
    other = daemon.config.with_name("other.toml")
    other.write_text(daemon.config.read_text().replace('id = "s1"', 'id = "s2"'))
    _assert_refused(_run_once(other), db, "store s1's database", "configuration says store s2")


def test_restore_from_a_backup_keeps_seqs_above_everything_sent(broker, daemon_factory, hq_factory, tmp_path):
    daemon, db, _, birth, hq = _served_store(daemon_factory, hq_factory, broker)
    backup = tmp_path / "backup.db"
    with closing(sqlite3.connect(db)) as live, closing(sqlite3.connect(backup)) as copy:
        live.backup(copy)
    daemon.start()
    birth = _online_after(hq, birth)["birth"]
    assert hq.request("link.test", {"count": 30})["ok"]  # after the backup: seqs the backup does not know
    sent = hq.wait(lambda _: len(unique_in_order(hq.events("link.test"))) >= 35 and unique_in_order(hq.events("link.test")))
    assert _cli("restore", "--config", str(daemon.config), "--from", str(backup)).returncode == 2  # the daemon still has it open
    daemon.terminate()
    with open(db, "r+b") as f:
        f.write(b"\0" * 100)

    done = _cli("restore", "--config", str(daemon.config), "--from", str(backup))
    assert done.returncode == 0, done.stderr
    daemon.start()
    notice = hq.wait(lambda _: hq.events("store.restored"))[0]
    assert notice["seq"] > max(e["seq"] for e in sent)
    assert hq.request("product.upsert", {"items": [{**PRODUCT, "price": "9.90"}]})["result"]  # the catalogue of the backup is there
    _online_after(hq, birth)
    daemon.terminate()
    assert list(db.parent.glob("store-edge.db.before-restore-*"))


def test_a_store_from_before_the_state_file_is_adopted(tmp_path):
    path = tmp_path / "s.db"
    Store(path, store_id="s1").close()
    state_path(path).unlink()  # as a database made by the first release
    store = Store(path, store_id="s1")
    seq = store.write_sync(lambda tx: tx.emit("x", {}))
    store.close()
    state = read_state(path)
    assert state is not None and state.store_id == "s1" and state.seq_floor > seq


def test_the_seq_floor_is_written_a_block_at_a_time(tmp_path):
    path = tmp_path / "s.db"
    store = Store(path)
    floors = set()
    for _ in range(5):
        store.write_sync(lambda tx: [tx.emit("x", {}) for _ in range(SEQ_BLOCK // 2)])
        floors.add(read_state(path).seq_floor)
    store.close()
    high = 5 * (SEQ_BLOCK // 2)
    assert all(floor > 0 and floor % SEQ_BLOCK == 0 for floor in floors)
    assert max(floors) > high and len(floors) <= 4  # raised a block ahead, not on every write


def test_an_old_copy_put_in_place_by_hand_is_refused(tmp_path):
    path = tmp_path / "s.db"
    store = Store(path)
    store.write_sync(lambda tx: tx.emit("x", {}))
    store.close()
    old = tmp_path / "old.db"
    with closing(sqlite3.connect(path)) as live, closing(sqlite3.connect(old)) as copy:
        live.backup(copy)
    store = Store(path)
    for _ in range(12):
        store.write_sync(lambda tx: [tx.emit("x", {}) for _ in range(SEQ_BLOCK)])
    store.close()
    os.replace(old, path)
    with pytest.raises(StoreRefused, match="older copy"):
        Store(path)
