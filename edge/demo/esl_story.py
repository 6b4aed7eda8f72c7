"""The esl job's part of the demo story: scenes played after the link scenes."""

from __future__ import annotations

from edge.demo.story_base import Scene

SCENES: list[Scene] = []
