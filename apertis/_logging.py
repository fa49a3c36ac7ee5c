"""The `apertis` logger, the APERTIS_LOG switch, and redaction of credentials in log records and messages."""

from __future__ import annotations

import logging
import os
import re
from typing import Any, Mapping, Match, Optional

from ._constants import LOG_ENV

__all__ = [
    "SENSITIVE_HEADERS",
    "SensitiveHeadersFilter",
    "logger",
    "redact_headers",
    "redact_secrets",
    "setup_logging",
]

logger = logging.getLogger("apertis")

SENSITIVE_HEADERS = frozenset({"authorization", "x-api-key", "proxy-authorization", "api-key"})
_REDACTED = "<redacted>"

# A credential as it appears after `Bearer ` or `x-api-key:` (RFC 7235 token68). Dots only between other
# characters (JWTs have them), so the full stop ending a sentence is not taken for part of the token.
_TOKEN = r"[A-Za-z0-9_~+/-]+(?:\.[A-Za-z0-9_~+/-]+)*=*"
_BEARER = re.compile(r"(?i)\b(bearer\s+)(" + _TOKEN + ")")
# `x-api-key: KEY`, `api-key=KEY`, `"x-api-key": "KEY"`, `?api_key=KEY`: the value is a credential whatever it is.
_KEY_FIELD = re.compile(r"(?i)(?<![A-Za-z0-9_-])((?:x-)?api[-_]key[\"']?\s*[:=]\s*[\"']?)(" + _TOKEN + ")")
# A key this short ("test", "sk-test") cannot be told apart from the words of a message, and is a placeholder
# for a local or fake server rather than a secret: it is redacted only where a credential pattern shows it is one.
_MIN_BARE_SECRET = 8


def redact_secrets(text: str, secret: Optional[str] = None) -> str:
    """`text` with credentials replaced by `<redacted>`, for messages built from server or transport text.

    Always redacts the value after `Bearer` (when it looks like a credential rather than a word such as
    "token") and after `x-api-key:` / `api-key=` / `api_key=`. `secret` (the client's API key) is also redacted
    wherever it stands as a whole token: not where it is only part of a longer word, so a short key never
    garbles a message ("test" in "testing"), and not at all when it is shorter than 8 characters ("test" in
    "this test request"), except in those credential patterns.
    """
    if secret and len(secret) >= _MIN_BARE_SECRET and secret in text:
        text = re.sub(r"(?<![A-Za-z0-9])" + re.escape(secret) + r"(?![A-Za-z0-9])", _REDACTED, text)

    def bearer(match: Match[str]) -> str:
        token = match.group(2)
        # A word ("Bearer authentication", "Bearer token") is prose; a credential has digits or punctuation,
        # or is long.
        if token == secret or len(token) >= 16 or not token.isalpha():
            return match.group(1) + _REDACTED
        return match.group(0)

    text = _BEARER.sub(bearer, text)
    return _KEY_FIELD.sub(lambda match: match.group(1) + _REDACTED, text)


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
