"""Issuer keys from JWT VC Issuer Metadata (SD-JWT VC -18 §3), fetched through the SSRF guard and cached.

For an ``iss`` that is an https URL, the keys live at ``https://<host>/.well-known/jwt-vc-issuer<path>``:
a JSON object whose ``issuer`` equals ``iss`` exactly and which carries exactly one of ``jwks`` (inline) or
``jwks_uri`` (fetched the same guarded way). ``iss`` comes from the credential, so it is attacker-chosen:
every fetch goes through ``service.outbound`` (https only, public addresses only, no redirects, time and
size caps; SD-JWT VC -18 §6.1), and the JSON is decoded strictly and checked before any key is used.

Caching (security.md §7): a good answer is kept for ``ttl`` seconds, or for the response's
``Cache-Control: max-age`` clamped to [60 s, 3600 s] (``no-store``/``no-cache`` count as 60 s: a floor
that keeps a hostile issuer from turning us into a fetch amplifier). A failure is kept for
``negative_ttl``. Concurrent misses for one ``iss`` share one fetch, and the cache is a bounded LRU.

Errors: a credential that names unusable metadata is ``CredentialInvalid`` with an ``issuer_metadata.*``
reason; a network failure or a 5xx/429 is :class:`IssuerMetadataUnavailable` (503, retryable).
"""

from __future__ import annotations

import asyncio
import functools
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, TypeAlias
from urllib.parse import SplitResult, urlsplit

from service import outbound
from service.errors import (
    ConfigurationError,
    CredentialInvalid,
    DependencyUnavailable,
    MalformedKey,
    VerifierError,
)
from service.jose.jwk import PublicJwk, parse_public_jwk
from service.strict_json import StrictJsonError, loads_strict

if TYPE_CHECKING:
    from service.outbound import OutboundClient

__all__ = [
    "IssuerKeys",
    "IssuerMetadataResolver",
    "IssuerMetadataUnavailable",
    "metadata_url",
    "parse_jwks",
]

IssuerKeys: TypeAlias = tuple[tuple[str | None, PublicJwk], ...]
"""The issuer's signing keys as ``(kid, key)`` pairs, in the order the JWKS lists them."""

_WELL_KNOWN: Final = "/.well-known/jwt-vc-issuer"
_JSON: Final = "application/json"
_JWK_SET: Final = "application/jwk-set+json"  # RFC 7517 §8.5.1
_MIN_TTL: Final = 60.0
_MAX_TTL: Final = 3600.0
# Every key costs a curve or modulus check; no issuer needs more than a handful during a rotation.
_MAX_KEYS: Final = 32


class IssuerMetadataUnavailable(DependencyUnavailable):
    """The issuer metadata or its JWKS could not be fetched; the caller may retry (SD-JWT VC -18 §3)."""

    default_reason = "issuer_metadata.unreachable"
    default_description = "The issuer metadata could not be retrieved"


def metadata_url(iss: str, *, allow_http: bool = False) -> str:
    """The metadata URL: the well-known segment between host and path of ``iss`` (SD-JWT VC -18 §3.1)."""
    parts = _split_issuer(iss, allow_http=allow_http)
    path = parts.path.removesuffix("/")  # "any terminating /" goes, as in RFC 8414 §3.1
    return f"{parts.scheme}://{parts.netloc}{_WELL_KNOWN}{path}"


def _split_issuer(iss: str, *, allow_http: bool) -> SplitResult:
    try:
        parts = urlsplit(iss)
    except ValueError as exc:
        raise CredentialInvalid("issuer_metadata.invalid_issuer", "The issuer is not a URL") from exc
    if parts.scheme != "https" and not (allow_http and parts.scheme == "http"):
        raise CredentialInvalid("issuer_metadata.not_https", "The issuer is not an https URL")
    # An issuer identifier names a host and a path, nothing else (cf. RFC 8414 §2).
    if not parts.netloc or "@" in parts.netloc or "?" in iss or "#" in iss:
        raise CredentialInvalid("issuer_metadata.invalid_issuer", "The issuer URL has no host or extra parts")
    return parts


@dataclass(frozen=True, slots=True)
class _Entry:
    """One cache slot: the keys, or the error to raise afresh, until ``expires``."""

    expires: float
    keys: IssuerKeys
    error: VerifierError | None = None

    def unwrap(self) -> IssuerKeys:
        if self.error is not None:
            # A new instance per raise (re-raising one stored instance would grow its traceback at every
            # hit); the stored one stays attached as the cause, so logs keep the outbound reason.
            raise type(self.error)(self.error.reason, self.error.description) from self.error
        return self.keys


