"""Typed errors of produce recognition, so a bad frame or a broken model is reported, never a crash."""

from __future__ import annotations


class RecognitionError(Exception):
    """Base of every produce-recognition error."""


class UnusableFrame(RecognitionError):
    """The frame cannot be recognised: corrupt, wrong shape, or blank."""


class EmptyGallery(RecognitionError):
    """There is nothing to compare against."""


class ModelMismatch(RecognitionError):
    """The gallery was embedded by a different model file than the one doing the query."""
