"""JSON logs that carry the event id and correlation id of the work in hand, and with tracing
on the `trace_id` and `span_id` of the span in progress."""

from __future__ import annotations

import contextlib
import contextvars
import logging
import sys
from collections.abc import Iterator
from typing import Any

from pythonjsonlogger.json import JsonFormatter

from shared.settings import Settings
from shared.tracing import current_ids

_context: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar("log_context", default=None)


@contextlib.contextmanager
def log_context(**fields: str | None) -> Iterator[None]:
    token = _context.set({**(_context.get() or {}), **{k: v for k, v in fields.items() if v}})
    try:
        yield
    finally:
        _context.reset(token)


def event_context(event: Any) -> contextlib.AbstractContextManager[None]:
    return log_context(
        event_id=event.id,
        event_type=event.type,
        correlation_id=event.correlationid,
        order_id=event.subject,
    )


class _ContextFilter(logging.Filter):
    def __init__(self, service: str, process: str) -> None:
        super().__init__()
        self.service = service
        self.process = process

    def filter(self, record: logging.LogRecord) -> bool:
        record.service = self.service
        record.process_type = self.process
        for key, value in (_context.get() or {}).items():
            setattr(record, key, value)
        span_ids = current_ids()
        if span_ids is not None:
            record.trace_id, record.span_id = span_ids
        return True


def configure_logging(settings: Settings, process: str) -> None:
    """JSON lines on stdout; LOG_FORMAT=text for a human at a terminal."""
    handler = logging.StreamHandler(sys.stdout)
    if settings.log_format == "json":
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            )
        )
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(_ContextFilter(settings.service, process))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
    logging.getLogger("pika").setLevel(logging.WARNING)
