"""The Self-Issued ID Token (SIOPv2 §11.1): subject classification, key selection, claims checks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from service.did import DidDocument, did_key_from_jwk, resolve_did_key
from service.errors import DidResolutionFailed, IdTokenInvalid, PresentationInvalid, VerifierError
from service.id_token import (
    Holder,
    IdTokenExpectations,
    check_audience,
    check_time_claims,
    inspect_id_token,
    verify_id_token,
)
from service.jose.jwk import jwk_thumbprint, public_jwk_from_key
from service.jose.jws import PrivateKey, TokenKind, sign_jws, unsigned_jwt

NOW = 1_700_000_000
CLIENT_ID = "did:web:verifier.example.com"
NONCE = "n-0S6_WzA2Mj"
URN = "urn:ietf:params:oauth:jwk-thumbprint:sha-256:"
MAX_LENGTH = 64 * 1024
DROP = object()
EXPECTED = IdTokenExpectations(
    client_id=CLIENT_ID,
    nonce=NONCE,
    allowed_algs=frozenset({"EdDSA", "ES256", "ES256K", "ES384", "ES512"}),
    subject_methods=frozenset({"key", "jwk"}),
    clock_skew=60,
    max_age=600,
)
KIND = TokenKind("t", PresentationInvalid)


def _claims(sub: object, overrides: dict[str, Any]) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "iss": sub,
        "sub": sub,
        "aud": CLIENT_ID,
        "nonce": NONCE,
        "iat": NOW - 5,
        "exp": NOW + 300,
    }
    claims.update(overrides)
    return {name: value for name, value in claims.items() if value is not DROP}


def _did_of(private_key: PrivateKey) -> str:
    return did_key_from_jwk(public_jwk_from_key(private_key.public_key()))


def _kid_of(did: str) -> str:
    return f"{did}#{did.rsplit(':', maxsplit=1)[-1]}"


def _did_token(private_key: PrivateKey, *, header: dict[str, Any] | None = None, **overrides: Any) -> str:
    did = _did_of(private_key)
    return sign_jws(header or {"kid": _kid_of(did)}, _claims(did, overrides), private_key)


def _thumbprint_token(private_key: PrivateKey, *, raw_form: bool = False, **overrides: Any) -> str:
    jwk = public_jwk_from_key(private_key.public_key())
    thumbprint = jwk_thumbprint(jwk)
    sub = thumbprint if raw_form else URN + thumbprint
    return sign_jws({}, _claims(sub, {"sub_jwk": jwk.to_dict(), **overrides}), private_key)


def _verify(
    token: str,
    *,
    document: DidDocument | None | object = DROP,
    expected: IdTokenExpectations = EXPECTED,
    now: float = NOW,
) -> Holder:
    subject = inspect_id_token(token, max_length=MAX_LENGTH)
    if document is DROP:
        document = resolve_did_key(subject.did) if subject.did else None
    return verify_id_token(subject, document=document, expected=expected, now=now)  # type: ignore[arg-type]


def _reason(call: Callable[[], object], error: type[VerifierError] = IdTokenInvalid) -> str:
    with pytest.raises(error) as caught:
        call()
    return caught.value.reason


def _verify_reason(token: str, **kwargs: Any) -> str:
    return _reason(lambda: _verify(token, **kwargs))


def _inspect_reason(token: str) -> str:
    return _reason(lambda: inspect_id_token(token, max_length=MAX_LENGTH))


@pytest.fixture
def ed25519() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


class TestValidTokens:
    @pytest.mark.parametrize("curve", [None, ec.SECP256R1()], ids=["ed25519", "p-256"])
    def test_did_key_subject(self, curve: ec.EllipticCurve | None) -> None:
        """A did:key ID Token verifies and yields a 'did' Holder with the DID's key and document."""
        private_key = Ed25519PrivateKey.generate() if curve is None else ec.generate_private_key(curve)
        did = _did_of(private_key)
        holder = _verify(_did_token(private_key))
        assert holder.id == did
        assert holder.method == "did"
        assert holder.did == did
        assert holder.key == public_jwk_from_key(private_key.public_key())
        assert holder.document is not None
        assert holder.document.id == did

    def test_did_subject_without_kid_uses_the_only_key(self, ed25519: Ed25519PrivateKey) -> None:
        """Without a kid, the single authentication key of the did:key document is used."""
        holder = _verify(_did_token(ed25519, header={"typ": "JWT"}))
        assert holder.key == public_jwk_from_key(ed25519.public_key())

    def test_relative_kid_accepted(self, ed25519: Ed25519PrivateKey) -> None:
        """A kid that is only '#fragment' is resolved relative to the subject DID."""
        did = _did_of(ed25519)
        holder = _verify(_did_token(ed25519, header={"kid": "#" + did.split(":")[-1]}))
        assert holder.did == did

    @pytest.mark.parametrize("raw_form", [False, True], ids=["urn", "raw"])
    def test_jwk_thumbprint_subject(self, ed25519: Ed25519PrivateKey, raw_form: bool) -> None:
        """A thumbprint subject (URN or bare form) verifies with sub_jwk; the Holder id is the URN form."""
        key = public_jwk_from_key(ed25519.public_key())
        holder = _verify(_thumbprint_token(ed25519, raw_form=raw_form))
        assert holder.id == URN + jwk_thumbprint(key)
        assert holder.method == "jwk_thumbprint"
        assert holder.key == key
        assert holder.did is None
        assert holder.document is None

    def test_inspect_classifies_without_verifying(self, ed25519: Ed25519PrivateKey) -> None:
        """inspect_id_token names the DID to resolve, even for a token with a wrong nonce."""
        token = _did_token(ed25519, nonce="other")
        subject = inspect_id_token(token, max_length=MAX_LENGTH)
        assert subject.method == "did"
        assert subject.did == subject.subject == _did_of(ed25519)


