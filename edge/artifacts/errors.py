"""The one error tree of artifact rollout: every refusal says what is wrong in one line."""

from __future__ import annotations


class ArtifactError(Exception):
    """An artifact, a key or a chunk that cannot be used; the message is the reply's and the log's."""


class BadSignature(ArtifactError):
    """A manifest no configured headquarters key signed."""


class ChunkRefused(ArtifactError):
    """A chunk that does not fit its install (index, size, or other bytes than the ones stored)."""


class NotStaging(ArtifactError):
    """A chunk for an install that was never opened (or has finished)."""


class ChunkConflict(ChunkRefused):
    """A chunk stored already, sent again with other bytes."""


class VersionConflict(ArtifactError):
    """Another manifest under a version being installed or installed."""


class NoRoom(ArtifactError):
    """Not enough disk space, or too many installs in progress: retry later."""
