"""The `apertis` logger, the APERTIS_LOG switch, and redaction of credentials in log records."""

from __future__ import annotations

import logging
import os
from typing import Any, Mapping

from ._constants import LOG_ENV

__all__ = ["SENSITIVE_HEADERS", "SensitiveHeadersFilter", "logger", "redact_headers", "setup_logging"]

logger = logging.getLogger("apertis")

SENSITIVE_HEADERS = frozenset({"authorization", "x-api-key", "proxy-authorization", "api-key"})
_REDACTED = "<redacted>"


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """A copy of `headers` with the value of every credential header replaced."""
    return {key: (_REDACTED if key.lower() in SENSITIVE_HEADERS else value) for key, value in headers.items()}


class SensitiveHeadersFilter(logging.Filter):
    """Replaces credential header values in a record's arguments, whoever logged them.

    Installed on the handler APERTIS_LOG adds, so a header mapping passed as a log argument is redacted even
    if some future log call forgets to redact it first.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, Mapping):
            # `log("%s", mapping)` stores the mapping itself as the args.
            record.args = {
                key: (_REDACTED if isinstance(key, str) and key.lower() in SENSITIVE_HEADERS else _redact_value(value))
                for key, value in args.items()
            }
        elif isinstance(args, tuple):
            record.args = tuple(_redact_value(value) for value in args)
        return True


def _redact_value(value: Any) -> Any:
    if isinstance(value, Mapping) or (hasattr(value, "items") and hasattr(value, "multi_items")):
        try:
            return redact_headers(dict(value.items()))
        except (TypeError, ValueError, AttributeError):
            return value
    return value


# On the logger itself, so records are redacted whatever handlers the application attaches.
logger.addFilter(SensitiveHeadersFilter())

_configured = False


def setup_logging() -> None:
    """Turn on the SDK's own logging when APERTIS_LOG is `debug` or `info` (once per process).

    Without the variable nothing is configured: applications decide about logging themselves.
    """
    global _configured  # noqa: PLW0603 - a process-wide switch, read once
    if _configured:
        return
    _configured = True
    level_name = os.environ.get(LOG_ENV, "").strip().lower()
    level = {"debug": logging.DEBUG, "info": logging.INFO}.get(level_name)
    if level is None:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("[%(asctime)s - %(name)s:%(lineno)d - %(levelname)s] %(message)s"))
    handler.addFilter(SensitiveHeadersFilter())
    logger.addHandler(handler)
    logger.setLevel(level)
