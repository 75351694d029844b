"""Issuer keys published as a JWK Set at a configured ``jwks_uri``, over the one cached fetcher."""

from __future__ import annotations

from service.errors import CredentialInvalid
from service.fetch import CachedFetcher, FetchRefused
from service.issuer_keys.metadata import IssuerKeys, parse_jwks
from service.strict_json import StrictJsonError, loads_strict

__all__ = ["FetchedJwks"]

_ACCEPT = ("application/jwk-set+json", "application/json")


class FetchedJwks:
    """Implements the verifier's ``JwksSource``: cached by Cache-Control, stale-if-error, coalesced."""

    def __init__(self, fetcher: CachedFetcher) -> None:
        self._fetcher = fetcher

    async def keys(self, uri: str) -> IssuerKeys:
        """The usable signing keys of the set (RFC 7517 §5); outages raise DependencyUnavailable."""
        try:
            body = (await self._fetcher.get(uri, accept=_ACCEPT)).body
        except FetchRefused as exc:
            raise CredentialInvalid(
                "issuer_keys.jwks_unusable", "The issuer's JWK Set cannot be fetched"
            ) from exc
        try:
            document = loads_strict(body)
        except StrictJsonError as exc:
            raise CredentialInvalid("issuer_keys.jwks_unusable", "The issuer's JWK Set is not JSON") from exc
        if not isinstance(document, dict):
            raise CredentialInvalid("issuer_keys.jwks_unusable", "The issuer's JWK Set is not an object")
        return parse_jwks(document)
