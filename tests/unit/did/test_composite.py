"""The composite resolver: dispatch by method, the method allow-list, and its configuration checks."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from service.did import DidDocument, LocalDidResolver, did_jwk_from_jwk, did_key_from_jwk
from service.did.composite import SUPPORTED_METHODS, CompositeDidResolver
from service.did.did_web import DidWebResolver
from service.errors import ConfigurationError, DidResolutionFailed
from service.fetch import Fetched
from service.jose.jwk import public_jwk_from_key

WEB_DID = "did:web:example.com:alice"
ALL = frozenset({"key", "jwk", "web"})


class StubFetcher:
    """Serves one did:web document for any URL and records the URLs asked for."""

    def __init__(self) -> None:
        self.urls: list[str] = []

    async def get(self, url: str, *, accept: Sequence[str], ttl_hint: float | None = None) -> Fetched:
        self.urls.append(url)
        body = json.dumps({"id": WEB_DID, "verificationMethod": []}).encode()
        return Fetched(body, "application/did+json", 0.0, stale=False)


def composite(methods: frozenset[str] = ALL, *, web: bool = True) -> tuple[CompositeDidResolver, StubFetcher]:
    fetcher = StubFetcher()
    web_resolver = DidWebResolver(fetcher) if web else None  # type: ignore[arg-type]
    return CompositeDidResolver(local=LocalDidResolver(), web=web_resolver, methods=methods), fetcher


def resolve(resolver: CompositeDidResolver, did: str) -> DidDocument:
    return asyncio.run(resolver.resolve(did))


def reason_of(resolver: CompositeDidResolver, did: str) -> str:
    with pytest.raises(DidResolutionFailed) as caught:
        resolve(resolver, did)
    return caught.value.reason


class TestDispatch:
    def test_local_methods_resolve_without_the_network(self) -> None:
        """did:key and did:jwk are decoded locally; the fetcher is never asked."""
        resolver, fetcher = composite()
        jwk = public_jwk_from_key(Ed25519PrivateKey.generate().public_key())
        for did in (did_key_from_jwk(jwk), did_jwk_from_jwk(jwk)):
            assert resolve(resolver, did).verification_methods[0].public_key == jwk
        assert fetcher.urls == []

    def test_did_web_goes_to_the_web_resolver(self) -> None:
        """did:web is fetched at its mapped URL."""
        resolver, fetcher = composite()
        assert resolve(resolver, WEB_DID).id == WEB_DID
        assert fetcher.urls == ["https://example.com/alice/did.json"]

    @pytest.mark.parametrize("did", [WEB_DID, "did:example:123", "did:ion:abc"])
    def test_methods_outside_the_allow_list_are_refused_without_work(self, did: str) -> None:
        """A method that is not allowed is did.unsupported_method, and nothing is fetched."""
        resolver, fetcher = composite(frozenset({"key", "jwk"}), web=True)
        assert reason_of(resolver, did) == "did.unsupported_method"
        assert fetcher.urls == []

    def test_a_local_method_can_be_left_out(self) -> None:
        """The allow-list applies to local methods too."""
        resolver, _ = composite(frozenset({"key", "web"}))
        jwk = public_jwk_from_key(Ed25519PrivateKey.generate().public_key())
        assert reason_of(resolver, did_jwk_from_jwk(jwk)) == "did.unsupported_method"

    @pytest.mark.parametrize("did", ["did:web", "not-a-did", "did:WEB:example.com"])
    def test_malformed_dids_are_invalid(self, did: str) -> None:
        """Anything that is not a DID is did.invalid."""
        resolver, fetcher = composite()
        assert reason_of(resolver, did) == "did.invalid"
        assert fetcher.urls == []


class TestConfiguration:
    def test_web_allowed_without_a_resolver_fails_the_boot(self) -> None:
        """Allowing did:web with no network resolver is a configuration error."""
        with pytest.raises(ConfigurationError):
            composite(ALL, web=False)

    def test_unknown_methods_fail_the_boot(self) -> None:
        """Only the methods we implement can be allowed."""
        with pytest.raises(ConfigurationError):
            composite(frozenset({"key", "ion"}))

    def test_supported_methods(self) -> None:
        """did:key, did:jwk and did:web are the supported methods."""
        assert frozenset({"key", "jwk", "web"}) == SUPPORTED_METHODS

    def test_local_only_needs_no_web_resolver(self) -> None:
        """A deployment without did:web needs no fetcher."""
        resolver, _ = composite(frozenset({"key"}), web=False)
        jwk = public_jwk_from_key(Ed25519PrivateKey.generate().public_key())
        assert resolve(resolver, did_key_from_jwk(jwk)).id == did_key_from_jwk(jwk)