class TestSubject:
    def test_iss_differs_from_sub(self, ed25519: Ed25519PrivateKey) -> None:
        """iss != sub (and not a legacy self-issued issuer) means not self-issued: iss_sub_mismatch."""
        assert _inspect_reason(_did_token(ed25519, iss="https://op.example")) == "id_token.iss_sub_mismatch"

    @pytest.mark.parametrize("iss", ["https://self-issued.me", "https://self-issued.me/v2"])
    def test_legacy_issuers_refused_unless_enabled(self, ed25519: Ed25519PrivateKey, iss: str) -> None:
        """SIOP v1 / early SIOPv2 issuers are refused with their own reason while their profile is off."""
        assert _inspect_reason(_did_token(ed25519, iss=iss)) == "id_token.legacy_profile_disabled"

    def test_iss_missing(self, ed25519: Ed25519PrivateKey) -> None:
        """A token without iss is iss_sub_mismatch."""
        assert _inspect_reason(_did_token(ed25519, iss=DROP)) == "id_token.iss_sub_mismatch"

    @pytest.mark.parametrize("sub", [DROP, "", 5, None, ["did:key:z"]])
    def test_sub_missing_or_not_a_string(self, ed25519: Ed25519PrivateKey, sub: object) -> None:
        """A missing, empty or non-string sub is sub_missing."""
        token = sign_jws({}, _claims(sub, {"iss": "did:key:z"}), ed25519)
        assert _inspect_reason(token) == "id_token.sub_missing"

    @pytest.mark.parametrize(
        "sub",
        ["https://holder.example.com", "urn:ietf:params:oauth:jwk-thumbprint", "a" * 42, "a" * 44, "did"],
    )
    def test_unsupported_subject_syntax(self, ed25519: Ed25519PrivateKey, sub: str) -> None:
        """A sub that is neither a DID nor a JWK thumbprint is unsupported_subject_type."""
        token = sign_jws({}, _claims(sub, {}), ed25519)
        assert _inspect_reason(token) == "id_token.unsupported_subject_type"

    def test_sub_jwk_with_did_subject(self, ed25519: Ed25519PrivateKey) -> None:
        """sub_jwk next to a DID subject is sub_jwk_forbidden (SIOPv2 §8)."""
        jwk = public_jwk_from_key(ed25519.public_key()).to_dict()
        assert _inspect_reason(_did_token(ed25519, sub_jwk=jwk)) == "id_token.sub_jwk_forbidden"

    def test_thumbprint_subject_without_sub_jwk(self, ed25519: Ed25519PrivateKey) -> None:
        """A thumbprint subject without sub_jwk is sub_jwk_missing."""
        assert _verify_reason(_thumbprint_token(ed25519, sub_jwk=DROP)) == "id_token.sub_jwk_missing"

    def test_sub_jwk_not_an_object(self, ed25519: Ed25519PrivateKey) -> None:
        """A sub_jwk that is a string is sub_jwk_missing."""
        assert _verify_reason(_thumbprint_token(ed25519, sub_jwk="{}")) == "id_token.sub_jwk_missing"

    def test_sub_jwk_with_private_member(self, ed25519: Ed25519PrivateKey) -> None:
        """A sub_jwk carrying the private 'd' member is sub_jwk_invalid."""
        jwk = {**public_jwk_from_key(ed25519.public_key()).to_dict(), "d": "AAAA"}
        assert _verify_reason(_thumbprint_token(ed25519, sub_jwk=jwk)) == "id_token.sub_jwk_invalid"

    def test_thumbprint_mismatch(self, ed25519: Ed25519PrivateKey) -> None:
        """A sub that is the thumbprint of another key than sub_jwk is thumbprint_mismatch."""
        other = jwk_thumbprint(public_jwk_from_key(Ed25519PrivateKey.generate().public_key()))
        token = _thumbprint_token(ed25519, sub=URN + other, iss=URN + other)
        assert _verify_reason(token) == "id_token.thumbprint_mismatch"

    def test_sub_jwk_that_did_not_sign(self, ed25519: Ed25519PrivateKey) -> None:
        """A token signed by another key than sub_jwk is bad_signature."""
        other = public_jwk_from_key(Ed25519PrivateKey.generate().public_key())
        sub = URN + jwk_thumbprint(other)
        token = sign_jws({}, {"sub_jwk": other.to_dict(), **_claims(sub, {})}, ed25519)
        assert _verify_reason(token) == "id_token.bad_signature"


