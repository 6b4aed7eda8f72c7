"""The esl job as the core sees it (listed in pyproject.toml under `store_edge.jobs`): cheap to import; the job loads when enabled."""

from __future__ import annotations

from edge.esl.config import EslSection
from edge.esl.schema import STEPS
from edge.jobs import JobSpec, lazy

JOB = JobSpec(
    name="esl",
    section=EslSection,
    migrations=STEPS,
    build=lazy("edge.esl.job:build"),
    web=lazy("edge.esl.web:web_part"),
    cli=lazy("edge.esl.cli:register"),
    demo=lazy("edge.esl.demo:SCENES"),
    fleet=lazy("edge.esl.fleet:figures"),
    catalog_check=lazy("edge.esl.prices.content_rules:catalog_check"),
)
