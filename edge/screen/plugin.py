"""The screen job as the core sees it (listed in pyproject.toml under `store_edge.jobs`)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import TYPE_CHECKING

from edge.component import Component
from edge.jobs import JobContext, JobSpec
from edge.screen.config import ScreenSection
from edge.screen.schema import STEPS

if TYPE_CHECKING:
    from edge.demo.story_base import Scene


def _build(ctx: JobContext) -> Component:
    """The running job (the detector and cameras load only when `[screen]` is enabled)."""
    from edge.screen.job import ScreenJob

    return ScreenJob(ctx, ctx.section)


def _demo() -> Sequence[Scene]:
    """A simulated shopper at the entrance screen."""
    from edge.screen.demo import SCENES

    return SCENES


def _cli(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """The job's `store-edge` tools, imported only when the command line is built."""
    from edge.screen import cli

    cli.register(subparsers)


JOB = JobSpec(name="screen", section=ScreenSection, migrations=STEPS, build=_build, cli=_cli, demo=_demo)
