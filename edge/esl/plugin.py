"""The esl job as the core sees it (listed in pyproject.toml under `store_edge.jobs`)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from edge.component import Component
from edge.esl.config import EslSection
from edge.esl.schema import STEPS
from edge.jobs import JobContext, JobSpec

if TYPE_CHECKING:
    from edge.demo.story_base import Scene
    from edge.web.parts import WebPart


def _build(ctx: JobContext) -> Component:
    """The running job (the radio, renderer and map load only when `[esl]` is enabled)."""
    from edge.esl.job import build

    return build(ctx)


def _web(job: Any) -> WebPart:
    """The status page's label, pick, map and fridge panels."""
    from edge.esl.web import web_part

    return web_part(job)


def _demo() -> Sequence[Scene]:
    """Price push, pick lights, the store map and a warming fridge."""
    from edge.esl.demo import SCENES

    return SCENES


def _cli(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """The job's `store-edge` tools, imported only when the command line is built."""
    from edge.esl import cli

    cli.register(subparsers)


JOB = JobSpec(name="esl", section=EslSection, migrations=STEPS, build=_build, web=_web, cli=_cli, demo=_demo)
