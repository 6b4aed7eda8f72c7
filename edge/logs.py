"""Structured logs: one event name per line (`outbox.drain.failed`) plus key=value context, fit for journald."""

from __future__ import annotations

import logging
import os
import sys

import structlog

from edge.log_ring import capture

#: No value in a log line is longer than this: a sender's 10 MB field must not become a 10 MB journald line.
MAX_VALUE_CHARS = 2_000
#: A traceback may be longer (it is ours, not a sender's), but bounded too.
MAX_EXCEPTION_CHARS = 20_000


def clip_values(_logger: object, _name: str, event: structlog.typing.EventDict) -> structlog.typing.EventDict:
    """Shorten every over-long value, saying how much was cut; the last word on line size, whatever a caller passed."""
    for key, value in event.items():
        text = value if isinstance(value, str) else None
        if text is None and not isinstance(value, int | float | bool | type(None)):
            text = str(value)
        limit = MAX_EXCEPTION_CHARS if key == "exception" else MAX_VALUE_CHARS
        if text is not None and len(text) > limit:
            event[key] = f"{text[:limit]}…(+{len(text) - limit} chars)"
    return event


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
    processors.append(clip_values)
    processors.append(capture)  # the recent lines `logs.fetch` returns (edge/log_ring.py)
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