def _detached(error: VerifierError) -> VerifierError:
    """``error`` with the tracebacks of its chain dropped: a cached error must not pin frames and bodies."""
    link: BaseException | None = error
    seen: set[int] = set()
    while link is not None and id(link) not in seen:  # an explicit "raise ... from" can form a loop
        seen.add(id(link))
        link.__traceback__ = None
        link = link.__cause__ or link.__context__
    return error


class IssuerMetadataResolver:
    """Fetches and caches issuer keys from JWT VC Issuer Metadata (SD-JWT VC -18 §3)."""

    def __init__(
        self,
        client: OutboundClient,
        policy: outbound.OutboundPolicy,
        *,
        clock: Callable[[], float],
        ttl: float = 300,
        negative_ttl: float = 30,
        max_entries: int = 1024,
        resolver: outbound.Resolver | None = None,
    ) -> None:
        if ttl <= 0 or negative_ttl < 0 or max_entries < 1:
            raise ConfigurationError("config.issuer_metadata", "Issuer metadata cache settings are not valid")
        self._client = client
        self._policy = policy
        self._clock = clock
        self._ttl = ttl
        self._negative_ttl = negative_ttl
        self._max_entries = max_entries
        self._resolver = resolver
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._inflight: dict[str, asyncio.Task[_Entry]] = {}

    async def keys(self, iss: str) -> IssuerKeys:
        """The signing keys of ``iss`` as ``(kid, key)`` pairs, cached (SD-JWT VC -18 §3)."""
        entry = self._cached(iss)
        if entry is None:
            task = self._inflight.get(iss)
            if task is None:
                task = asyncio.create_task(self._load(iss))
                self._inflight[iss] = task
                # A callback, not a finally: it also runs for a task cancelled before it ever started.
                task.add_done_callback(functools.partial(self._forget, iss))
            # Shielded: one caller giving up must not cancel the fetch the others are waiting on.
            entry = await asyncio.shield(task)
        return entry.unwrap()

    # --- Cache --- #

    def _cached(self, iss: str) -> _Entry | None:
        entry = self._entries.get(iss)
        if entry is None:
            return None
        if entry.expires <= self._clock():
            del self._entries[iss]
            return None
        self._entries.move_to_end(iss)
        return entry

    def _store(self, iss: str, entry: _Entry) -> None:
        self._entries[iss] = entry
        self._entries.move_to_end(iss)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    def _forget(self, iss: str, task: asyncio.Task[_Entry]) -> None:
        if self._inflight.get(iss) is task:
            del self._inflight[iss]

    async def _load(self, iss: str) -> _Entry:
        try:
            keys, ttl = await self._fetch(iss)
            entry = _Entry(self._clock() + ttl, keys)
        except (CredentialInvalid, DependencyUnavailable) as exc:
            entry = _Entry(self._clock() + self._negative_ttl, (), _detached(exc))
        self._store(iss, entry)
        return entry

    # --- Fetching --- #

    async def _fetch(self, iss: str) -> tuple[IssuerKeys, float]:
        url = metadata_url(iss, allow_http=self._policy.allow_http)
        document, ttl = await self._get_json(url, accept=(_JSON,))
        jwks = _jwks_or_uri(document, iss)
        if isinstance(jwks, str):
            self._check_jwks_uri(jwks)
            jwks, jwks_ttl = await self._get_json(jwks, accept=(_JWK_SET, _JSON))
            ttl = min(ttl, jwks_ttl)
        return parse_jwks(jwks), ttl

    def _check_jwks_uri(self, uri: str) -> None:
        scheme = uri.partition(":")[0]
        if scheme != "https" and not (self._policy.allow_http and scheme == "http"):
            raise CredentialInvalid("issuer_metadata.invalid", "jwks_uri is not an https URL")

    async def _get_json(self, url: str, *, accept: tuple[str, ...]) -> tuple[Mapping[str, Any], float]:
        response = await self._get(url, accept=", ".join(accept))
        if response.status == 429 or response.status >= 500:
            raise IssuerMetadataUnavailable("issuer_metadata.unreachable", "The issuer server failed")
        if response.status != 200:  # a 3xx included: redirects are never followed (SD-JWT VC -18 §6.1)
            raise CredentialInvalid("issuer_metadata.bad_status", "The issuer server did not answer 200")
        if response.truncated:
            raise CredentialInvalid("issuer_metadata.too_large", "The issuer document is too large")
        if _media_type(response.headers.get("content-type", "")) not in accept:
            raise CredentialInvalid("issuer_metadata.invalid", "The issuer document is not JSON")
        try:
            document = loads_strict(response.body)
        except StrictJsonError as exc:
            raise CredentialInvalid(
                "issuer_metadata.invalid", "The issuer document is not valid JSON"
            ) from exc
        if not isinstance(document, dict):
            raise CredentialInvalid("issuer_metadata.invalid", "The issuer document is not a JSON object")
        return document, self._ttl_of(response.headers.get("cache-control"))

    async def _get(self, url: str, *, accept: str) -> outbound.OutboundResponse:
        try:
            return await outbound.request(
                self._client,
                "GET",
                url,
                policy=self._policy,
                headers={"accept": accept},
                resolver=self._resolver,
            )
        except outbound.OutboundRefused as exc:
            # The URL came from the credential, so a forbidden destination is the credential's fault.
            raise CredentialInvalid("issuer_metadata.refused", "The issuer URL is not allowed") from exc
        except outbound.OutboundUnavailable as exc:
            raise IssuerMetadataUnavailable() from exc

    def _ttl_of(self, cache_control: str | None) -> float:
        """Seconds to keep a good answer: max-age clamped to [60, 3600], else ``ttl`` (RFC 9111 §5.2)."""
        if cache_control is None:
            return self._ttl
        directives = [part.strip().lower() for part in cache_control.split(",")]
        if "no-store" in directives or "no-cache" in directives:
            return _MIN_TTL
        for directive in directives:
            name, _, value = directive.partition("=")
            if name.strip() == "max-age" and value.strip().isdigit():
                return min(max(float(value.strip()), _MIN_TTL), _MAX_TTL)
        return self._ttl


