"""The headquarters example of docs/mqtt-api.md ("Artifact rollout") runs as written and makes requests a store accepts."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from edge.artifacts.commands import ChunkArgs, Rollout
from edge.artifacts.manifest import InstallArgs, load_public_key, verify
from edge.config import parse_config
from edge.scale.artifacts import kinds
from edge.scale.config import ScaleSection
from edge.store import Store
from edge.sync.commands import CommandRegistry, Dispatcher
from tests.test_docs_examples import _same_shape, _shape

DOC = Path(__file__).resolve().parents[3] / "docs/mqtt-api.md"


def _blocks(lang: str) -> list[str]:
    """The `lang` code blocks of the artifact section."""
    text = DOC.read_text(encoding="utf-8")
    section = text[text.index("## Artifact rollout (extension)"):text.index("## Telemetry")]
    return re.findall(rf"```{lang}\n(.*?)```", section, re.DOTALL)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl makes the documented key pair")
def test_the_documented_key_pair_and_signing_code_make_an_install_a_store_accepts(tmp_path: Path) -> None:
    subprocess.run(["sh", "-c", _blocks("sh")[0]], cwd=tmp_path, check=True, timeout=30)
    namespace: dict[str, object] = {}
    exec(compile(_blocks("python")[0], str(DOC), "exec"), namespace)  # noqa: S102 - the documented code, as written
    folder = tmp_path / "v3"
    folder.mkdir()
    (folder / "model.onnx").write_bytes(b"m" * 300_000)
    (folder / "gallery.npz").write_bytes(b"g" * 10)
    args = InstallArgs.model_validate(namespace["install_args"]("produce-model", "v3", folder, tmp_path / "hq-ed25519.key"))
    verify(args.manifest(), args.signature, [load_public_key(tmp_path / "hq-ed25519.pub")])  # raises if it does not verify
    parts = namespace["chunk_args"]("produce-model", "v3", folder, {"model.onnx": [0, 1], "gallery.npz": [0]})
    checked = [ChunkArgs.model_validate(p) for p in parts]
    assert [(c.file, c.index) for c in checked] == [("model.onnx", 0), ("model.onnx", 1), ("gallery.npz", 0)]


async def test_the_documented_requests_get_the_documented_replies(tmp_path: Path) -> None:
    """The `→ cmd/artifact.*` examples (tests/test_docs_examples.py skips them: their bodies have a `kind`), on a store without keys."""
    text = "".join(_blocks("json"))
    pairs = re.findall(r"^→ cmd/(artifact\.[a-z]+) (\{.*\})\n← (\{.*\})$", text, re.MULTILINE)
    assert [name for name, _, _ in pairs] == ["artifact.install", "artifact.activate", "artifact.list"]
    config = parse_config({"store": {"id": "s1"}, "data": {"dir": str(tmp_path)}}, jobs=[])
    registry = CommandRegistry()
    Rollout(config, {k.name: replace(k, job="scale") for k in kinds(config, ScaleSection())}).register(registry)
    store = await asyncio.to_thread(Store, tmp_path / "s.db")
    dispatcher = Dispatcher(registry, store)
    for name, request, documented in pairs:
        got, want = await dispatcher.handle(name, request.encode()), json.loads(documented)
        if want["ok"]:
            assert got["ok"] and _same_shape(_shape(got["result"]), _shape(want["result"])), (got, want)
        else:
            assert got["error"] == want["error"], got
    await store.aclose()
