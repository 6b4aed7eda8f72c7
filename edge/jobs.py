"""How the core meets a job: every job is a plugin described by one `JobSpec`, found through entry points.

The core (config, app, store, sync, scheduler, web, CLI, demo) never imports a job package. A
job package exposes a `JobSpec` and lists it under the `store_edge.jobs` entry-point group in
`pyproject.toml`; that table is the only place that names the installed jobs, so a third-party
job installs as an ordinary Python package. The shape follows Zigbee2MQTT's extension host
(every extension gets the same controllers and is started and stopped the same way) and Home
Assistant's integration manifest (a light description, the heavy code imported only when used).

Jobs never import each other: each gets a `JobContext` and meets the others only through the
store (tables, outbox), the scheduler and the command registry.
"""

from __future__ import annotations

import argparse
import functools
import importlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from edge.component import Component
from edge.store.migrations import Step

if TYPE_CHECKING:
    from edge.artifacts.kinds import ArtifactKind
    from edge.config import Config
    from edge.demo.story_base import Scene
    from edge.prices.rules import Check
    from edge.scheduler import Scheduler
    from edge.store import Store
    from edge.sync.commands import CommandRegistry
    from edge.web.parts import WebPart

ENTRY_POINT_GROUP = "store_edge.jobs"


@dataclass(frozen=True)
class JobContext:
    """What a job may use: the whole config, its own section, the store, the scheduler, the commands and telemetry."""

    config: Config
    section: Any  # the job's own validated section (the model named by its JobSpec)
    store: Store
    scheduler: Scheduler
    registry: CommandRegistry
    telemetry: Callable[[str, dict[str, Any]], None]

    @property
    def data_dir(self) -> Path:
        """Where jobs write files (reports, rendered images)."""
        return self.config.data.dir


@dataclass(frozen=True, eq=False)  # compared and hashed by identity: one spec object per installed job
class JobSpec:
    """Everything the core needs to know about one job, cheap to import (the job itself loads in `build`).

    - `name`: the job's name, its config table (`[name]`), its migration owner and its status key.
    - `section`: the pydantic model of `[name]`, validated with every other section before READY=1;
      it must have an `enabled: bool` field.
    - `migrations`: the job's append-only schema steps (applied whether or not the job is enabled,
      so enabling it later finds its tables ready).
    - `build(ctx)`: the running job, a supervised `Component`; it registers its commands, scheduled
      actions and periodic work on `ctx` (imported only when the job is enabled: cameras and
      models are heavy).
    - `web(job)`: the job's part of the web server (routes, public paths, live-feed pieces), if any.
    - `cli(subparsers)`: adds the job's `store-edge <name> ...` tools, if any.
    - `demo()`: the job's scenes of `store-edge demo`, in order, if any.
    - `catalog_check(config, section)`: the job's part of the label content rules (edge/prices/rules.py), if any:
      a check the catalogue runs on every product and price item before accepting it (e.g. what the job's label
      layout would show), or None for the configured rule set. Called when the catalogue is built, for enabled jobs.
    - `fleet(job)`: the job's small part of `telemetry/health` and `/metrics` (edge/fleet.py), if any: an awaitable
      dict with any of `devices` ({device id: state}), `labels` ({state: count}), `low_batteries`, `open_alerts`
      (counts) and `models` ({name: version}); counts, never lists of labels, and nothing about a person.
    - `artifacts(config, section)`: the kinds of shipped files the job runs from and headquarters may replace with
      `artifact.install` / `artifact.activate` (edge/artifacts/), if any: each `ArtifactKind` names its required and
      optional files and a blocking `self_check(candidate_dir, current_dir)` the core runs on a worker thread before
      switching. The job reads the active version's folder itself (`edge.artifacts.installed.active_dir`); a job that
      fails to build while one is active is started again with the previous version (`artifact.rolled_back`).
    - `hot_keys` and `reload(job, section)`: keys of `[name]` the running job can take without a restart. When a
      `config.set` changes only such keys (and core keys that are hot, edge/remote_config.py), the core calls
      `reload` on the event loop with the new section instead of restarting the daemon; it must not block.
    """

    name: str
    section: type[BaseModel]
    migrations: Sequence[Step]
    build: Callable[[JobContext], Component]
    web: Callable[[Any], WebPart | None] | None = None
    cli: Callable[[argparse._SubParsersAction], None] | None = None  # type: ignore[type-arg]
    demo: Callable[[], Sequence[Scene]] | None = None
    catalog_check: Callable[[Config, Any], Check | None] | None = None
    fleet: Callable[[Any], Awaitable[dict[str, Any]]] | None = None
    artifacts: Callable[[Config, Any], Sequence[ArtifactKind]] | None = None
    hot_keys: frozenset[str] = frozenset()
    reload: Callable[[Any, Any], None] | None = None

    def __post_init__(self) -> None:
        """A job's name is a TOML table, a migration owner and a topic segment: keep it simple."""
        if not self.name.isidentifier() or self.name != self.name.lower():
            raise ValueError(f"job name {self.name!r} must be a lower-case identifier")
        if "enabled" not in self.section.model_fields:
            raise ValueError(f"job {self.name!r}: its section model needs an `enabled` field")
        if (self.reload is None) != (not self.hot_keys) or not self.hot_keys <= set(self.section.model_fields) - {"enabled"}:
            raise ValueError(f"job {self.name!r}: hot_keys must be keys of its section, given with a reload hook")


