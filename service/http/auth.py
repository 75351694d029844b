"""Backend API authentication: bearer API keys, optionally none for loopback callers (sidecar)."""

from __future__ import annotations

import hmac
import ipaddress

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from service.errors import Unauthorized

__all__ = ["ApiKeyGuard"]


class ApiKeyGuard:
    """A Litestar guard; keys are compared in constant time.

    ``__call__`` is a coroutine although it never awaits: Litestar runs a synchronous guard in a worker
    thread, a hop that costs more than the guard itself (a header read and a constant-time compare).
    """

    def __init__(self, api_keys: tuple[str, ...], *, allow_loopback: bool) -> None:
        self._keys = tuple(key.encode() for key in api_keys)
        self._allow_loopback = allow_loopback

    async def __call__(self, connection: ASGIConnection, _: BaseRouteHandler) -> None:  # type: ignore[type-arg]
        """Refuse the request unless it carries a valid key (or comes from loopback, when allowed)."""
        if self._allow_loopback and _is_loopback(connection.client.host if connection.client else None):
            return
        header = connection.headers.get("authorization", "")
        scheme, _sep, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized("api.unauthorized", "A bearer API key is required")
        presented = token.strip().encode()
        # Compare against every key (no early exit) so timing does not tell which prefix matched.
        matched = False
        for key in self._keys:
            matched |= hmac.compare_digest(presented, key)
        if not matched:
            raise Unauthorized("api.unauthorized", "The API key is not valid")


def _is_loopback(host: str | None) -> bool:
    if host is None:
        return False
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
