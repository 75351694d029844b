"""The holder key from ``cnf`` and the Key Binding JWT (RFC 9901 §4.3, §7.3 step 5)."""

from __future__ import annotations

import functools
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from service.errors import CredentialInvalid, KeyBindingInvalid
from service.jose.jwk import PublicJwk, public_jwk_from_key
from service.jose.jws import PrivateKey, sign_jws
from service.sd_jwt import (
    KeyBindingExpectations,
    SdJwtPresentation,
    holder_key_from_cnf,
    split_presentation,
    verify_key_binding,
)
from tests.unit.sd_jwt import digest, disclosure

NOW = 1_700_000_000
CLIENT_ID = "x509_san_dns:verifier.example.org"
NONCE = "n-0S6_WzA2Mj"
EXPECTED = KeyBindingExpectations(
    client_id=CLIENT_ID, nonce=NONCE, allowed_algs=frozenset({"ES256", "EdDSA"}), clock_skew=60, max_age=300
)
ISSUER_JWT = "eyJhbGciOiJFUzI1NiJ9.eyJfc2QiOltdfQ.c2ln"
SD_JWT = f"{ISSUER_JWT}~{disclosure('s1', 'a', 1)}~{disclosure('s2', 'b', 2)}~"
DROP = object()


@functools.cache
def _holder() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@functools.cache
def _other() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _public(key: PrivateKey) -> PublicJwk:
    return public_jwk_from_key(key.public_key())


def _kb_jwt(
    sd_jwt: str = SD_JWT,
    *,
    key: PrivateKey | None = None,
    header: dict[str, Any] | None = None,
    **claims: Any,
) -> str:
    payload = {"iat": NOW, "aud": CLIENT_ID, "nonce": NONCE, "sd_hash": digest(sd_jwt)}
    payload.update(claims)
    payload = {name: value for name, value in payload.items() if value is not DROP}
    return sign_jws({"typ": "kb+jwt"} if header is None else header, payload, key or _holder())


def _verify(presentation: SdJwtPresentation | str, *, sd_alg: str = "sha-256", now: float = NOW) -> None:
    if isinstance(presentation, str):
        presentation = split_presentation(presentation)
    verify_key_binding(presentation, holder_key=_public(_holder()), sd_alg=sd_alg, expected=EXPECTED, now=now)


def _reason(presentation: SdJwtPresentation | str, **options: Any) -> str:
    with pytest.raises(KeyBindingInvalid) as caught:
        _verify(presentation, **options)
    return caught.value.reason


class TestValidKeyBinding:
    def test_accepted(self) -> None:
        """A KB-JWT with the right typ, key, audience, nonce, fresh iat and sd_hash verifies."""
        _verify(SD_JWT + _kb_jwt())

    def test_no_disclosures(self) -> None:
        """sd_hash covers "<jwt>~" when nothing is disclosed."""
        _verify(f"{ISSUER_JWT}~" + _kb_jwt(f"{ISSUER_JWT}~"))

    def test_iat_inside_the_window(self) -> None:
        """iat may be up to max_age (+ skew) old, or up to skew ahead."""
        _verify(SD_JWT + _kb_jwt(), now=NOW + 300 + 60)
        _verify(SD_JWT + _kb_jwt(), now=NOW - 60)

    def test_future_exp_and_extra_claims(self) -> None:
        """exp in the future and OpenID4VP transaction data claims do not disturb the checks."""
        _verify(SD_JWT + _kb_jwt(exp=NOW + 60, transaction_data_hashes=["x"]))

    @pytest.mark.parametrize("alg", ["sha-384", "sha-512"])
    def test_sd_hash_uses_the_sd_alg(self, alg: str) -> None:
        """sd_hash is computed with the SD-JWT's _sd_alg (RFC 9901 §4.3.1)."""
        _verify(SD_JWT + _kb_jwt(sd_hash=digest(SD_JWT, alg)), sd_alg=alg)

    def test_eddsa_holder(self) -> None:
        """Any allowed holder key type works."""
        key = Ed25519PrivateKey.generate()
        presentation = split_presentation(SD_JWT + _kb_jwt(key=key))
        verify_key_binding(
            presentation, holder_key=_public(key), sd_alg="sha-256", expected=EXPECTED, now=NOW
        )


