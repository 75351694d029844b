"""The status-list port over the one cached, SSRF-guarded fetcher (``service.fetch``).

A list that cannot be fetched is an outage for the status policy to judge (``unknown`` or reject), except
a URL the guard refuses: that is a property of the credential, reported as refused.
"""

from __future__ import annotations

from collections.abc import Sequence

from service.errors import DependencyUnavailable, Forbidden
from service.fetch import CachedFetcher, FetchRefused

__all__ = ["FetchedStatusSource"]


class FetchedStatusSource:
    """Implements ``StatusListSource`` with caching (max-age, stale-if-error, coalesced misses)."""

    def __init__(self, fetcher: CachedFetcher) -> None:
        self._fetcher = fetcher

    async def fetch(self, uri: str, *, accept: Sequence[str]) -> bytes:
        """The list's bytes; outages raise DependencyUnavailable, refused URLs Forbidden."""
        try:
            return (await self._fetcher.get(uri, accept=accept)).body
        except FetchRefused as exc:
            if exc.reason == "fetch.refused":
                raise Forbidden("status.uri_refused", "The status list URL is not allowed") from exc
            # A 404, a wrong media type, an oversized list: no answer about this credential can be had.
            raise DependencyUnavailable("status.unreachable", "The status list could not be fetched") from exc
