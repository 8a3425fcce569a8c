"""Structured logs: JSON lines on stdout for machines, a console renderer for humans.

Every line carries an ISO-8601 UTC ``timestamp``, ``level``, ``logger`` and ``event``. Context
bound with :func:`bind_context` (for instance ``reconcile_id``, ``namespace``, ``name``) is
merged into every line logged by the same task until it is cleared, so a reconcile's lines can be
found together without threading a logger through every call.

Log keys are snake_case and stable: dashboards and alerts depend on them.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TextIO

import orjson
import structlog

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING}
_LEVELS["error"] = logging.ERROR
_NAME_KEY = "lbc_logger_name"


def _orjson_dumps(obj: Any, default: Any = None) -> str:
    return orjson.dumps(obj, default=default or str).decode()


def configure(level: str = "info", fmt: str = "json", stream: TextIO | None = None) -> None:
    """Set up structlog for the whole process (idempotent; last call wins)."""
    out = stream if stream is not None else sys.stdout
    renderer: structlog.typing.Processor
    if fmt == "console":
        renderer = structlog.dev.ConsoleRenderer(colors=False)
    else:
        renderer = structlog.processors.JSONRenderer(serializer=_orjson_dumps)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
            _add_logger_name,
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS.get(level, logging.INFO)),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )


def _add_logger_name(
    _logger: Any, _method: str, event_dict: structlog.typing.EventDict
) -> structlog.typing.EventDict:
    name = event_dict.pop(_NAME_KEY, None)
    event_dict.setdefault("logger", name or "lbc")
    return event_dict


def get_logger(name: str) -> structlog.typing.FilteringBoundLogger:
    """A logger whose lines say ``"logger": name``."""
    # A lazy proxy: it resolves the configuration at each use, so module-level loggers created
    # before configure() still write in the configured format.
    logger: structlog.typing.FilteringBoundLogger = structlog.get_logger(**{_NAME_KEY: name})
    return logger


@contextmanager
def bound_context(**values: Any) -> Iterator[None]:
    """Bind ``values`` into every line logged in this task until the block ends."""
    tokens = structlog.contextvars.bind_contextvars(**values)
    try:
        yield
    finally:
        structlog.contextvars.reset_contextvars(**tokens)


def redact(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Settings as they may be logged: anything that looks like a secret is masked."""
    hidden = ("secret", "token", "password", "key")
    return {
        k: ("***" if any(h in k.lower() for h in hidden) and v else v) for k, v in settings.items()
    }
