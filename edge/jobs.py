"""The jobs the daemon can run (esl, scale, screen) and how each is built from its config section.

Jobs never import each other: each gets a JobContext and meets the others only through
the store (tables, outbox), the scheduler and the command registry.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge.component import Component
from edge.config import Config
from edge.scheduler import Scheduler
from edge.store import Store
from edge.store.migrations import Step
from edge.sync.commands import CommandRegistry

JOB_NAMES = ("esl", "scale", "screen")


@dataclass(frozen=True)
class JobContext:
    """What a job may use: its config, the store, the scheduler, the command registry and a telemetry sink."""

    config: Config
    store: Store
    scheduler: Scheduler
    registry: CommandRegistry
    telemetry: Callable[[str, dict[str, Any]], None]

    @property
    def data_dir(self) -> Path:
        """Where jobs write files (reports, rendered images)."""
        return self.config.data.dir


def schemas() -> dict[str, list[Step]]:
    """Every job's migration steps; all are applied, so enabling a job later finds its tables ready."""
    return {name: importlib.import_module(f"edge.{name}.schema").STEPS for name in JOB_NAMES}


def build_jobs(ctx: JobContext) -> list[Component]:
    """One component per job whose section is present and enabled (imported only then: cameras and models are heavy)."""
    jobs: list[Component] = []
    for name in JOB_NAMES:
        section = getattr(ctx.config, name)
        if section is not None and section.enabled:
            jobs.append(importlib.import_module(f"edge.{name}.job").build(ctx))
    return jobs