class TestAudience:
    def test_aud_string_mismatch(self, ed25519: Ed25519PrivateKey) -> None:
        """An aud naming another client is audience_mismatch."""
        assert (
            _verify_reason(_did_token(ed25519, aud="https://other.example")) == "id_token.audience_mismatch"
        )

    def test_aud_missing(self, ed25519: Ed25519PrivateKey) -> None:
        """A token without aud is audience_mismatch."""
        assert _verify_reason(_did_token(ed25519, aud=DROP)) == "id_token.audience_mismatch"

    def test_aud_array_with_only_us(self, ed25519: Ed25519PrivateKey) -> None:
        """A one-element aud array holding our client_id is accepted."""
        assert _verify(_did_token(ed25519, aud=[CLIENT_ID])).did == _did_of(ed25519)

    def test_aud_array_with_several_values_without_azp(self, ed25519: Ed25519PrivateKey) -> None:
        """Several audiences without azp are refused, even when one is us."""
        token = _did_token(ed25519, aud=[CLIENT_ID, "https://other.example"])
        assert _verify_reason(token) == "id_token.audience_mismatch"

    def test_aud_array_with_several_values_and_our_azp(self, ed25519: Ed25519PrivateKey) -> None:
        """Several audiences with azp == client_id are accepted (OIDC Core §3.1.3.7)."""
        token = _did_token(ed25519, aud=["https://other.example", CLIENT_ID], azp=CLIENT_ID)
        assert _verify(token).did == _did_of(ed25519)

    def test_aud_array_with_foreign_azp(self, ed25519: Ed25519PrivateKey) -> None:
        """Several audiences with azp naming someone else are refused."""
        token = _did_token(ed25519, aud=[CLIENT_ID, "https://other.example"], azp="https://other.example")
        assert _verify_reason(token) == "id_token.audience_mismatch"

    def test_aud_array_without_us(self, ed25519: Ed25519PrivateKey) -> None:
        """An aud array that does not hold our client_id is refused, whatever azp says."""
        token = _did_token(ed25519, aud=["https://other.example"], azp=CLIENT_ID)
        assert _verify_reason(token) == "id_token.audience_mismatch"

    @pytest.mark.parametrize(
        "aud", [CLIENT_ID.upper(), CLIENT_ID + "/", {"aud": CLIENT_ID}, [[CLIENT_ID]], None, ""]
    )
    def test_check_audience_is_exact(self, aud: object) -> None:
        """check_audience compares exactly: no case folding, no trailing slash, no nesting."""
        with pytest.raises(PresentationInvalid) as caught:
            check_audience({"aud": aud}, CLIENT_ID, kind=KIND)
        assert caught.value.reason == "t.audience_mismatch"


