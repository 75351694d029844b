"""The status-list port over the one cached, SSRF-guarded fetcher (``service.fetch``).

A list that cannot be fetched is an outage for the status policy to judge (``unknown`` or reject), except
a URL the guard refuses: that is a property of the credential, reported as refused. A list's own ``exp``
and ``ttl`` take priority over HTTP caching headers (TSL §8.2, §11.5): a cached list past either is
fetched again before it is used.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from service.errors import DependencyUnavailable, Forbidden, MalformedResponse
from service.fetch import CachedFetcher, Fetched, FetchRefused
from service.jose.encoding import b64url_decode

__all__ = ["FetchedStatusSource"]


class FetchedStatusSource:
    """Implements ``StatusListSource`` with caching (max-age, stale-if-error, coalesced misses)."""

    def __init__(self, fetcher: CachedFetcher, *, clock: Callable[[], float]) -> None:
        self._fetcher = fetcher
        self._clock = clock

    async def fetch(self, uri: str, *, accept: Sequence[str]) -> bytes:
        """The list's bytes; outages raise DependencyUnavailable, refused URLs Forbidden."""
        fetched = await self._get(uri, accept)
        if self._outlived(fetched):
            self._fetcher.expire(uri)
            fetched = await self._get(uri, accept)
        return fetched.body

    async def _get(self, uri: str, accept: Sequence[str]) -> Fetched:
        try:
            return await self._fetcher.get(uri, accept=accept)
        except FetchRefused as exc:
            if exc.reason == "fetch.refused":
                raise Forbidden("status.uri_refused", "The status list URL is not allowed") from exc
            # A 404, a wrong media type, an oversized list: no answer about this credential can be had.
            raise DependencyUnavailable("status.unreachable", "The status list could not be fetched") from exc

    def _outlived(self, fetched: Fetched) -> bool:
        """True when the cached list's own ``exp`` has passed or its ``ttl`` has run out since the fetch."""
        if fetched.stale:
            return False  # already the fallback of a failed refresh: refetching now would fail again
        claims = _peek_claims(fetched.body)
        now = self._clock()
        exp, ttl = _number(claims.get("exp")), _number(claims.get("ttl"))
        if exp is not None and exp <= now:
            return True
        return ttl is not None and ttl > 0 and fetched.fetched_at + ttl <= now


def _number(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def _peek_claims(body: bytes) -> Mapping[str, Any]:
    """The unverified claims of a compact JWT, for cache decisions only (verification happens after)."""
    parts = body.split(b".")
    if len(parts) != 3:
        return {}
    try:
        claims = json.loads(b64url_decode(parts[1].decode("ascii")))
    except (MalformedResponse, UnicodeDecodeError, ValueError, RecursionError):
        return {}
    return claims if isinstance(claims, dict) else {}