def lazy(target: str) -> Callable[..., Any]:
    """`"package.module:name"` imported on first use: a function is called with the hook's arguments, a value is returned.

    A JobSpec names its heavy parts this way (Home Assistant's manifest style), so reading the
    installed jobs imports only their configuration models and migrations.
    """
    module, _, name = target.partition(":")

    def hook(*args: Any) -> Any:
        """Import, then call or return."""
        found = getattr(importlib.import_module(module), name)
        return found(*args) if callable(found) else found

    hook.__qualname__ = hook.__name__ = f"lazy({target})"
    hook.__module__ = module
    return hook


@functools.cache
def installed_jobs() -> tuple[JobSpec, ...]:
    """The jobs installed with this package (and any third-party package), by name, from the entry points."""
    specs: dict[str, JobSpec] = {}
    for point in entry_points(group=ENTRY_POINT_GROUP):
        spec = point.load()
        if not isinstance(spec, JobSpec) or spec.name != point.name:
            raise TypeError(f"entry point {point.name} = {point.value} must be a JobSpec named {point.name!r}")
        specs[spec.name] = spec
    return tuple(specs[name] for name in sorted(specs))


def schemas(jobs: Sequence[JobSpec] | None = None) -> dict[str, list[Step]]:
    """Every job's migration steps by owner."""
    return {spec.name: list(spec.migrations) for spec in (installed_jobs() if jobs is None else jobs)}


def catalog_checks(config: Config) -> list[Check]:
    """The label content checks the enabled jobs add to the catalogue's rules (see `JobSpec.catalog_check`)."""
    found = (spec.catalog_check(config, section) for spec, section in enabled_sections(config) if spec.catalog_check is not None)
    return [check for check in found if check is not None]


def artifact_kinds(config: Config) -> dict[str, ArtifactKind]:
    """The artifact kinds the enabled jobs declare (see `JobSpec.artifacts`), by name, each marked with its job."""
    kinds: dict[str, ArtifactKind] = {}
    for spec, section in enabled_sections(config):
        for kind in spec.artifacts(config, section) if spec.artifacts is not None else ():
            if kind.name in kinds:
                raise ValueError(f"artifact kind {kind.name!r} declared by {kinds[kind.name].job} and {spec.name}")
            kinds[kind.name] = replace(kind, job=spec.name)
    return kinds


def enabled_sections(config: Config) -> list[tuple[JobSpec, Any]]:
    """The (spec, section) of every job whose table is present and enabled, in name order."""
    out = []
    for spec in config.jobs:
        section = getattr(config, spec.name)
        if section is not None and section.enabled:
            out.append((spec, section))
    return out

