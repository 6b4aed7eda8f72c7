"""What a job declares about the files it runs from (`JobSpec.artifacts`): the kind's name, its files and its self-check."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class CheckResult:
    """A self-check's verdict: passed or not, one line per reason it failed, and figures for the reply and the event."""

    passed: bool
    reasons: list[str] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """The form replies and events carry."""
        return {"passed": self.passed, "reasons": self.reasons[:20], **self.figures}


#: `self_check(candidate_dir, current_dir)`: blocking (runs on a worker thread); `current_dir` is None while the job
#: runs from its configured or committed files.
SelfCheck = Callable[[Path, Path | None], CheckResult]


@dataclass(frozen=True)
class ArtifactKind:
    """One kind of shipped files a job runs from (e.g. `produce-model`): the files it must hold, which it may, and its check."""

    name: str
    required: tuple[str, ...]
    self_check: SelfCheck
    optional: tuple[str, ...] = ()
    job: str = ""  # the declaring job, filled in by the core