# --- Documents --- #


def _media_type(content_type: str) -> str:
    return content_type.partition(";")[0].strip().lower()


def _jwks_or_uri(document: Mapping[str, Any], iss: str) -> Mapping[str, Any] | str:
    """``jwks`` or ``jwks_uri`` of metadata whose ``issuer`` is exactly ``iss`` (SD-JWT VC -18 §3.2, §3.3)."""
    if document.get("issuer") != iss:
        raise CredentialInvalid("issuer_metadata.issuer_mismatch", "The metadata names another issuer")
    if ("jwks" in document) == ("jwks_uri" in document):
        raise CredentialInvalid("issuer_metadata.invalid", "The metadata needs exactly one of jwks, jwks_uri")
    if "jwks" in document:
        jwks = document["jwks"]
        if not isinstance(jwks, dict):
            raise CredentialInvalid("issuer_metadata.invalid", "jwks is not a JSON object")
        return jwks
    uri = document["jwks_uri"]
    if not isinstance(uri, str):
        raise CredentialInvalid("issuer_metadata.invalid", "jwks_uri is not a string")
    return uri


def parse_jwks(jwks: Mapping[str, Any]) -> IssuerKeys:
    """The usable signing keys of a JWK Set; others are skipped, none at all is an error (RFC 7517 §5)."""
    members = jwks.get("keys")
    if not isinstance(members, list) or len(members) > _MAX_KEYS:
        raise CredentialInvalid("issuer_metadata.invalid", "The JWK Set has no usable keys list")
    keys = tuple(key for key in map(_signing_key, members) if key is not None)
    if not keys:
        raise CredentialInvalid("issuer_metadata.invalid", "The JWK Set has no usable signing key")
    return keys


def _signing_key(member: object) -> tuple[str | None, PublicJwk] | None:
    """``(kid, key)`` for a public signing JWK; None for one we cannot or must not use for signatures."""
    if not isinstance(member, dict) or member.get("use") == "enc":
        return None
    kid, ops = member.get("kid"), member.get("key_ops")
    if kid is not None and not isinstance(kid, str):
        return None
    if ops is not None and (not isinstance(ops, list) or "verify" not in ops):
        return None
    try:
        return kid, parse_public_jwk(member)
    except MalformedKey as exc:
        if exc.reason == "key.private_material":
            # Publishing a private key is a broken issuer, not an unknown key type to step over.
            raise CredentialInvalid("issuer_metadata.invalid", "The JWK Set holds private keys") from exc
        return None
