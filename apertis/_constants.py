"""Defaults of the client. Public ones are re-exported from `apertis`."""

from __future__ import annotations

import httpx

__all__ = [
    "API_KEY_ENV",
    "BASE_URL_ENV",
    "CHAT_MODELS",
    "DEFAULT_BASE_URL",
    "DEFAULT_CONNECTION_LIMITS",
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_MAX_RETRY_AFTER",
    "DEFAULT_TIMEOUT",
    "EMBEDDING_MODELS",
    "INITIAL_RETRY_DELAY",
    "LOG_ENV",
    "MAX_RETRY_DELAY",
]

DEFAULT_BASE_URL = "https://api.apertis.ai/v1"
"""Where requests go when neither `base_url` nor APERTIS_BASE_URL is set."""

# LLM calls can take minutes to produce their answer, so the read limit is long; a server that does not accept
# the connection within seconds is down, so connecting fails fast and the retry loop takes over.
DEFAULT_TIMEOUT = httpx.Timeout(600.0, connect=5.0)
"""Ten minutes for the whole of a call's reads and writes, five seconds to connect."""

DEFAULT_MAX_RETRIES = 2
"""Retries after the first attempt (so at most three attempts)."""

DEFAULT_MAX_RETRY_AFTER = 60.0
"""A `Retry-After` longer than this many seconds is not slept through: the error is raised at once."""

# Sized for thousands of concurrent calls on one client: smaller pools surface as PoolTimeout under load.
DEFAULT_CONNECTION_LIMITS = httpx.Limits(max_connections=1000, max_keepalive_connections=100)
"""Connection pool limits of the HTTP client the SDK creates."""

INITIAL_RETRY_DELAY = 0.5
"""Backoff before the first retry, in seconds; it doubles on each further retry."""

MAX_RETRY_DELAY = 8.0
"""Backoff never grows beyond this many seconds."""

API_KEY_ENV = "APERTIS_API_KEY"
BASE_URL_ENV = "APERTIS_BASE_URL"
LOG_ENV = "APERTIS_LOG"

# Informational lists kept from 0.4.1; the SDK never checks model names against them.
CHAT_MODELS = [
    "gpt-5.4",
    "gpt-5.1",
    "gpt-5.3-codex",
    "claude-opus-4-6",
    "claude-sonnet-4-6",
    "claude-haiku-4.5",
    "gemini-3-pro-preview",
    "gemini-3-flash-preview",
    "gemini-2.5-flash-preview",
    "glm-5.1",
    "minimax-m2.7",
]
EMBEDDING_MODELS = ["text-embedding-3-small", "text-embedding-3-large", "text-embedding-ada-002"]
