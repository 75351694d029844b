"""DID URL handling, local resolution with its cache, and verification-method selection."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from service.did import (
    DidDocument,
    LocalDidResolver,
    VerificationMethod,
    did_key_from_jwk,
    did_method,
    did_of,
    resolve_local,
    select_verification_method,
)
from service.did.multibase import base58btc_encode
from service.errors import ConfigurationError, DidResolutionFailed
from service.jose.encoding import b64url_encode
from service.jose.jwk import public_jwk_from_key


def _ed25519_did_key() -> str:
    return did_key_from_jwk(public_jwk_from_key(Ed25519PrivateKey.generate().public_key()))


def _p256_did_jwk(**extra: str) -> str:
    jwk = public_jwk_from_key(ec.generate_private_key(ec.SECP256R1()).public_key()).to_dict()
    return "did:jwk:" + b64url_encode(json.dumps({**jwk, **extra}).encode())


def _x25519_did_key() -> str:
    raw = X25519PrivateKey.generate().public_key().public_bytes_raw()
    return "did:key:z" + base58btc_encode(b"\xec\x01" + raw)


def _reason(call: Callable[[], object]) -> str:
    with pytest.raises(DidResolutionFailed) as caught:
        call()
    return caught.value.reason


class TestDidOf:
    @pytest.mark.parametrize(
        ("did_url", "did"),
        [
            ("did:key:z6Mkabc#z6Mkabc", "did:key:z6Mkabc"),
            ("did:jwk:eyJ9#0", "did:jwk:eyJ9"),
            ("did:web:example.com:user:alice?versionId=1#key-1", "did:web:example.com:user:alice"),
            ("did:web:example.com%3A3000/path/to#frag", "did:web:example.com%3A3000"),
            ("did:example:123", "did:example:123"),
        ],
    )
    def test_strips_path_query_and_fragment(self, did_url: str, did: str) -> None:
        """did_of keeps the DID and drops path, query and fragment."""
        assert did_of(did_url) == did

    @pytest.mark.parametrize(
        "did_url",
        [
            "",
            "did:",
            "did:key",
            "did:key:",
            "did:KEY:z6Mk",
            "DID:key:z6Mk",
            "did:key:z6Mk:",
            "did:key:z6 Mk",
            "did:key:%zz",
            "#z6Mk",
            "urn:ietf:params:oauth:jwk-thumbprint:sha-256:abc",
            "https://example.com/did.json",
            "did:key:" + "z" * 5000,
        ],
    )
    def test_rejects_non_dids(self, did_url: str) -> None:
        """Strings that are not DIDs (DID Core §3.1 syntax) or are too long are did.invalid."""
        assert _reason(lambda: did_of(did_url)) == "did.invalid"

    def test_did_method(self) -> None:
        """did_method names the method of a DID and refuses a DID URL."""
        assert did_method("did:web:example.com") == "web"
        assert _reason(lambda: did_method("did:web:example.com#key")) == "did.invalid"

    @pytest.mark.parametrize(
        "did",
        ["did:web:a%41", "did:web:%41%7e", "did:web:a::b", "did:web::a", "did:ex:a.b-c_d", "did:web:a%4F"],
    )
    def test_did_method_accepts_every_form_of_method_specific_id(self, did: str) -> None:
        """Percent-encoded triplets and empty segments before the last one are DID Core §3.1 syntax."""
        assert did_method(did) == did.split(":")[1]

    @pytest.mark.parametrize(
        "did", ["did:web:a%2", "did:web:a%%41", "did:web:a%4g", "did:web:%", "did:web:a%41:", "did:web:a:"]
    )
    def test_did_method_refuses_broken_percent_encoding_and_a_final_colon(self, did: str) -> None:
        """Every "%" opens a triplet of two hex digits, and the last segment is never empty."""
        assert _reason(lambda: did_method(did)) == "did.invalid"


class TestResolveLocal:
    def test_dispatches_did_key(self) -> None:
        """did:key DIDs are decoded by the did:key method."""
        did = _ed25519_did_key()
        assert resolve_local(did).verification_methods[0].id.startswith(did + "#z6Mk")

    def test_dispatches_did_jwk(self) -> None:
        """did:jwk DIDs are decoded by the did:jwk method."""
        did = _p256_did_jwk()
        assert resolve_local(did).verification_methods[0].id == did + "#0"

    @pytest.mark.parametrize("did", ["did:web:example.com", "did:example:123", "did:ion:abc"])
    def test_other_methods_unsupported(self, did: str) -> None:
        """Methods without a local decoder (did:web among them) are did.unsupported_method."""
        assert _reason(lambda: resolve_local(did)) == "did.unsupported_method"

    def test_did_url_refused(self) -> None:
        """A DID URL is not a DID: resolve_local refuses it with did.invalid."""
        did = _ed25519_did_key()
        assert _reason(lambda: resolve_local(did + "#" + did.removeprefix("did:key:"))) == "did.invalid"


class TestLocalDidResolver:
    def test_resolves_and_caches(self) -> None:
        """A second resolution of one DID returns the cached document object."""
        resolver = LocalDidResolver()
        did = _ed25519_did_key()
        first = asyncio.run(resolver.resolve(did))
        assert asyncio.run(resolver.resolve(did)) is first

    def test_cache_is_bounded_lru(self) -> None:
        """With room for one document, resolving another evicts the first."""
        resolver = LocalDidResolver(cache_size=1)
        first_did, second_did = _ed25519_did_key(), _p256_did_jwk()
        first = asyncio.run(resolver.resolve(first_did))
        asyncio.run(resolver.resolve(second_did))
        again = asyncio.run(resolver.resolve(first_did))
        assert again == first
        assert again is not first

    def test_recently_used_entry_survives(self) -> None:
        """Touching an entry makes the other one the eviction candidate."""
        resolver = LocalDidResolver(cache_size=2)
        a, b, c = _ed25519_did_key(), _ed25519_did_key(), _ed25519_did_key()
        doc_a = asyncio.run(resolver.resolve(a))
        doc_b = asyncio.run(resolver.resolve(b))
        asyncio.run(resolver.resolve(a))
        asyncio.run(resolver.resolve(c))
        assert asyncio.run(resolver.resolve(a)) is doc_a
        assert asyncio.run(resolver.resolve(b)) is not doc_b

    def test_method_allow_list(self) -> None:
        """A method left out of the allow-list is did.unsupported_method even though it decodes."""
        resolver = LocalDidResolver(methods=frozenset({"key"}))
        did = _p256_did_jwk()
        assert _reason(lambda: asyncio.run(resolver.resolve(did))) == "did.unsupported_method"

    def test_unknown_configured_method_fails_at_start(self) -> None:
        """Configuring a method that cannot resolve locally is a ConfigurationError."""
        with pytest.raises(ConfigurationError):
            LocalDidResolver(methods=frozenset({"key", "web"}))

    def test_negative_cache_size_fails_at_start(self) -> None:
        """A negative cache size is a ConfigurationError."""
        with pytest.raises(ConfigurationError):
            LocalDidResolver(cache_size=-1)

    def test_failures_propagate(self) -> None:
        """A malformed DID fails with did.invalid through the resolver."""
        assert _reason(lambda: asyncio.run(LocalDidResolver().resolve("did:key:z0OIl"))) == "did.invalid"


class TestSelectVerificationMethod:
    def test_absolute_kid(self) -> None:
        """An absolute kid of the document's own DID selects its method."""
        document = resolve_local(_ed25519_did_key())
        method = document.verification_methods[0]
        assert select_verification_method(document, method.id, relationship="authentication") is method

    def test_relative_kid(self) -> None:
        """A relative #fragment kid is resolved against the document's DID."""
        document = resolve_local(_p256_did_jwk())
        method = select_verification_method(document, "#0", relationship="assertionMethod")
        assert method.id == document.id + "#0"

    def test_no_kid_with_single_method(self) -> None:
        """Without a kid, the single method in the relationship is chosen."""
        document = resolve_local(_ed25519_did_key())
        method = select_verification_method(document, None, relationship="authentication")
        assert method is document.verification_methods[0]

    def test_kid_of_another_did_rejected(self) -> None:
        """A kid naming another DID is did.key_not_found, even if that DID's fragment looks the same."""
        document = resolve_local(_p256_did_jwk())
        other = _p256_did_jwk()
        assert (
            _reason(lambda: select_verification_method(document, other + "#0", relationship="authentication"))
            == "did.key_not_found"
        )

    @pytest.mark.parametrize("kid", ["#1", "#", "0", "", "key-1"])
    def test_unknown_kid_rejected(self, kid: str) -> None:
        """A kid that names no method of the document is did.key_not_found."""
        document = resolve_local(_p256_did_jwk())
        assert (
            _reason(lambda: select_verification_method(document, kid, relationship="authentication"))
            == "did.key_not_found"
        )

    def test_bare_did_as_kid_rejected(self) -> None:
        """A kid equal to the DID itself (no fragment) names no method: did.key_not_found."""
        document = resolve_local(_ed25519_did_key())
        assert (
            _reason(lambda: select_verification_method(document, document.id, relationship="authentication"))
            == "did.key_not_found"
        )

    def test_kid_not_in_relationship_rejected(self) -> None:
        """An encryption-only key (use=enc) is did.wrong_relationship for authentication."""
        document = resolve_local(_p256_did_jwk(use="enc"))
        assert (
            _reason(lambda: select_verification_method(document, "#0", relationship="authentication"))
            == "did.wrong_relationship"
        )

    def test_key_agreement_key_rejected(self) -> None:
        """An X25519 key is did.wrong_relationship for assertionMethod."""
        document = resolve_local(_x25519_did_key())
        kid = document.key_agreement_methods[0].id
        assert (
            _reason(lambda: select_verification_method(document, kid, relationship="assertionMethod"))
            == "did.wrong_relationship"
        )

    def test_no_kid_without_signing_method_rejected(self) -> None:
        """Without a kid and with no method in the relationship, the result is did.key_not_found."""
        document = resolve_local(_x25519_did_key())
        assert (
            _reason(lambda: select_verification_method(document, None, relationship="authentication"))
            == "did.key_not_found"
        )

    def test_no_kid_with_two_methods_rejected(self) -> None:
        """Without a kid, two candidate methods are ambiguous: did.key_not_found."""
        did = "did:example:two"
        methods = tuple(
            VerificationMethod(
                f"{did}#{index}",
                did,
                "JsonWebKey2020",
                public_jwk_from_key(Ed25519PrivateKey.generate().public_key()),
            )
            for index in range(2)
        )
        ids = frozenset(method.id for method in methods)
        document = DidDocument(did, methods, ids, ids, frozenset())
        assert (
            _reason(lambda: select_verification_method(document, None, relationship="authentication"))
            == "did.key_not_found"
        )
        assert select_verification_method(document, "#1", relationship="authentication") is methods[1]

    def test_relationships_are_separate(self) -> None:
        """A method only in assertionMethod is did.wrong_relationship for authentication."""
        did = "did:example:issuer"
        method = VerificationMethod(
            did + "#k", did, "JsonWebKey2020", public_jwk_from_key(Ed25519PrivateKey.generate().public_key())
        )
        document = DidDocument(did, (method,), frozenset(), frozenset({method.id}), frozenset())
        assert select_verification_method(document, "#k", relationship="assertionMethod") is method
        assert (
            _reason(lambda: select_verification_method(document, "#k", relationship="authentication"))
            == "did.wrong_relationship"
        )
