"""Backend API authentication: bearer API keys, optionally none for loopback callers (sidecar)."""

from __future__ import annotations

import hmac
import ipaddress
from functools import lru_cache
from typing import Any

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Receive, Scope, Send

from service.errors import Unauthorized

__all__ = ["ApiKeyCheck", "api_key_middleware"]


class ApiKeyCheck:
    """Decides whether a backend request may pass; keys are compared in constant time."""

    def __init__(self, api_keys: tuple[str, ...], *, allow_loopback: bool) -> None:
        self._keys = tuple(key.encode() for key in api_keys)
        self._allow_loopback = allow_loopback

    def require(self, scope: Scope) -> None:
        """Raise ``Unauthorized`` unless the request carries a valid key (or comes from loopback, when
        allowed)."""
        client = scope.get("client")
        if self._allow_loopback and client is not None and _is_loopback(client[0]):
            return
        header = _authorization(scope)
        scheme, _sep, token = header.partition(b" ")
        if scheme.lower() != b"bearer" or not token:
            raise Unauthorized("api.unauthorized", "A bearer API key is required")
        presented = token.strip()
        # Compare against every key (no early exit) so timing does not tell which prefix matched.
        matched = False
        for key in self._keys:
            matched |= hmac.compare_digest(presented, key)
        if not matched:
            raise Unauthorized("api.unauthorized", "The API key is not valid")


def api_key_middleware(check: ApiKeyCheck) -> Any:
    """A Litestar middleware factory for the backend routes.

    A middleware rather than a Litestar guard: a guard call copies the route handler each time, which
    cost more than the rest of a request's authentication; the raw ASGI headers are read directly.
    """

    def factory(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == ScopeType.HTTP:
                check.require(scope)
            await app(scope, receive, send)

        return middleware

    return factory


def _authorization(scope: Scope) -> bytes:
    for name, value in scope["headers"]:
        if name == b"authorization":  # ASGI servers hand header names in lower case
            return bytes(value)
    return b""


@lru_cache(maxsize=1024)
def _is_loopback(host: str | None) -> bool:
    if host is None:
        return False
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