class TestRejected:
    def test_missing(self) -> None:
        """A presentation ending in "~" has no KB-JWT (RFC 9901 §7.3 step 2)."""
        assert _reason(SD_JWT) == "key_binding.missing"

    @pytest.mark.parametrize("typ", [DROP, "JWT", "KB+JWT", "dc+sd-jwt", "application/kb+jwt", ["kb+jwt"]])
    def test_wrong_typ(self, typ: object) -> None:
        """typ must be exactly kb+jwt (RFC 9901 §4.3; explicit typing, §9.11)."""
        header = {} if typ is DROP else {"typ": typ}
        assert _reason(SD_JWT + _kb_jwt(header=header)) == "key_binding.wrong_typ"

    def test_signed_by_another_key(self) -> None:
        """Only the cnf key may sign the KB-JWT."""
        assert _reason(SD_JWT + _kb_jwt(key=_other())) == "key_binding.bad_signature"

    def test_algorithm_not_allowed(self) -> None:
        """The alg allow-list applies to the KB-JWT."""
        key = ec.generate_private_key(ec.SECP384R1())
        presentation = split_presentation(SD_JWT + _kb_jwt(key=key))
        with pytest.raises(KeyBindingInvalid) as caught:
            verify_key_binding(
                presentation, holder_key=_public(key), sd_alg="sha-256", expected=EXPECTED, now=NOW
            )
        assert caught.value.reason == "key_binding.alg_not_allowed"

    def test_algorithm_does_not_match_the_key(self) -> None:
        """An EdDSA KB-JWT cannot be checked against the EC cnf key."""
        assert _reason(SD_JWT + _kb_jwt(key=Ed25519PrivateKey.generate())) == "key_binding.alg_key_mismatch"

    def test_not_a_jws(self) -> None:
        """A KB-JWT that is not a compact JWS is malformed."""
        assert _reason(SD_JWT + "not-a-jwt") == "key_binding.malformed"

    def test_unsigned(self) -> None:
        """alg none is never acceptable (RFC 9901 §4.3)."""
        assert (
            _reason(SD_JWT + "eyJhbGciOiJub25lIiwidHlwIjoia2Irand0In0.e30.") == "key_binding.alg_not_allowed"
        )

    @pytest.mark.parametrize(
        ("claims", "now", "reason"),
        [
            ({"iat": DROP}, NOW, "key_binding.iat_missing"),
            ({"iat": "1700000000"}, NOW, "key_binding.malformed"),
            ({}, NOW - 61, "key_binding.issued_in_future"),
            ({}, NOW + 361, "key_binding.too_old"),
            ({"exp": NOW - 61}, NOW, "key_binding.expired"),
        ],
        ids=["iat-missing", "iat-string", "future", "stale", "expired"],
    )
    def test_time_claims(self, claims: dict[str, Any], now: float, reason: str) -> None:
        """iat is REQUIRED and within our window; exp, if present, not passed (RFC 9901 §7.3 step 5)."""
        assert _reason(SD_JWT + _kb_jwt(**claims), now=now) == reason

    @pytest.mark.parametrize("aud", [DROP, "https://other.example", [CLIENT_ID], [CLIENT_ID, "x"], None])
    def test_audience(self, aud: object) -> None:
        """aud is a single string equal to our client_id; an array is refused (RFC 9901 §4.3)."""
        assert _reason(SD_JWT + _kb_jwt(aud=aud)) == "key_binding.audience_mismatch"

    @pytest.mark.parametrize(
        ("nonce", "reason"),
        [
            (DROP, "key_binding.nonce_missing"),
            (7, "key_binding.nonce_missing"),
            ("n", "key_binding.nonce_mismatch"),
        ],
    )
    def test_nonce(self, nonce: object, reason: str) -> None:
        """nonce echoes the request nonce (replay protection, RFC 9901 §7.3 step 5)."""
        assert _reason(SD_JWT + _kb_jwt(nonce=nonce)) == reason

    @pytest.mark.parametrize("sd_hash", [DROP, 1, None])
    def test_sd_hash_missing(self, sd_hash: object) -> None:
        """sd_hash is REQUIRED (RFC 9901 §4.3)."""
        assert _reason(SD_JWT + _kb_jwt(sd_hash=sd_hash)) == "key_binding.sd_hash_missing"

    def test_sd_hash_over_other_disclosures(self) -> None:
        """Dropping a Disclosure after signing breaks sd_hash: the KB-JWT binds the presented set."""
        kb_jwt = _kb_jwt()
        stripped = SD_JWT.split("~")
        assert _reason("~".join([stripped[0], stripped[1], ""]) + kb_jwt) == "key_binding.sd_hash_mismatch"

    def test_sd_hash_without_trailing_tilde(self) -> None:
        """The hash input ends with "~" (RFC 9901 §4.3.1): a hash over the bare prefix does not match."""
        assert _reason(SD_JWT + _kb_jwt(sd_hash=digest(SD_JWT[:-1]))) == "key_binding.sd_hash_mismatch"

    def test_sd_hash_with_another_alg(self) -> None:
        """A sha-256 sd_hash does not satisfy an SD-JWT whose _sd_alg is sha-512."""
        assert _reason(SD_JWT + _kb_jwt(), sd_alg="sha-512") == "key_binding.sd_hash_mismatch"

    def test_non_ascii_sd_hash(self) -> None:
        """A non-ASCII sd_hash is simply a mismatch."""
        assert _reason(SD_JWT + _kb_jwt(sd_hash="é" * 43)) == "key_binding.sd_hash_mismatch"


