"""artifact.install / artifact.chunk through the real dispatcher and store: signatures, chunks, hashes, resume (no broker)."""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from edge.artifacts.commands import Rollout
from edge.artifacts.kinds import ArtifactKind, CheckResult
from edge.config import parse_config
from edge.store import Store
from edge.sync.commands import CommandRegistry, Dispatcher
from tests.edge.artifacts.hq_side import CHUNK, Signer, chunks

FILES = {"a.bin": os.urandom(2 * CHUNK + 1000), "b.bin": b"small file"}


def _kind() -> ArtifactKind:
    """A kind whose self-check passes unless its file says `bad`."""
    def check(candidate: Path, current: Path | None) -> CheckResult:
        """Fail on a b.bin saying bad."""
        bad = (candidate / "b.bin").read_bytes() == b"bad"
        return CheckResult(not bad, ["b.bin says bad"] if bad else [], {"current": current.name if current else None})
    return ArtifactKind("blob", ("a.bin", "b.bin"), check, job="test")


class Harness:
    """A store with the artifact commands, a dispatcher to send them through, and the events it emitted."""

    def __init__(self, tmp: Path, keys: list[Path]) -> None:
        self.tmp = tmp
        config = parse_config({"store": {"id": "s1"}, "data": {"dir": str(tmp / "data")},
                               "artifacts": {"public_keys": [str(k) for k in keys], "reserve_bytes": 0}}, jobs=[])
        self.restarts = 0
        self.rollout = Rollout(config, {"blob": _kind()}, self._restart)
        self.registry = CommandRegistry()
        self.rollout.register(self.registry)

    def _restart(self) -> None:
        """Count the controlled restarts asked for."""
        self.restarts += 1

    async def open(self) -> Harness:
        """Open the store off the loop."""
        (self.tmp / "data").mkdir(exist_ok=True)
        self.store = await asyncio.to_thread(Store, self.tmp / "data" / "s.db")
        self.dispatcher = Dispatcher(self.registry, self.store)
        return self

    async def send(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        """One request with a fresh id, as the link would hand it over."""
        payload = await asyncio.to_thread(lambda: json.dumps({"id": uuid.uuid4().hex[:12], **body}).encode())
        return await self.dispatcher.handle(name, payload)

    async def events(self, kind: str) -> list[dict[str, Any]]:
        """The data of every queued event of one kind."""
        rows = await self.store.read(lambda db: db.execute("SELECT kind, data FROM outbox ORDER BY seq").fetchall())
        return [json.loads(d) for k, d in rows if k == kind]

    def versions(self) -> list[str]:
        """The version folders under artifacts/blob/."""
        base = self.tmp / "data" / "artifacts" / "blob"
        return sorted(p.name for p in base.iterdir() if p.is_dir()) if base.exists() else []


@pytest.fixture
def signer() -> Signer:
    """Headquarters' key for this test."""
    return Signer()


async def _store(tmp_path: Path, signer: Signer) -> Harness:
    """A store trusting `signer`'s public key."""
    return await Harness(tmp_path, [signer.public_pem(tmp_path / "hq.pub")]).open()


async def test_only_a_manifest_signed_by_a_configured_key_opens_an_install(tmp_path: Path, signer: Signer) -> None:
    s = await _store(tmp_path, signer)
    good = signer.install("blob", "v1", FILES)
    other = Signer().install("blob", "v1", FILES)
    refused = await s.send("artifact.install", other)
    assert refused["error"] == {"code": "invalid_argument", "message": "signature: does not verify with any configured headquarters key"}
    tampered = {**good, "files": [{**good["files"][0], "size": good["files"][0]["size"] + 1}, good["files"][1]]}
    assert (await s.send("artifact.install", tampered))["error"]["message"].startswith("signature: does not verify")
    garbage = {**good, "signature": "not base64!"}
    assert (await s.send("artifact.install", garbage))["error"]["message"] == "signature: not base64"
    assert not (tmp_path / "data" / "artifacts").exists()  # nothing staged for a refused manifest
    opened = await s.send("artifact.install", good)
    assert opened["ok"], opened
    assert opened["result"] == {"kind": "blob", "version": "v1", "state": "staging", "chunk_size": CHUNK,
                                "missing": {"a.bin": [0, 1, 2], "b.bin": [0]}}
    again = await s.send("artifact.install", good)  # the same manifest again: a resume, not an error
    assert again["result"]["state"] == "staging" and again["result"]["missing"] == opened["result"]["missing"]
    assert len(await s.events("artifact.installing")) == 1
    wrong_files = signer.install("blob", "v2", {"a.bin": b"x"})
    assert "needs a.bin, b.bin (missing b.bin)" in (await s.send("artifact.install", wrong_files))["error"]["message"]
    unknown = signer.install("camera-firmware", "v1", FILES)
    assert "is not a kind this store runs; kinds: blob" in (await s.send("artifact.install", unknown))["error"]["message"]
    other_files = signer.install("blob", "v1", {**FILES, "b.bin": b"other"})
    assert (await s.send("artifact.install", other_files))["error"]["code"] == "conflict"
    await s.store.aclose()


async def test_without_a_public_key_nothing_is_accepted(tmp_path: Path, signer: Signer) -> None:
    s = await Harness(tmp_path, []).open()
    refused = await s.send("artifact.install", signer.install("blob", "v1", FILES))
    assert refused["error"]["code"] == "invalid_argument" and "unsigned artifacts are never accepted" in refused["error"]["message"]
    await s.store.aclose()


async def test_chunks_replays_bad_chunks_and_the_install(tmp_path: Path, signer: Signer) -> None:
    s = await _store(tmp_path, signer)
    await s.send("artifact.install", signer.install("blob", "v1", FILES))
    parts = list(chunks("blob", "v1", FILES))
    first = await s.send("artifact.chunk", parts[0])
    assert first["result"] == {"kind": "blob", "version": "v1", "file": "a.bin", "index": 0, "duplicate": False,
                               "state": "staging", "missing": 3, "problems": []}
    replay = await s.send("artifact.chunk", parts[0])  # the same bytes again (a new request id): acknowledged, nothing written
    assert replay["ok"] and replay["result"]["duplicate"] is True and replay["result"]["missing"] == 3
    changed = {**parts[0], "data": parts[1]["data"]}
    conflict = await s.send("artifact.chunk", changed)
    assert conflict["error"]["code"] == "conflict" and "stored with other bytes" in conflict["error"]["message"]
    beyond = await s.send("artifact.chunk", {**parts[0], "index": 3})
    assert beyond["error"] == {"code": "invalid_argument", "message": "index: a.bin has chunks 0-2, not 3"}
    short = await s.send("artifact.chunk", {**parts[1], "data": parts[3]["data"]})
    assert short["error"]["message"] == f"data: chunk 1 of a.bin must be {CHUNK} bytes, got 10"
    oversize = await s.send("artifact.chunk", {**parts[1], "data": "QUFB" * (CHUNK // 3 + 2)})
    assert oversize["error"]["code"] == "invalid_argument" and oversize["error"]["message"].startswith("data:")
    not_b64 = await s.send("artifact.chunk", {**parts[1], "data": "%%%%"})
    assert not_b64["error"]["message"] == "data: not base64"
    nowhere = await s.send("artifact.chunk", {**parts[1], "version": "v9"})
    assert nowhere["error"] == {"code": "not_found", "message": "blob v9: no install in progress; send artifact.install first"}
    unknown_file = await s.send("artifact.chunk", {**parts[1], "file": "c.bin"})
    assert unknown_file["error"]["code"] == "invalid_argument" and "'c.bin' is not in the manifest" in unknown_file["error"]["message"]
    missing = await s.send("artifact.activate", {"kind": "blob", "version": "v1"})
    assert missing["error"] == {"code": "not_found", "message": "blob v1 is not installed: 3 chunks are still missing"}
    assert s.versions() == []
    for part in parts[1:]:
        last = await s.send("artifact.chunk", part)
    assert last["result"]["state"] == "installed" and last["result"]["missing"] == 0
    assert await s.events("artifact.installed") == [{"kind": "blob", "version": "v1"}]
    folder = tmp_path / "data" / "artifacts" / "blob" / "v1"
    assert sorted(p.name for p in folder.iterdir()) == ["a.bin", "b.bin", "manifest.json"]
    assert (folder / "a.bin").read_bytes() == FILES["a.bin"]
    assert not list((tmp_path / "data" / "artifacts" / ".staging" / "blob").iterdir())
    late = await s.send("artifact.chunk", parts[0])  # a chunk after the install: harmless
    assert late["ok"] and late["result"]["state"] == "installed"
    await s.store.aclose()


async def test_a_file_with_a_wrong_hash_is_discarded_and_sent_again(tmp_path: Path, signer: Signer) -> None:
    s = await _store(tmp_path, signer)
    await s.send("artifact.install", signer.install("blob", "v1", FILES))
    wrong = {**FILES, "b.bin": b"SMALL FILE"}  # the right size, other bytes
    for part in chunks("blob", "v1", wrong):
        last = await s.send("artifact.chunk", part)
    assert last["ok"] and last["result"]["state"] == "staging" and last["result"]["missing"] == 1
    assert last["result"]["problems"][0].startswith("b.bin: SHA-256 ")
    failed = await s.events("artifact.failed")
    assert failed[0]["reason"] == "hash_mismatch" and failed[0]["problems"][0].startswith("b.bin:")
    assert s.versions() == []  # never installed broken
    reopened = await s.send("artifact.install", signer.install("blob", "v1", FILES))
    assert reopened["result"]["missing"] == {"b.bin": [0]}  # only the bad file's chunks are asked for again
    fixed = await s.send("artifact.chunk", next(chunks("blob", "v1", FILES, {"b.bin": [0]})))
    assert fixed["result"]["state"] == "installed" and s.versions() == ["v1"]
    await s.store.aclose()


async def test_an_install_resumes_after_a_restart_with_only_the_missing_chunks(tmp_path: Path, signer: Signer) -> None:
    s = await _store(tmp_path, signer)
    manifest = signer.install("blob", "v1", FILES)
    await s.send("artifact.install", manifest)
    parts = list(chunks("blob", "v1", FILES))
    await s.send("artifact.chunk", parts[0])
    await s.send("artifact.chunk", parts[2])
    have = tmp_path / "data" / "artifacts" / ".staging" / "blob" / "v1" / "a.bin.have"
    await asyncio.to_thread(lambda: have.write_bytes(have.read_bytes() + b"1:abc"))  # a record torn by a crash: chunk 1 still missing
    await s.store.aclose()
    s = await _store(tmp_path, signer)  # a new daemon, same data folder
    resumed = await s.send("artifact.install", manifest)
    assert resumed["result"]["missing"] == {"a.bin": [1], "b.bin": [0]}
    listing = await s.send("artifact.list", {})
    assert listing["result"]["kinds"]["blob"]["installing"] == [{"version": "v1", "bytes": sum(map(len, FILES.values())),
                                                                 "missing_chunks": 2}]
    for part in chunks("blob", "v1", FILES, resumed["result"]["missing"]):
        last = await s.send("artifact.chunk", part)
    assert last["result"]["state"] == "installed"
    assert (tmp_path / "data" / "artifacts" / "blob" / "v1" / "a.bin").read_bytes() == FILES["a.bin"]
    await s.store.aclose()


async def test_activate_checks_switches_lists_and_rolls_back(tmp_path: Path, signer: Signer) -> None:
    s = await _store(tmp_path, signer)
    for version, files in (("v1", FILES), ("v2", {**FILES, "b.bin": b"bad"}), ("v3", FILES)):
        await s.send("artifact.install", signer.install("blob", version, files))
        for part in chunks("blob", version, files):
            await s.send("artifact.chunk", part)
    on = await s.send("artifact.activate", {"kind": "blob", "version": "v1"})
    assert on["result"]["activated"] is True and on["result"]["apply"] == "restart" and s.restarts == 1
    assert on["result"]["check"] == {"passed": True, "reasons": [], "current": None}
    bad = await s.send("artifact.activate", {"kind": "blob", "version": "v2"})
    assert bad["ok"] and bad["result"]["activated"] is False and bad["result"]["check"]["reasons"] == ["b.bin says bad"]
    assert (await s.events("artifact.check_failed"))[0]["version"] == "v2" and s.restarts == 1
    pointer = json.loads((tmp_path / "data" / "artifacts" / "blob" / "active.json").read_text())
    assert pointer == {"version": "v1", "previous": None, "confirmed": False}  # the running version untouched
    assert s.rollout.confirm() == ["blob"]  # the restart with v1 worked
    on3 = await s.send("artifact.activate", {"kind": "blob", "version": "v3"})
    assert on3["result"]["check"]["current"] == "v1" and on3["result"]["previous"] == "v1"
    listing = (await s.send("artifact.list", {"kind": "blob"}))["result"]["kinds"]["blob"]
    assert (listing["active"], listing["previous"], [v["version"] for v in listing["versions"]]) == ("v3", "v1", ["v1", "v2", "v3"])
    back = await s.send("artifact.rollback", {"kind": "blob"})
    assert back["result"]["to_version"] == "v1" and (await s.events("artifact.rolled_back"))[0]["reason"] == "requested"
    assert json.loads((tmp_path / "data" / "artifacts" / "blob" / "active.json").read_text())["version"] == "v1"
    await s.store.aclose()


async def test_a_rollback_to_the_shipped_files_is_confirmed_by_the_next_start(tmp_path: Path, signer: Signer) -> None:
    s = await _store(tmp_path, signer)
    await s.send("artifact.install", signer.install("blob", "v1", FILES))
    for part in chunks("blob", "v1", FILES):
        await s.send("artifact.chunk", part)
    assert (await s.send("artifact.activate", {"kind": "blob", "version": "v1"}))["result"]["activated"]
    assert s.rollout.confirm() == ["blob"]
    shipped = await s.send("artifact.rollback", {"kind": "blob"})  # v1 had no previous: back to the job's shipped files
    assert shipped["ok"] and shipped["result"]["to_version"] is None, shipped
    assert s.rollout.confirm() == ["blob"]  # the start with the shipped files confirms that pointer (bench_artifacts.py found it stuck)
    listing = (await s.send("artifact.list", {"kind": "blob"}))["result"]["kinds"]["blob"]
    assert (listing["active"], listing["previous"], listing["confirmed"]) == (None, "v1", True)
    await s.store.aclose()


async def test_a_stop_after_the_last_chunk_but_before_the_install_finished_is_finished_by_the_resume(
    tmp_path: Path, signer: Signer, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from edge.artifacts import staging

    s = await _store(tmp_path, signer)
    manifest = signer.install("blob", "v1", FILES)
    await s.send("artifact.install", manifest)
    finish = staging.finish

    def stopped(root: Path, folder: Path, m: Any) -> staging.Finished:
        """The daemon stops right after the last chunk is durable (as kill -9 would)."""
        raise OSError("killed")

    monkeypatch.setattr(staging, "finish", stopped)
    for part in chunks("blob", "v1", FILES):
        last = await s.send("artifact.chunk", part)
    assert last["error"]["code"] == "internal" and s.versions() == []
    monkeypatch.setattr(staging, "finish", finish)
    await s.store.aclose()
    s = await _store(tmp_path, signer)
    resumed = await s.send("artifact.install", manifest)  # nothing is missing: the resume does the last step
    assert resumed["result"]["state"] == "installed" and resumed["result"]["missing"] == {}
    assert s.versions() == ["v1"] and await s.events("artifact.installed") == [{"kind": "blob", "version": "v1"}]
    await s.store.aclose()


async def test_installs_in_progress_are_bounded_and_stale_ones_dropped_at_start(tmp_path: Path, signer: Signer) -> None:
    s = await _store(tmp_path, signer)
    for n in range(4):
        assert (await s.send("artifact.install", signer.install("blob", f"v{n}", FILES)))["ok"]
    refused = await s.send("artifact.install", signer.install("blob", "v9", FILES))
    assert refused["error"]["code"] == "busy" and refused["error"]["message"].startswith(
        "4 installs are in progress (blob v0, blob v1, blob v2, blob v3): finish one first")
    old = tmp_path / "data" / "artifacts" / ".staging" / "blob" / "v0"
    week = time.time() - 8 * 86400
    await asyncio.to_thread(lambda: [os.utime(p, (week, week)) for p in [old, *old.iterdir()]])
    await asyncio.to_thread(s.rollout.confirm)  # what a start does
    assert not old.exists()
    assert (await s.send("artifact.install", signer.install("blob", "v9", FILES)))["ok"]
    await s.store.aclose()


async def test_a_chunk_the_disk_cannot_take_is_busy_and_not_recorded(tmp_path: Path, signer: Signer, monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    from edge.artifacts import staging

    s = await _store(tmp_path, signer)
    await s.send("artifact.install", signer.install("blob", "v1", FILES))
    part = next(chunks("blob", "v1", FILES))

    def full(fd: int, data: bytes, offset: int) -> int:
        """A disk with no room left."""
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(staging.os, "pwrite", full)
    refused = await s.send("artifact.chunk", part)
    assert refused["error"] == {"code": "busy", "message": "chunk 0 of a.bin: cannot be written (No space left on device)"}
    monkeypatch.undo()
    resumed = await s.send("artifact.install", signer.install("blob", "v1", FILES))
    assert resumed["result"]["missing"]["a.bin"] == [0, 1, 2]  # not recorded: asked for again
    assert (await s.send("artifact.chunk", part))["result"]["duplicate"] is False
    await s.store.aclose()


async def test_a_confirmed_start_prunes_versions_beyond_keep_versions(tmp_path: Path, signer: Signer) -> None:
    s = await _store(tmp_path, signer)  # keep_versions = 3 (the default)
    for n in range(1, 6):
        await s.send("artifact.install", signer.install("blob", f"v{n}", FILES))
        for part in chunks("blob", f"v{n}", FILES):
            await s.send("artifact.chunk", part)
    for version in ("v1", "v4"):
        assert (await s.send("artifact.activate", {"kind": "blob", "version": version}))["result"]["activated"]
        await asyncio.to_thread(s.rollout.confirm)
    # v4 active, v1 previous, and the newest other one (v5) kept; v2 and v3 removed, whole
    assert s.versions() == ["v1", "v4", "v5"]
    listing = (await s.send("artifact.list", {"kind": "blob"}))["result"]["kinds"]["blob"]
    assert (listing["active"], listing["previous"]) == ("v4", "v1")
    await s.store.aclose()
