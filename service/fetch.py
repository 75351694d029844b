"""One cached, SSRF-safe GET for every document the verifier fetches (did.md §5, security.md §7).

did:web documents now, status lists next: the URL comes from a wallet or a credential, so it is
attacker-chosen. Every request goes through ``service.outbound`` (public addresses only after DNS
resolution, the connection pinned to the vetted address, time and size caps) and redirects are never
followed: a 3xx is a failure like any other non-200 answer. The body must carry one of the media types the
caller accepts (parameters such as ``charset`` are ignored); that is checked per caller at every get, since
the cache is per URL and the Accept header and ``ttl_hint`` of a shared fetch are those of its first caller.

Caching, per URL, in a bounded LRU:

- A good answer is fresh for ``s-maxage`` or ``max-age`` (RFC 9111 §5.2.2), else the caller's
  ``ttl_hint`` (e.g. a status list's own ``ttl``), else ``default_ttl``; always clamped to
  [``min_ttl``, ``max_ttl``]. ``no-store`` / ``no-cache`` count as ``min_ttl``: a floor that keeps a hostile
  server from turning us into a fetch amplifier. ``Age`` is not subtracted (we talk to origins only).
- Stale-if-error (RFC 5861 §4): once fresh time is over, a refresh that fails *transiently* (network, 5xx,
  429) within ``stale_if_error`` seconds of expiry serves the last good body with ``stale=True``. A
  permanent failure (4xx, refused, bad content) is never covered: a removed document must stop working.
- A failure is remembered for ``negative_ttl``; each later hit raises a fresh error of the same kind.
- Concurrent misses for one URL share one fetch: a task per URL, shielded so that one caller giving up
  does not cancel the fetch the others wait on.

Errors: :class:`FetchFailed` (503-class, retryable) and :class:`FetchRefused` (400-class: the referenced
resource is unusable). Callers re-raise them with their own reasons (``did.*``, ``status.*``).
Logs carry the host only, never the path, query or body.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, TypeAlias
from urllib.parse import urlsplit

import structlog

from service import outbound
from service.errors import ConfigurationError, DependencyUnavailable, InvalidRequest

if TYPE_CHECKING:
    from service.outbound import OutboundClient

__all__ = ["CachedFetcher", "FetchFailed", "FetchPolicy", "FetchRefused", "Fetched"]

_log = structlog.get_logger(__name__)

_OK: Final = 200
_TOO_MANY_REQUESTS: Final = 429


# --- Errors --- #


class FetchFailed(DependencyUnavailable):
    """The document could not be fetched right now (network, timeout, 5xx, 429); the caller may retry."""

    default_reason = "fetch.unreachable"
    default_description = "The document could not be retrieved"

    def __init__(
        self, reason: str | None = None, description: str | None = None, *, http_status: int | None = None
    ) -> None:
        super().__init__(reason, description)
        self.http_status = http_status  # the server's status code, when it answered at all


class FetchRefused(InvalidRequest):
    """The URL or its answer is unusable: refused destination, non-200, wrong media type, too large."""

    default_reason = "fetch.refused"
    default_description = "The document URL or its content is not acceptable"

    def __init__(
        self, reason: str | None = None, description: str | None = None, *, http_status: int | None = None
    ) -> None:
        super().__init__(reason, description)
        self.http_status = http_status  # e.g. 404 tells a caller the resource is gone


_FetchError: TypeAlias = FetchFailed | FetchRefused


# --- Policy and result --- #


@dataclass(frozen=True)
class FetchPolicy:
    """How long answers and failures are kept, in seconds, and how many URLs at most."""

    min_ttl: float = 60
    """Floor for any good answer, including ``no-store``: bounds how often one URL is fetched."""
    max_ttl: float = 3600
    """Ceiling for any good answer: a key rotation or revocation shows within this time."""
    default_ttl: float = 300
    """Lifetime when neither the response nor the caller says anything."""
    stale_if_error: float = 3600
    """How long after expiry a transient refresh failure may still be answered with the old body."""
    negative_ttl: float = 30
    """How long a failure is remembered before the URL is tried again."""
    max_entries: int = 4096
    """URLs kept at most; the least recently used goes first."""

    def __post_init__(self) -> None:
        if not 0 < self.min_ttl <= self.max_ttl or self.negative_ttl < 0 or self.stale_if_error < 0:
            raise ConfigurationError("config.fetch", "Fetch cache lifetimes are not valid")
        if self.max_entries < 1:
            raise ConfigurationError("config.fetch", "The fetch cache needs at least one entry")

    def clamp(self, ttl: float) -> float:
        """``ttl`` within [min_ttl, max_ttl]."""
        return min(max(ttl, self.min_ttl), self.max_ttl)


@dataclass(frozen=True, slots=True)
class Fetched:
    """A fetched body, its media type (lower case, no parameters), when it was fetched, and staleness."""

    body: bytes
    content_type: str
    fetched_at: float
    stale: bool


@dataclass(frozen=True, slots=True)
class _Failure:
    """What is kept of a failure: enough to raise a new error of the same kind, no traceback or body."""

    kind: type[FetchFailed] | type[FetchRefused]
    reason: str
    description: str
    http_status: int | None

    @classmethod
    def of(cls, error: _FetchError) -> _Failure:
        return cls(type(error), error.reason, error.description, error.http_status)

    def error(self) -> _FetchError:
        return self.kind(self.reason, self.description, http_status=self.http_status)


@dataclass(frozen=True, slots=True)
class _Entry:
    """One URL: the last good answer and until when it is fresh, or the failure of the last attempt."""

    until: float
    """End of freshness (good answer) or of the negative period (failure)."""
    good: Fetched | None
    """The last good answer; after a failure it is kept only for stale-if-error."""
    good_until: float
    """End of freshness of ``good``; the stale window is measured from here."""
    failure: _Failure | None = None


# --- The fetcher --- #


class CachedFetcher:
    """GET through the SSRF guard with a per-URL cache, stale-if-error and request coalescing."""

    def __init__(
        self,
        client: OutboundClient,
        outbound_policy: outbound.OutboundPolicy,
        *,
        clock: Callable[[], float],
        policy: FetchPolicy = FetchPolicy(),  # frozen, so one shared default is safe
        resolver: outbound.Resolver | None = None,
    ) -> None:
        self._client = client
        self._outbound = outbound_policy
        self._clock = clock
        self._policy = policy
        self._resolver = resolver
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._inflight: dict[str, asyncio.Task[_Entry]] = {}

    async def get(self, url: str, *, accept: Sequence[str], ttl_hint: float | None = None) -> Fetched:
        """The body at ``url`` (200, one of ``accept``), from the cache while fresh (security.md §7)."""
        host = _host_of(url)
        entry = self._lookup(url)
        if entry is not None:
            _log.debug("fetch.hit", host=host)
        else:
            _log.debug("fetch.miss", host=host)
            entry = await asyncio.shield(self._start(url, tuple(accept), ttl_hint))
        return _accepted(self._serve(entry, host), accept)

    def expire(self, url: str) -> None:
        """End the freshness of ``url`` now (the document's own lifetime says so); stale-if-error holds."""
        entry = self._entries.get(url)
        if entry is not None and entry.until > self._clock():
            now = self._clock()
            self._entries[url] = dataclasses.replace(entry, until=now, good_until=min(entry.good_until, now))

    # --- Cache --- #

    def _lookup(self, url: str) -> _Entry | None:
        """The entry while it holds (fresh answer or negative period); None means fetch again."""
        entry = self._entries.get(url)
        if entry is None:
            return None
        if entry.until <= self._clock():
            # Kept, not deleted: the old answer may still be served if the refresh fails transiently.
            return None
        self._entries.move_to_end(url)
        return entry

    def _serve(self, entry: _Entry, host: str) -> Fetched:
        if entry.failure is None and entry.good is not None:
            return entry.good
        if entry.good is not None and self._clock() <= entry.good_until + self._policy.stale_if_error:
            _log.warning("fetch.stale_served", host=host)
            return dataclasses.replace(entry.good, stale=True)
        assert entry.failure is not None  # an entry holds a good answer, a failure, or both
        raise entry.failure.error()

    def _store(self, url: str, entry: _Entry) -> None:
        self._entries[url] = entry
        self._entries.move_to_end(url)
        while len(self._entries) > self._policy.max_entries:
            self._entries.popitem(last=False)

    # --- Coalescing --- #

    def _start(self, url: str, accept: tuple[str, ...], ttl_hint: float | None) -> asyncio.Task[_Entry]:
        task = self._inflight.get(url)
        if task is None:
            task = asyncio.create_task(self._load(url, accept, ttl_hint))
            self._inflight[url] = task
            # A callback, not a finally: it also runs for a task cancelled before it ever started.
            task.add_done_callback(functools.partial(self._forget, url))
        return task

    def _forget(self, url: str, task: asyncio.Task[_Entry]) -> None:
        if self._inflight.get(url) is task:
            del self._inflight[url]
        if not task.cancelled():
            # Marks an unexpected exception as retrieved when every caller has given up (it still reaches
            # any caller that waits); _load itself turns every expected failure into an entry.
            task.exception()

    async def _load(self, url: str, accept: tuple[str, ...], ttl_hint: float | None) -> _Entry:
        try:
            fetched, ttl = await self._fetch(url, accept, ttl_hint)
        except (FetchFailed, FetchRefused) as exc:
            entry = self._failed(url, exc)
        else:
            until = fetched.fetched_at + ttl
            entry = _Entry(until, fetched, until)
        self._store(url, entry)
        return entry

    def _failed(self, url: str, error: _FetchError) -> _Entry:
        _log.warning("fetch.failed", host=_host_of(url), reason=error.reason, status=error.http_status)
        previous = self._entries.get(url)
        # Only a transient failure may fall back on the old answer (RFC 5861 §4 covers 5xx and no answer).
        good = previous.good if previous is not None and isinstance(error, FetchFailed) else None
        good_until = previous.good_until if previous is not None and good is not None else 0.0
        return _Entry(self._clock() + self._policy.negative_ttl, good, good_until, _Failure.of(error))

    # --- Fetching --- #

    async def _fetch(
        self, url: str, accept: tuple[str, ...], ttl_hint: float | None
    ) -> tuple[Fetched, float]:
        response = await self._request(url, accept)
        content_type = _check_response(response)
        ttl = self._ttl_of(response.headers.get("cache-control"), ttl_hint)
        return Fetched(response.body, content_type, self._clock(), stale=False), ttl

    async def _request(self, url: str, accept: tuple[str, ...]) -> outbound.OutboundResponse:
        try:
            return await outbound.request(
                self._client,
                "GET",
                url,
                policy=self._outbound,
                headers={"accept": ", ".join(accept)},
                resolver=self._resolver,
            )
        except outbound.OutboundRefused as exc:
            # The URL came from a wallet or a credential: a forbidden destination is the referrer's fault.
            raise FetchRefused("fetch.refused", "The document URL is not allowed") from exc
        except outbound.OutboundUnavailable as exc:
            raise FetchFailed("fetch.unreachable", "The document server could not be reached") from exc

    def _ttl_of(self, cache_control: str | None, ttl_hint: float | None) -> float:
        """Seconds of freshness: the response's, else the hint, else the default (RFC 9111 §5.2.2)."""
        fallback = self._policy.default_ttl if ttl_hint is None else ttl_hint
        return self._policy.clamp(_max_age(cache_control, fallback=fallback, floor=self._policy.min_ttl))


def _check_response(response: outbound.OutboundResponse) -> str:
    """The media type of a usable answer (200, complete); raise otherwise."""
    status = response.status
    if status == _TOO_MANY_REQUESTS or status >= 500:
        raise FetchFailed("fetch.unreachable", "The document server failed", http_status=status)
    if status != _OK:  # a 3xx included: redirects are never followed (did.md §5)
        raise FetchRefused("fetch.bad_status", "The document server did not answer 200", http_status=status)
    if response.truncated:
        raise FetchRefused("fetch.too_large", "The document is too large", http_status=status)
    return _media_type(response.headers.get("content-type", ""))


def _accepted(fetched: Fetched, accept: Sequence[str]) -> Fetched:
    """``fetched`` if its media type is one the caller accepts (checked per caller: the cache is per URL)."""
    if fetched.content_type not in {_media_type(item) for item in accept}:
        raise FetchRefused("fetch.bad_content_type", "The document has the wrong media type", http_status=_OK)
    return fetched


def _max_age(cache_control: str | None, *, fallback: float, floor: float) -> float:
    """``s-maxage`` or ``max-age`` in seconds; ``floor`` for no-store/no-cache; ``fallback`` if absent."""
    if cache_control is None:
        return fallback
    directives: dict[str, str] = {}
    for part in cache_control.split(","):
        name, _, value = part.partition("=")
        # The first occurrence wins; a repeated directive must not override an earlier one.
        directives.setdefault(name.strip().lower(), value.strip().strip('"'))
    if "no-store" in directives or "no-cache" in directives:
        return floor
    # A shared cache prefers s-maxage (RFC 9111 §5.2.2.10); our cache serves every transaction.
    for name in ("s-maxage", "max-age"):
        value = directives.get(name, "")
        if value.isascii() and value.isdigit():
            return float(value)
    return fallback


def _media_type(content_type: str) -> str:
    return content_type.partition(";")[0].strip().lower()


def _host_of(url: str) -> str:
    """The host for logs: never the path or query, which may identify a holder."""
    try:
        return urlsplit(url).hostname or "?"
    except ValueError:
        return "?"
