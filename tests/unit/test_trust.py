"""The trust list: which issuers are trusted, with which keys, for which types; narrowing never widens."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from service.did import did_key_from_jwk
from service.errors import ConfigurationError
from service.jose.jwk import public_jwk_from_key
from service.trust import TrustList, load_trust_file, parse_trust_list

EC_JWK = public_jwk_from_key(ec.generate_private_key(ec.SECP256R1()).public_key())
ED_JWK = public_jwk_from_key(Ed25519PrivateKey.generate().public_key())
DID_ISSUER = did_key_from_jwk(ED_JWK)
WEB_ISSUER = "https://issuer.example.com"


def _trust(*issuers: dict[str, Any]) -> TrustList:
    return parse_trust_list(json.dumps({"issuers": list(issuers)}))


def _reason(data: str | bytes) -> str:
    with pytest.raises(ConfigurationError) as caught:
        parse_trust_list(data)
    return caught.value.reason


class TestParseTrustList:
    def test_did_issuer_without_jwks(self) -> None:
        """A DID issuer without jwks is trusted, with keys to come from its DID document."""
        issuer = _trust({"id": DID_ISSUER, "name": "Age Authority"}).lookup(DID_ISSUER)
        assert issuer is not None
        assert issuer.name == "Age Authority"
        assert issuer.pinned_keys is None
        assert issuer.credential_types is None

    def test_pinned_jwks(self) -> None:
        """Pinned keys are parsed and kept with their kids, in order."""
        jwks = {"keys": [{**EC_JWK.to_dict(), "kid": "k1"}, ED_JWK.to_dict()]}
        issuer = _trust({"id": WEB_ISSUER, "jwks": jwks}).lookup(WEB_ISSUER)
        assert issuer is not None
        assert issuer.pinned_keys == (("k1", EC_JWK), (None, ED_JWK))

    def test_did_issuer_with_pinned_jwks(self) -> None:
        """A DID issuer may pin keys, which then replace its DID document."""
        issuer = _trust({"id": DID_ISSUER, "jwks": {"keys": [ED_JWK.to_dict()]}}).lookup(DID_ISSUER)
        assert issuer is not None
        assert issuer.pinned_keys == ((None, ED_JWK),)

    def test_non_did_issuer_without_jwks(self) -> None:
        """A non-DID issuer without pinned jwks is a ConfigurationError (no key source)."""
        assert _reason(json.dumps({"issuers": [{"id": WEB_ISSUER}]})) == "config.trust"

    @pytest.mark.parametrize("jwks", [{"keys": []}, {"other": [{"kty": "EC"}]}, {}])
    def test_jwks_without_keys(self, jwks: dict[str, Any]) -> None:
        """A jwks without keys is a ConfigurationError."""
        assert _reason(json.dumps({"issuers": [{"id": WEB_ISSUER, "jwks": jwks}]})) == "config.trust"

    @pytest.mark.parametrize(
        "key",
        [
            {**EC_JWK.to_dict(), "d": "AAAA"},
            {"kty": "oct", "k": "c2VjcmV0"},
            {"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"},
            {"kty": "OKP", "crv": "X25519", "x": ED_JWK.to_dict()["x"]},
        ],
    )
    def test_unusable_pinned_key(self, key: dict[str, Any]) -> None:
        """A private, symmetric, malformed or non-signing pinned key fails start-up."""
        document = {"issuers": [{"id": WEB_ISSUER, "jwks": {"keys": [key]}}]}
        assert _reason(json.dumps(document)) == "config.trust"

    def test_duplicate_issuer(self) -> None:
        """The same issuer listed twice is a ConfigurationError."""
        document = {"issuers": [{"id": DID_ISSUER}, {"id": DID_ISSUER, "name": "again"}]}
        assert _reason(json.dumps(document)) == "config.trust"

    @pytest.mark.parametrize(
        "data",
        [
            "",
            "not json",
            "[]",
            "{}",
            '{"issuers": {}}',
            '{"issuers": [{"name": "no id"}]}',
            '{"issuers": [], "extra": 1}',
            '{"issuers": [{"id": "did:key:z", "unknown": true}]}',
        ],
    )
    def test_malformed_file(self, data: str) -> None:
        """Text that is not the trust-file shape, or has unknown members, is config.trust."""
        assert _reason(data) == "config.trust"

    def test_empty_list_trusts_nobody(self) -> None:
        """An empty issuers list parses and trusts no issuer."""
        assert _trust().lookup(DID_ISSUER) is None


class TestLookup:
    def test_unknown_issuer(self) -> None:
        """An issuer not in the list is not trusted."""
        assert _trust({"id": DID_ISSUER}).lookup("did:key:z6MkOther") is None

    def test_lookup_is_exact(self) -> None:
        """Lookup does not normalise: a trailing slash or case change is another issuer."""
        trust = _trust({"id": WEB_ISSUER, "jwks": {"keys": [EC_JWK.to_dict()]}})
        assert trust.lookup(WEB_ISSUER + "/") is None
        assert trust.lookup(WEB_ISSUER.upper()) is None

    def test_narrowed_to_a_listed_issuer(self) -> None:
        """A definition's narrower list keeps issuers that are in both lists."""
        trust = _trust({"id": DID_ISSUER}, {"id": WEB_ISSUER, "jwks": {"keys": [EC_JWK.to_dict()]}})
        issuer = trust.lookup(DID_ISSUER, narrowed_to=frozenset({DID_ISSUER}))
        assert issuer is not None
        assert issuer.id == DID_ISSUER

    def test_narrowing_excludes_others(self) -> None:
        """An issuer trusted globally but outside the definition's list is not trusted."""
        trust = _trust({"id": DID_ISSUER}, {"id": WEB_ISSUER, "jwks": {"keys": [EC_JWK.to_dict()]}})
        assert trust.lookup(WEB_ISSUER, narrowed_to=frozenset({DID_ISSUER})) is None

    def test_narrowing_never_widens(self) -> None:
        """A definition naming an issuer the trust file does not list cannot make it trusted."""
        trust = _trust({"id": DID_ISSUER})
        assert trust.lookup("did:key:z6MkOther", narrowed_to=frozenset({"did:key:z6MkOther"})) is None

    def test_empty_narrowing_trusts_nobody(self) -> None:
        """An empty narrowed list (as opposed to None) admits no issuer."""
        assert _trust({"id": DID_ISSUER}).lookup(DID_ISSUER, narrowed_to=frozenset()) is None


