"""The signed manifest of an artifact: kind, version and each file's size and SHA-256, signed with headquarters' Ed25519 key.

The signature covers the manifest's canonical JSON without the signature: `{"files": [...], "kind": ..., "version": ...}`
with keys sorted, no spaces (`separators=(",", ":")`), UTF-8, files in the order sent. Keys are PEM
SubjectPublicKeyInfo files (`-----BEGIN PUBLIC KEY-----`), one per configured path; any of them may sign (rotation).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

from pydantic import Field, field_validator

from edge.artifacts.errors import ArtifactError, BadSignature
from edge.sync.commands import Args

if TYPE_CHECKING:  # cryptography is imported where a key is read or a signature checked: a store without keys never loads it
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

#: Every chunk but a file's last holds exactly this many bytes (decoded); the last holds the rest.
CHUNK_SIZE = 256 * 1024
MAX_FILES = 16
MAX_KEY_BYTES = 4096
KIND = r"^[a-z][a-z0-9-]{0,31}$"
VERSION = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
FILE_NAME = r"^[a-z0-9][a-z0-9._-]{0,63}$"
SHA256 = r"^[0-9a-f]{64}$"


class FileEntry(Args):
    """One file of an artifact: its name in the version's folder, its size in bytes and its SHA-256 (hex, lower case)."""

    name: Annotated[str, Field(pattern=FILE_NAME)]
    size: Annotated[int, Field(ge=1, le=8 * 1024**3)]
    sha256: Annotated[str, Field(pattern=SHA256)]

    @field_validator("name")
    @classmethod
    def _not_internal(cls, value: str) -> str:
        """Names ending as staging's own files would collide with them."""
        if value.endswith((".part", ".have")) or value == "manifest.json" or ".." in value:
            raise ValueError("names ending .part or .have, manifest.json and '..' are reserved")
        return value

    def chunks(self) -> int:
        """How many chunks this file comes in."""
        return -(-self.size // CHUNK_SIZE)


class Manifest(Args):
    """What headquarters signs: the artifact's kind, its version and its files."""

    kind: Annotated[str, Field(pattern=KIND)]
    version: Annotated[str, Field(pattern=VERSION)]
    files: Annotated[list[FileEntry], Field(min_length=1, max_length=MAX_FILES)]

    @field_validator("files")
    @classmethod
    def _unique(cls, value: list[FileEntry]) -> list[FileEntry]:
        """One entry per file name."""
        names = [f.name for f in value]
        if len(names) != len(set(names)):
            raise ValueError("file names must be unique")
        return value

    def canonical(self) -> bytes:
        """The exact bytes the signature covers."""
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()

    def digest(self) -> str:
        """SHA-256 of the canonical form: the same manifest sent again is a resume."""
        return hashlib.sha256(self.canonical()).hexdigest()

    def total(self) -> int:
        """Bytes of all the files together."""
        return sum(f.size for f in self.files)

    def file(self, name: str) -> FileEntry | None:
        """The entry called `name`, if any."""
        return next((f for f in self.files if f.name == name), None)


class InstallArgs(Manifest):
    """`artifact.install`: the manifest and its base64 Ed25519 signature."""

    signature: Annotated[str, Field(min_length=1, max_length=200)]

    def manifest(self) -> Manifest:
        """The signed part."""
        return Manifest.model_validate(self.model_dump(exclude={"signature"}))


def load_public_key(path: Path) -> Ed25519PublicKey:
    """Headquarters' public key from a PEM file (blocking: reads a small file)."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    try:
        with open(path, "rb") as f:
            data = f.read(MAX_KEY_BYTES + 1)
    except OSError as err:
        raise ArtifactError(f"{path}: cannot read ({err.strerror})") from None
    if len(data) > MAX_KEY_BYTES:
        raise ArtifactError(f"{path}: larger than {MAX_KEY_BYTES} bytes, not a public key")
    try:
        key = load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm) as err:
        raise ArtifactError(f"{path}: not a PEM public key ({err})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ArtifactError(f"{path}: not an Ed25519 public key")
    return key


def verify(manifest: Manifest, signature: str, keys: Sequence[Ed25519PublicKey]) -> None:
    """Accept the manifest only when one of `keys` signed its canonical JSON; BadSignature otherwise."""
    from cryptography.exceptions import InvalidSignature

    if not keys:
        raise BadSignature("no headquarters public key is configured ([artifacts] public_keys); unsigned artifacts are never accepted")
    try:
        raw = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        raise BadSignature("signature: not base64") from None
    data = manifest.canonical()
    for key in keys:
        try:
            key.verify(raw, data)
            return
        except InvalidSignature:
            continue
    raise BadSignature("signature: does not verify with any configured headquarters key")

