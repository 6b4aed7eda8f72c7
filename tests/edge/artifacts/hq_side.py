"""Headquarters' side of artifact rollout, as docs/mqtt-api.md describes it: sign a manifest, cut files into chunks."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

CHUNK = 256 * 1024


class Signer:
    """An HQ signing key; `public_pem(path)` writes the public half where a store's [artifacts] public_keys names it."""

    def __init__(self) -> None:
        self.key = Ed25519PrivateKey.generate()

    def public_pem(self, path: Path) -> Path:
        """Write the public key as PEM SubjectPublicKeyInfo."""
        path.write_bytes(self.key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
        return path

    def install(self, kind: str, version: str, files: dict[str, bytes]) -> dict[str, Any]:
        """The `artifact.install` arguments for these files, signed."""
        manifest = {"kind": kind, "version": version,
                    "files": [{"name": n, "size": len(d), "sha256": hashlib.sha256(d).hexdigest()} for n, d in files.items()]}
        canonical = json.dumps(manifest, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        return {**manifest, "signature": base64.b64encode(self.key.sign(canonical)).decode()}


def chunks(kind: str, version: str, files: dict[str, bytes], only: dict[str, list[int]] | None = None) -> Iterator[dict[str, Any]]:
    """`artifact.chunk` arguments for every chunk (or only the missing ones a reply named)."""
    for name, data in files.items():
        count = -(-len(data) // CHUNK)
        for index in (only.get(name, []) if only is not None else range(count)):
            yield {"kind": kind, "version": version, "file": name, "index": index,
                   "data": base64.b64encode(data[index * CHUNK:(index + 1) * CHUNK]).decode()}