class TestAdmitsTypes:
    def test_unrestricted_issuer_admits_any_type(self) -> None:
        """Without credential_types an issuer is trusted for every type."""
        issuer = _trust({"id": DID_ISSUER}).lookup(DID_ISSUER)
        assert issuer is not None
        assert issuer.admits_types(["VerifiableCredential", "Anything"])

    def test_restricted_issuer(self) -> None:
        """With credential_types, one matching type admits the credential and none refuses it."""
        issuer = _trust({"id": DID_ISSUER, "credential_types": ["AgeCredential"]}).lookup(DID_ISSUER)
        assert issuer is not None
        assert issuer.admits_types(["VerifiableCredential", "AgeCredential"])
        assert not issuer.admits_types(["VerifiableCredential", "DriversLicense"])
        assert not issuer.admits_types([])

    def test_empty_credential_types_does_not_trust_everything(self) -> None:
        """An explicit empty credential_types list is refused or admits nothing; it never admits all."""
        try:
            trust = _trust({"id": DID_ISSUER, "credential_types": []})
        except ConfigurationError:
            return
        issuer = trust.lookup(DID_ISSUER)
        assert issuer is not None
        assert not issuer.admits_types(["VerifiableCredential", "AgeCredential"])


class TestLoadTrustFile:
    def test_no_file_trusts_nobody(self) -> None:
        """No configured file means an empty trust list."""
        assert load_trust_file(None).issuers == {}

    def test_reads_the_file(self, tmp_path: Path) -> None:
        """A trust file on disk is parsed."""
        path = tmp_path / "trust.json"
        path.write_text(json.dumps({"issuers": [{"id": DID_ISSUER}]}))
        assert load_trust_file(path).lookup(DID_ISSUER) is not None

    def test_missing_file(self, tmp_path: Path) -> None:
        """A configured file that does not exist is a ConfigurationError."""
        with pytest.raises(ConfigurationError):
            load_trust_file(tmp_path / "absent.json")

    def test_oversized_file(self, tmp_path: Path) -> None:
        """A file over 1 MiB is refused before it is parsed."""
        path = tmp_path / "big.json"
        path.write_bytes(b'{"issuers": []}' + b" " * (1024 * 1024))
        with pytest.raises(ConfigurationError):
            load_trust_file(path)
