"""httpcore's connection pool with a linear bookkeeping pass, for the pools the SDK creates.

httpcore 1.0's pool re-runs `_assign_requests_to_connections` on every request start and end. For each idle
connection it builds a list of all the connections (to compare its length with the keep-alive limit), which
makes the pass quadratic in the pool's size; and it may give one idle HTTP/1.1 connection to several queued
requests in the same pass, all but one of which then fail with ConnectionNotAvailable and go round again (each
round another pass). At 64 calls in flight that bookkeeping was 40% of the async client's CPU per call.

`lean_pools` swaps the class of an SDK-created client's HTTP/1.1 pools for a subclass whose pass does the same
in one walk: the same connections are closed, expired or kept (the keep-alive test compares the same count), and
each queued request gets a connection no other request of the same pass got. httpx's transports stay as they are,
so pytest-httpx and respx still intercept the SDK's calls. Anything but httpcore 1.0's own pool (another
version, another transport, HTTP/2, whose connections serve several requests) is left alone.
"""

from __future__ import annotations

from typing import Any, List, Set

import httpcore

__all__ = ["lean_pools"]


def _assign_requests_to_connections(self: Any) -> List[Any]:
    """httpcore 1.0's pass (see its AsyncConnectionPool), linear in the connections and queued requests."""
    closing: List[Any] = []
    connections: List[Any] = self._connections
    # As httpcore does: drop closed connections, close expired ones, and close idle ones while the pool holds more
    # connections (idle or not, httpcore counts them all) than the keep-alive limit.
    for connection in list(connections):
        if connection.is_closed():
            connections.remove(connection)
        elif connection.has_expired() or (connection.is_idle() and len(connections) > self._max_keepalive_connections):
            connections.remove(connection)
            closing.append(connection)

    queued = []
    # An HTTP/1.1 connection serves one request: one given to a request, in this pass or an earlier one whose
    # request has not started on it yet (httpcore would still see it idle), is not available to another.
    given: Set[Any] = set()
    for request in self._requests:
        if request.connection is None:
            queued.append(request)
        else:
            given.add(request.connection)
    if not queued:
        return closing
    available = [connection for connection in connections if connection.is_available()]
    for pool_request in queued:
        origin = pool_request.request.url.origin
        connection = next((c for c in available if c not in given and c.can_handle_request(origin)), None)
        if connection is None:
            if len(connections) >= self._max_connections:
                idle = next((c for c in connections if c not in given and c.is_idle()), None)
                if idle is None:
                    continue  # the request waits for a connection to come free
                connections.remove(idle)
                closing.append(idle)
            connection = self.create_connection(origin)
            connections.append(connection)
        given.add(connection)
        pool_request.assign_to_connection(connection)
    return closing


class _LeanAsyncPool(httpcore.AsyncConnectionPool):
    _assign_requests_to_connections = _assign_requests_to_connections


class _LeanSyncPool(httpcore.ConnectionPool):
    _assign_requests_to_connections = _assign_requests_to_connections


_LEAN = {httpcore.AsyncConnectionPool: _LeanAsyncPool, httpcore.ConnectionPool: _LeanSyncPool}


def lean_pools(client: object) -> None:
    """Give the HTTP/1.1 connection pools of `client`, an httpx client the SDK created and has not used yet, the
    linear bookkeeping pass (see the module docstring); any other pool is left as it is."""
    if not httpcore.__version__.startswith("1.0."):
        return
    mounts = getattr(client, "_mounts", None)
    transports = [getattr(client, "_transport", None), *(mounts.values() if isinstance(mounts, dict) else ())]
    for transport in transports:
        pool = getattr(transport, "_pool", None)
        lean = _LEAN.get(type(pool))
        if lean is not None and not getattr(pool, "_http2", True):
            pool.__class__ = lean
