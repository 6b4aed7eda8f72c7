"""Structured logs: one event name per line (`outbox.drain.failed`) plus key=value context, fit for journald."""

from __future__ import annotations

import logging
import os
import sys

import structlog


def configure(level: str = "info", fmt: str = "logfmt") -> None:
    """Set up structlog and route library logs (paho, apscheduler) through the same output."""
    numeric = getattr(logging, level.upper())
    under_journald = "JOURNAL_STREAM" in os.environ
    processors: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
    ]
    if not under_journald:  # journald stamps every line itself
        processors.append(structlog.processors.TimeStamper(fmt="iso", utc=True))
    processors.append(structlog.processors.format_exc_info)
    if fmt == "json":
        processors.append(structlog.processors.JSONRenderer(ensure_ascii=False))
    elif fmt == "console":
        processors.append(structlog.dev.ConsoleRenderer(colors=False))
    else:
        processors.append(structlog.processors.LogfmtRenderer(key_order=["timestamp", "level", "event"], drop_missing=True))
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(level=max(numeric, logging.WARNING), stream=sys.stderr, format="level=%(levelname)s logger=%(name)s %(message)s")