class TestNonce:
    def test_nonce_missing(self, ed25519: Ed25519PrivateKey) -> None:
        """A token without nonce is nonce_missing."""
        assert _verify_reason(_did_token(ed25519, nonce=DROP)) == "id_token.nonce_missing"

    @pytest.mark.parametrize("nonce", ["other", NONCE + " ", NONCE.upper(), ""])
    def test_nonce_mismatch(self, ed25519: Ed25519PrivateKey, nonce: str) -> None:
        """A nonce that is not exactly the request's is nonce_mismatch."""
        assert _verify_reason(_did_token(ed25519, nonce=nonce)) == "id_token.nonce_mismatch"

    def test_nonce_not_a_string(self, ed25519: Ed25519PrivateKey) -> None:
        """A numeric nonce is nonce_missing (only a string can match)."""
        assert _verify_reason(_did_token(ed25519, nonce=12345)) == "id_token.nonce_missing"


class TestTimeClaims:
    def test_exp_missing(self, ed25519: Ed25519PrivateKey) -> None:
        """A token without exp is exp_missing (OIDC Core requires it)."""
        assert _verify_reason(_did_token(ed25519, exp=DROP)) == "id_token.exp_missing"

    def test_exp_past_beyond_skew(self, ed25519: Ed25519PrivateKey) -> None:
        """exp more than the skew in the past is expired."""
        assert _verify_reason(_did_token(ed25519, exp=NOW - 61)) == "id_token.expired"

    def test_exp_within_skew_accepted(self, ed25519: Ed25519PrivateKey) -> None:
        """exp in the past but within the skew is accepted."""
        assert _verify(_did_token(ed25519, exp=NOW - 30)).did == _did_of(ed25519)

    def test_exp_boundary(self, ed25519: Ed25519PrivateKey) -> None:
        """At now == exp + skew the token is expired; one second earlier it is not."""
        token = _did_token(ed25519, exp=NOW - 60)
        assert _verify_reason(token) == "id_token.expired"
        assert _verify(token, now=NOW - 1).did == _did_of(ed25519)

    def test_iat_in_the_future_beyond_skew(self, ed25519: Ed25519PrivateKey) -> None:
        """iat more than the skew ahead of now is issued_in_future."""
        assert _verify_reason(_did_token(ed25519, iat=NOW + 61)) == "id_token.issued_in_future"

    def test_iat_in_the_future_within_skew_accepted(self, ed25519: Ed25519PrivateKey) -> None:
        """iat slightly ahead of now (within the skew) is accepted."""
        assert _verify(_did_token(ed25519, iat=NOW + 59)).did == _did_of(ed25519)

    def test_iat_older_than_max_age(self, ed25519: Ed25519PrivateKey) -> None:
        """iat older than max_age plus skew is too_old, even when exp is far ahead."""
        token = _did_token(ed25519, iat=NOW - 600 - 61, exp=NOW + 3600)
        assert _verify_reason(token) == "id_token.too_old"

    def test_iat_missing(self, ed25519: Ed25519PrivateKey) -> None:
        """A token without iat is iat_missing."""
        assert _verify_reason(_did_token(ed25519, iat=DROP)) == "id_token.iat_missing"

    @pytest.mark.parametrize("value", [True, "1700000300", [NOW], {"t": NOW}])
    def test_non_numeric_dates_malformed(self, ed25519: Ed25519PrivateKey, value: object) -> None:
        """A boolean, string, list or object exp is malformed, never coerced."""
        assert _verify_reason(_did_token(ed25519, exp=value)) == "id_token.malformed"

    def test_float_dates_accepted(self) -> None:
        """Fractional NumericDates are valid (RFC 7519 §2)."""
        check_time_claims({"exp": NOW + 0.5, "iat": NOW - 0.5}, now=NOW, skew=0, max_age=10, kind=KIND)

    def test_nbf_in_the_future(self) -> None:
        """nbf beyond now + skew is not_yet_valid; within the skew it is accepted."""
        with pytest.raises(PresentationInvalid) as caught:
            check_time_claims(
                {"nbf": NOW + 61},
                now=NOW,
                skew=60,
                max_age=None,
                kind=KIND,
                require_exp=False,
                require_iat=False,
            )
        assert caught.value.reason == "t.not_yet_valid"
        check_time_claims(
            {"nbf": NOW + 59}, now=NOW, skew=60, max_age=None, kind=KIND, require_exp=False, require_iat=False
        )

    def test_optional_claims_may_be_absent(self) -> None:
        """With exp and iat not required, an empty payload passes check_time_claims."""
        check_time_claims({}, now=NOW, skew=0, max_age=None, kind=KIND, require_exp=False, require_iat=False)


