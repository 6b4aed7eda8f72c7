"""The scale job as the core sees it (listed in pyproject.toml under `store_edge.jobs`): cheap to import; the model loads when enabled."""

from __future__ import annotations

from edge.scale.config import HOT_KEYS, ScaleSection
from edge.scale.schema import STEPS
from edge.jobs import JobSpec, lazy

JOB = JobSpec(
    name="scale",
    section=ScaleSection,
    migrations=STEPS,
    build=lazy("edge.scale.job:ScaleJob"),
    web=lazy("edge.scale.web:web_part"),
    cli=lazy("edge.scale.cli:register"),
    demo=lazy("edge.scale.demo:SCENES"),
    fleet=lazy("edge.scale.fleet:figures"),
    artifacts=lazy("edge.scale.artifacts:kinds"),
    hot_keys=HOT_KEYS,
    reload=lazy("edge.scale.job:reload"),
)
