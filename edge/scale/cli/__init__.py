"""The scale job's command-line tools: `store-edge scale watch` and `store-edge produce eval|recognize`."""

from __future__ import annotations

import argparse

from edge.scale.cli import produce, watch


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add `scale` and `produce`."""
    watch.register(subparsers)
    produce.register(subparsers)
