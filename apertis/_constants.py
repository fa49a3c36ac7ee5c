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
    "TRACING_ENV",
    "MAX_DECOMPRESSION_RATIO",
    "MAX_ERROR_BODY",
    "MAX_RETRY_DELAY",
    "MAX_SSE_EVENT",
    "UNCHECKED_BODY_SIZE",
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

# A compressed body costs the server little to send and the client all of its decoded size to hold: a 1 MB gzip
# body of zeros inflates to 1 GB. Real JSON compresses 2-10x (float embeddings about 2.5x, base64 images barely),
# so a ratio of 100 leaves a wide margin; small bodies are not checked at all, so short, very repetitive JSON
# passes. Bodies sent without compression are not limited: their size is what the server actually sent (a
# 2,048 x 3,072 float embeddings answer is about 130 MB of JSON).
MAX_DECOMPRESSION_RATIO = 100
"""A body (of a call that is not a stream) whose decoded size passes this many times the bytes received is refused
with APIResponseValidationError, once it is larger than UNCHECKED_BODY_SIZE. Checked after each piece the
decoder hands over, so at most one network read (64 KiB, at most about 66 MiB once inflated) goes past it."""

UNCHECKED_BODY_SIZE = 16 * 1024 * 1024
"""Decoded bytes a body may reach whatever its compression ratio (16 MiB)."""

MAX_ERROR_BODY = 1024 * 1024
"""Decoded bytes of an error response (non-2xx) kept for the exception (1 MiB); the rest is not read. The message
quotes only the start of it."""

# The largest legitimate events are the Responses API's: `response.completed` and `response.output_item.done`
# repeat every image an `image_generation` tool made, each a base64 PNG of several MB. 64 MiB leaves room for a
# handful of the largest images and bounds what a broken or hostile stream can make the decoder hold.
MAX_SSE_EVENT = 64 * 1024 * 1024
"""Bytes one server-sent event's data, or one line of the stream, may reach (64 MiB); past it the stream raises
APIResponseValidationError and its connection is closed."""

API_KEY_ENV = "APERTIS_API_KEY"
BASE_URL_ENV = "APERTIS_BASE_URL"
LOG_ENV = "APERTIS_LOG"
# Turns tracing on for clients created without `tracing=` (apertis/_observe.py reads it).
TRACING_ENV = "APERTIS_TRACING"

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