class TestDidKeySelection:
    def test_kid_of_another_did(self, ed25519: Ed25519PrivateKey) -> None:
        """A kid naming another DID's key is did.key_not_found: we never follow a kid elsewhere."""
        other = _did_of(Ed25519PrivateKey.generate())
        token = _did_token(ed25519, header={"kid": _kid_of(other)})
        assert _reason(lambda: _verify(token), DidResolutionFailed) == "did.key_not_found"

    def test_kid_with_unknown_fragment(self, ed25519: Ed25519PrivateKey) -> None:
        """A kid naming a fragment the document does not have is did.key_not_found."""
        did = _did_of(ed25519)
        token = _did_token(ed25519, header={"kid": did + "#nope"})
        assert _reason(lambda: _verify(token), DidResolutionFailed) == "did.key_not_found"

    def test_did_method_not_allowed(self, ed25519: Ed25519PrivateKey) -> None:
        """A DID method outside subject_methods is unsupported_subject_type."""
        expected = IdTokenExpectations(
            client_id=CLIENT_ID,
            nonce=NONCE,
            allowed_algs=EXPECTED.allowed_algs,
            subject_methods=frozenset({"jwk"}),
            clock_skew=60,
            max_age=600,
        )
        assert _verify_reason(_did_token(ed25519), expected=expected) == "id_token.unsupported_subject_type"

    def test_document_of_another_did(self, ed25519: Ed25519PrivateKey) -> None:
        """A resolved document whose id is not the subject is did_mismatch."""
        other = resolve_did_key(_did_of(Ed25519PrivateKey.generate()))
        assert _verify_reason(_did_token(ed25519), document=other) == "id_token.did_mismatch"

    def test_no_document_for_a_did_subject(self, ed25519: Ed25519PrivateKey) -> None:
        """A DID subject verified without a document is did_mismatch, never a crash."""
        assert _verify_reason(_did_token(ed25519), document=None) == "id_token.did_mismatch"

    def test_signed_by_a_key_not_in_the_document(self, ed25519: Ed25519PrivateKey) -> None:
        """A token naming the subject's key but signed by another key is bad_signature."""
        did = _did_of(ed25519)
        token = sign_jws({"kid": _kid_of(did)}, _claims(did, {}), Ed25519PrivateKey.generate())
        assert _verify_reason(token) == "id_token.bad_signature"

    def test_alg_outside_expectations(self) -> None:
        """An ES384 token is alg_not_allowed when the transaction allows only EdDSA and ES256."""
        private_key = ec.generate_private_key(ec.SECP384R1())
        expected = IdTokenExpectations(
            client_id=CLIENT_ID,
            nonce=NONCE,
            allowed_algs=frozenset({"EdDSA", "ES256"}),
            subject_methods=frozenset({"key"}),
            clock_skew=60,
            max_age=600,
        )
        assert _verify_reason(_did_token(private_key), expected=expected) == "id_token.alg_not_allowed"


class TestDecoding:
    def test_token_over_max_length(self, ed25519: Ed25519PrivateKey) -> None:
        """inspect_id_token enforces max_length as id_token.too_large."""
        token = _did_token(ed25519)
        with pytest.raises(IdTokenInvalid) as caught:
            inspect_id_token(token, max_length=len(token) - 1)
        assert caught.value.reason == "id_token.too_large"

    def test_unsigned_token_rejected(self, ed25519: Ed25519PrivateKey) -> None:
        """An alg none ID Token is id_token.alg_not_allowed."""
        token = unsigned_jwt({"kid": _kid_of(_did_of(ed25519))}, _claims(_did_of(ed25519), {}))
        assert _inspect_reason(token) == "id_token.alg_not_allowed"