class TestHolderKeyFromCnf:
    def test_jwk(self) -> None:
        """cnf.jwk becomes a validated public key (RFC 7800 §3.2)."""
        public = _public(_holder())
        assert holder_key_from_cnf({"jwk": public.to_dict()}) == public

    def test_jwk_wins_over_kid(self) -> None:
        """A kid next to a jwk only names it."""
        public = _public(_holder())
        assert holder_key_from_cnf({"jwk": public.to_dict(), "kid": "did:example:1#k"}) == public

    def test_kid_did_url(self) -> None:
        """cnf.kid holding a DID URL is returned for the caller to resolve."""
        did = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"
        kid = f"{did}#{did.removeprefix('did:key:')}"
        assert holder_key_from_cnf({"kid": kid}) == kid

    @pytest.mark.parametrize("cnf", [None, {}, {"jku": "https://holder.example/jwks"}, {"x5t#S256": "abc"}])
    def test_missing(self, cnf: object) -> None:
        """No cnf, or none of the supported members."""
        with pytest.raises(CredentialInvalid) as caught:
            holder_key_from_cnf(cnf)
        assert caught.value.reason == "sd_jwt.cnf_missing"

    @pytest.mark.parametrize(
        "cnf",
        [
            "jwk",
            ["jwk"],
            {"jwk": "key"},
            {"jwk": {"kty": "EC"}},
            {"jwk": {"kty": "oct", "k": "c2VjcmV0"}},
            {"kid": "key-1"},
            {"kid": 1},
        ],
        ids=["string", "array", "jwk-string", "jwk-incomplete", "jwk-symmetric", "kid-not-did", "kid-int"],
    )
    def test_invalid(self, cnf: object) -> None:
        """Unusable cnf content is refused."""
        with pytest.raises(CredentialInvalid) as caught:
            holder_key_from_cnf(cnf)
        assert caught.value.reason == "sd_jwt.cnf_invalid"

    def test_private_jwk_refused(self) -> None:
        """A cnf.jwk with private members is refused, never used."""
        key = ec.generate_private_key(ec.SECP256R1())
        members = dict(_public(key).to_dict())
        members["d"] = "Ur2bNKuBPOrAaxsRnbSH6hIhmNTxSGXshDSUD1a1y7g"
        with pytest.raises(CredentialInvalid) as caught:
            holder_key_from_cnf({"jwk": members})
        assert caught.value.reason == "sd_jwt.cnf_invalid"
