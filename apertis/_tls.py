"""The TLS context of the connection pools the SDK creates: CA certificates loaded at the first TLS handshake.

`httpx.Client()` builds its SSLContext in its constructor, and loading the CA bundle into it is most of what
constructing a client costs (about 240 million instructions for the system bundle, some 50 ms): a client that only
ever talks plain HTTP (a local gateway, the offline test server) pays it for nothing, and so does every pool the
async client rebuilds when the event loop changes. The context here is the one httpx would build for the default
`verify=True` (same CA file choice, same protocol, verification and hostname checks), except that the certificates
are loaded by the first `wrap_socket` / `wrap_bio` (what httpcore, asyncio, anyio and trio call to start TLS),
under a lock. One context serves every pool of the process, as an SSLContext may.
"""

from __future__ import annotations

import os
import ssl
import sys
import threading
from typing import Any, Optional

from . import _fork

__all__ = ["default_ssl_context"]

_context: Optional[DeferredVerifyContext] = None
_context_lock = threading.Lock()


class DeferredVerifyContext(ssl.SSLContext):
    """An `ssl.create_default_context()` client context whose CA certificates are loaded on first use."""

    _loaded = False

    def __new__(cls) -> DeferredVerifyContext:
        # SSLContext takes its protocol in __new__.
        return super().__new__(cls, ssl.PROTOCOL_TLS_CLIENT)

    def __init__(self) -> None:
        # What ssl.create_default_context(purpose=SERVER_AUTH) sets besides the certificates.
        self.verify_mode = ssl.CERT_REQUIRED
        self.check_hostname = True
        # create_default_context has set these two since Python 3.13
        if sys.version_info >= (3, 13):  # pragma: no cover - runs on Python 3.13+ only
            self.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN | ssl.VERIFY_X509_STRICT
        keylog = os.environ.get("SSLKEYLOGFILE")
        if keylog and not sys.flags.ignore_environment:
            self.keylog_filename = keylog
        self._load_lock = threading.Lock()

    def _load_certificates(self) -> None:
        with self._load_lock:
            if self._loaded:
                return
            # The CA source httpx's create_ssl_context(verify=True, trust_env=True) picks.
            if os.environ.get("SSL_CERT_FILE"):
                self.load_verify_locations(cafile=os.environ["SSL_CERT_FILE"])
            elif os.environ.get("SSL_CERT_DIR"):
                self.load_verify_locations(capath=os.environ["SSL_CERT_DIR"])
            else:
                import certifi

                self.load_verify_locations(cafile=certifi.where())
            self._loaded = True

    def wrap_socket(self, *args: Any, **kwargs: Any) -> ssl.SSLSocket:
        """`SSLContext.wrap_socket`, after loading the CA certificates if this is the first TLS connection."""
        if not self._loaded:
            self._load_certificates()
        return super().wrap_socket(*args, **kwargs)

    def wrap_bio(self, *args: Any, **kwargs: Any) -> ssl.SSLObject:
        """`SSLContext.wrap_bio`, after loading the CA certificates if this is the first TLS connection."""
        if not self._loaded:
            self._load_certificates()
        return super().wrap_bio(*args, **kwargs)


def default_ssl_context() -> ssl.SSLContext:
    """The process's deferred-verification context, created on first call (cheap: no certificate is read yet)."""
    global _context  # noqa: PLW0603 - one context per process, shared by every pool the SDK creates
    context = _context
    if context is None:
        with _context_lock:
            context = _context
            if context is None:
                context = _context = DeferredVerifyContext()
    return context


def _forget_unfinished_context() -> None:
    """In a forked child: new locks, and a new context unless the parent's had finished loading its certificates.

    A thread of the parent may have been inside either lock, or halfway through loading the certificates (OpenSSL
    does that without the GIL), when the process forked: that thread does not exist in the child, so its lock
    would stay held there forever and the half-loaded store would never be completed.
    """
    global _context, _context_lock  # noqa: PLW0603 - the child's own, as the docstring says
    _context_lock = threading.Lock()
    if _context is not None and not _context._loaded:
        _context = None


_fork.on_fork_in_child(_forget_unfinished_context)
