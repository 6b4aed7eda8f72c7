"""SQLite tables of the esl job: an append-only list of migration steps (see edge.store.migrations)."""

from __future__ import annotations

from edge.store.migrations import Step

STEPS: list[Step] = []
