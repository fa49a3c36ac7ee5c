"""The `apertis` logger, the APERTIS_LOG switch, and redaction of credentials in log records and messages."""

from __future__ import annotations

import json
import logging
import os
import re
from functools import lru_cache
from typing import AbstractSet, Any, Collection, Mapping, Match, Optional, Tuple
from urllib.parse import quote

from ._constants import LOG_ENV

__all__ = [
    "SDK_HEADERS",
    "SENSITIVE_HEADERS",
    "SensitiveHeadersFilter",
    "logger",
    "redact_all",
    "redact_headers",
    "redact_request_headers",
    "redact_secrets",
    "setup_logging",
]

logger = logging.getLogger("apertis")

# Headers whose value is a credential whoever set it: redacted by name wherever headers are logged or stored, and
# never sent to another host than the API's.
SENSITIVE_HEADERS = frozenset(
    {"authorization", "x-api-key", "proxy-authorization", "api-key", "cookie", "set-cookie", "proxy-authenticate"}
)
# The request headers the SDK (or httpx) sets itself, whose values are never secret. A logged or stored request
# shows these; every other value (credentials, and anything passed in default_headers / extra_headers, such as an
# X-Goog-Api-Key or a Cookie) reads <redacted>.
SDK_HEADERS = frozenset(
    {
        "accept",
        "accept-encoding",
        "connection",
        "content-length",
        "content-type",
        "host",
        "idempotency-key",
        "transfer-encoding",
        "user-agent",
        "x-apertis-retry-count",
    }
)
_REDACTED = "<redacted>"

# A credential as it appears after `Bearer ` or `x-api-key:` (RFC 7235 token68). Dots only between other
# characters (JWTs have them), so the full stop ending a sentence is not taken for part of the token. A name
# followed by `=value` is an auth-param (`Bearer realm="api"` in a WWW-Authenticate header), not a credential.
_TOKEN = r"[A-Za-z0-9_~+/-]+(?:\.[A-Za-z0-9_~+/-]+)*(?![A-Za-z0-9_~+/-])(?!=+[\"']?[A-Za-z0-9_~+/-])=*"
# Patterns as text: `re` compiles them at their first use (and caches them), not at `import apertis`.
_BEARER = r"(?i)\b(bearer\s+)(" + _TOKEN + ")"
# `x-api-key: KEY`, `api-key=KEY`, `"x-api-key": "KEY"`, `?api_key=KEY`: the value is a credential whatever it is.
_KEY_FIELD = r"(?i)(?<![A-Za-z0-9_-])((?:x-)?api[-_]key[\"']?\s*[:=]\s*[\"']?)(" + _TOKEN + ")"
# A key this short ("test", "sk-test") cannot be told apart from the words of a message, and is a placeholder
# for a local or fake server rather than a secret: it is redacted only where a credential pattern shows it is one.
_MIN_BARE_SECRET = 8
# From this length on a key cannot collide with ordinary text, so it is redacted wherever it occurs, also inside a
# longer run of characters (`id=abc<KEY>xyz`); a shorter one only where it stands as a whole token.
_MIN_SUBSTRING_SECRET = 16


@lru_cache(maxsize=64)
def _written_forms(secret: str) -> Tuple[str, ...]:
    """`secret` as it can appear in text: as is, percent-encoded (in a URL), escaped in a JSON string.

    A key made of letters, digits, `_` and `-` reads the same in all three, so this is usually just `(secret,)`.
    """
    forms = [secret]
    for form in (quote(secret, safe=""), json.dumps(secret)[1:-1], json.dumps(secret)[1:-1].replace("/", "\\/")):
        if form not in forms:
            forms.append(form)
    return tuple(forms)


def redact_secrets(text: str, secret: Optional[str] = None) -> str:
    """`text` with credentials replaced by `<redacted>`, for messages built from server or transport text.

    Always redacts the value after `Bearer` (when it looks like a credential rather than a word such as
    "token") and after `x-api-key:` / `api-key=` / `api_key=`. `secret` (the client's API key) is also redacted:
    a key of 16 characters or more wherever it occurs, even glued to other characters (`id=abc<KEY>xyz`), also
    percent-encoded or JSON-escaped; a shorter one only where it stands as a whole token, so it never garbles a
    message ("test" in "testing"), and one shorter than 8 characters not at all ("test" in "this test request"),
    except in those credential patterns.
    """
    return redact_all(text, (secret,) if secret else ())


def redact_all(text: str, secrets: Collection[str], *, patterns: bool = True) -> str:
    """`text` with each of `secrets` redacted as `redact_secrets` redacts its one, and the credential patterns
    unless `patterns` is false."""
    for secret in secrets:
        if len(secret) >= _MIN_SUBSTRING_SECRET:
            for form in _written_forms(secret):
                if form in text:
                    text = text.replace(form, _REDACTED)
        elif len(secret) >= _MIN_BARE_SECRET and secret in text:
            text = re.sub(r"(?<![A-Za-z0-9])" + re.escape(secret) + r"(?![A-Za-z0-9])", _REDACTED, text)
    if not patterns:
        return text

    def bearer(match: Match[str]) -> str:
        token = match.group(2)
        # A word ("Bearer authentication", "Bearer token") is prose; a credential has digits or punctuation,
        # or is long, or is one of the secrets however short.
        if token in secrets or len(token) >= 16 or not token.isalpha():
            return match.group(1) + _REDACTED
        return match.group(0)

    text = re.sub(_BEARER, bearer, text)
    return re.sub(_KEY_FIELD, lambda match: match.group(1) + _REDACTED, text)


def redact_headers(headers: Mapping[str, str], secrets: Collection[str] = ()) -> dict[str, str]:
    """A copy of `headers` with the value of every credential header replaced, and `secrets` (with the credential
    patterns) redacted in every other value: for response headers, which the server may have echoed a key in."""
    return {
        key: (_REDACTED if key.lower() in SENSITIVE_HEADERS else redact_all(value, secrets))
        for key, value in headers.items()
    }


def redact_request_headers(
    headers: Mapping[str, str], caller_supplied: AbstractSet[str] = frozenset()
) -> dict[str, str]:
    """A copy of request `headers` for a log or a stored copy: only the values of the SDK's own headers are kept.

    `caller_supplied` (lower-case names) are the headers the caller passed in default_headers / extra_headers:
    redacted too even where they override one of the SDK's own, whatever their value.
    """
    return {
        key: (value if key.lower() in SDK_HEADERS and key.lower() not in caller_supplied else _REDACTED)
        for key, value in headers.items()
    }


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
