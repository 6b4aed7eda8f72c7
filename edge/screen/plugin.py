"""The screen job as the core sees it (listed in pyproject.toml under `store_edge.jobs`): cheap to import; the detector loads when enabled."""

from __future__ import annotations

from edge.screen.config import ScreenSection
from edge.screen.schema import STEPS
from edge.jobs import JobSpec, lazy

JOB = JobSpec(
    name="screen",
    section=ScreenSection,
    migrations=STEPS,
    build=lazy("edge.screen.job:ScreenJob"),
    web=lazy("edge.screen.web:web_part"),
    cli=lazy("edge.screen.cli:register"),
    demo=lazy("edge.screen.demo:SCENES"),
    fleet=lazy("edge.screen.fleet:figures"),
)
