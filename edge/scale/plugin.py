"""The scale job as the core sees it (listed in pyproject.toml under `store_edge.jobs`)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from edge.component import Component
from edge.jobs import JobContext, JobSpec
from edge.scale.config import ScaleSection
from edge.scale.schema import STEPS

if TYPE_CHECKING:
    from edge.demo.story_base import Scene
    from edge.web.parts import WebPart


def _build(ctx: JobContext) -> Component:
    """The running job (the model, drivers and cameras load only when `[scale]` is enabled)."""
    from edge.scale.job import ScaleJob

    return ScaleJob(ctx)


def _web(job: Any) -> WebPart:
    """The customers' touch screens."""
    from edge.scale.web import web_part

    return web_part(job)


def _demo() -> Sequence[Scene]:
    """Customers weigh produce photos; refusals; the touch screen."""
    from edge.scale.demo import SCENES

    return SCENES


def _cli(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """The job's `store-edge` tools, imported only when the command line is built."""
    from edge.scale import cli

    cli.register(subparsers)


JOB = JobSpec(name="scale", section=ScaleSection, migrations=STEPS, build=_build, web=_web, cli=_cli, demo=_demo)
