"""SQLite tables of the screen job: an append-only list of migration steps (see edge.store.migrations)."""

from __future__ import annotations

from edge.screen.content import table_v1
from edge.store.migrations import Step

STEPS: list[Step] = [table_v1]
