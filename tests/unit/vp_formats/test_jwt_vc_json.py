"""jwt_vp_json presentations and jwt_vc_json credentials (VCDM 1.1 §6.3.1, OpenID4VP App. A.1)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from service.did import did_key_from_jwk, resolve_did_key
from service.errors import (
    CredentialInvalid,
    DidResolutionFailed,
    HolderBindingFailed,
    PresentationInvalid,
    VerifierError,
)
from service.id_token import Holder
from service.jose.jwk import PublicJwk, jwk_thumbprint, public_jwk_from_key
from service.jose.jws import PrivateKey, sign_jws
from service.vp_formats.jwt_vc_json import (
    PresentationExpectations,
    VerifiedCredential,
    credential_issuer,
    decode_credential,
    decode_presentation,
    vcdm_view,
    verify_credential,
    verify_presentation,
)

NOW = 1_700_000_000
CLIENT_ID = "did:web:verifier.example.com"
NONCE = "n-0S6_WzA2Mj"
URN = "urn:ietf:params:oauth:jwk-thumbprint:sha-256:"
V1 = "https://www.w3.org/2018/credentials/v1"
MAX_LENGTH = 64 * 1024
ALGS = frozenset({"EdDSA", "ES256", "ES256K", "ES384", "ES512"})
DROP = object()
EXPECTED = PresentationExpectations(
    client_id=CLIENT_ID, nonce=NONCE, allowed_algs=ALGS, clock_skew=60, max_age=600, max_credentials=4
)
VECTOR = Path("/work/shared/vectors/jwt-vc/vcdm11-jwt-claim-mapping.json")


def _public(private_key: PrivateKey) -> PublicJwk:
    return public_jwk_from_key(private_key.public_key())


def _did_holder(private_key: PrivateKey) -> Holder:
    key = _public(private_key)
    did = did_key_from_jwk(key)
    return Holder(id=did, method="did", key=key, did=did, document=resolve_did_key(did))


def _thumbprint_holder(private_key: PrivateKey) -> Holder:
    key = _public(private_key)
    return Holder(id=URN + jwk_thumbprint(key), method="jwk_thumbprint", key=key, did=None, document=None)


def _kid(holder: Holder) -> str:
    assert holder.did is not None
    return f"{holder.did}#{holder.did.rsplit(':', maxsplit=1)[-1]}"


def _apply(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    merged = {**base, **overrides}
    return {name: value for name, value in merged.items() if value is not DROP}


def _vp_token(
    private_key: PrivateKey,
    holder: Holder,
    *,
    header: dict[str, Any] | None = None,
    vp: dict[str, Any] | object | None = None,
    **overrides: Any,
) -> str:
    if header is None:
        header = {"kid": _kid(holder), "typ": "JWT"} if holder.method == "did" else {"typ": "JWT"}
    vp_object = DROP
    if isinstance(vp, dict | None):
        vp_object = _apply(
            {"@context": [V1], "type": ["VerifiablePresentation"], "verifiableCredential": ["a.b.c"]},
            vp or {},
        )
    claims = _apply(
        {
            "iss": holder.id,
            "aud": CLIENT_ID,
            "nonce": NONCE,
            "iat": NOW - 5,
            "exp": NOW + 300,
            "vp": vp_object,
        },
        overrides,
    )
    return sign_jws(header, claims, private_key)


def _present(token: str, holder: Holder, expected: PresentationExpectations = EXPECTED) -> Any:
    jws = decode_presentation(token, max_length=MAX_LENGTH)
    return verify_presentation(jws, holder=holder, expected=expected, now=NOW)


def _reason(call: Callable[[], object], error: type[VerifierError]) -> str:
    with pytest.raises(error) as caught:
        call()
    return caught.value.reason


class Issuer:
    """A did:key issuer that signs VC JWTs."""

    def __init__(self) -> None:
        self.private_key = Ed25519PrivateKey.generate()
        self.key = _public(self.private_key)
        self.did = did_key_from_jwk(self.key)

    def credential(
        self,
        subject: str | None,
        *,
        header: dict[str, Any] | None = None,
        vc: dict[str, Any] | object | None = None,
        subject_claims: dict[str, Any] | None = None,
        **overrides: Any,
    ) -> str:
        credential_subject = {"ageOver18": True, **(subject_claims or {})}
        vc_object = DROP
        if isinstance(vc, dict | None):
            vc_object = _apply(
                {
                    "@context": [V1, "https://www.w3.org/2018/credentials/examples/v1"],
                    "type": ["VerifiableCredential", "AgeCredential"],
                    "credentialSubject": credential_subject,
                },
                vc or {},
            )
        claims = _apply(
            {"iss": self.did, "sub": subject, "nbf": NOW - 86400, "jti": "urn:uuid:1234", "vc": vc_object},
            overrides,
        )
        if subject is None:
            claims.pop("sub", None)
        return sign_jws(header or {"typ": "JWT"}, claims, self.private_key)

    def verify(self, token: str, holder: Holder, *, key: PublicJwk | None = None) -> VerifiedCredential:
        jws = decode_credential(token, max_length=MAX_LENGTH)
        return verify_credential(
            jws,
            issuer_key=key or self.key,
            holder=holder,
            allowed_algs=ALGS,
            now=NOW,
            clock_skew=60,
        )

    def reason(self, token: str, holder: Holder, error: type[VerifierError] = CredentialInvalid) -> str:
        return _reason(lambda: self.verify(token, holder), error)


@pytest.fixture
def holder_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def holder(holder_key: Ed25519PrivateKey) -> Holder:
    return _did_holder(holder_key)


@pytest.fixture
def issuer() -> Issuer:
    return Issuer()


class TestVerifyPresentation:
    def test_did_holder(self, holder_key: Ed25519PrivateKey, holder: Holder) -> None:
        """A VP JWT signed by the DID holder, with our nonce and audience, verifies with its credentials."""
        result = _present(
            _vp_token(holder_key, holder, vp={"verifiableCredential": ["x.y.z", "a.b.c"]}), holder
        )
        assert result.format == "jwt_vp_json"
        assert result.alg == "EdDSA"
        assert result.credentials == ("x.y.z", "a.b.c")
        assert result.documents[0]["vp"]["type"] == ["VerifiablePresentation"]

    def test_p256_did_holder(self) -> None:
        """A P-256 did:key holder's ES256 presentation verifies."""
        private_key = ec.generate_private_key(ec.SECP256R1())
        holder = _did_holder(private_key)
        assert _present(_vp_token(private_key, holder), holder).alg == "ES256"

    def test_thumbprint_holder_without_header_jwk(self, holder_key: Ed25519PrivateKey) -> None:
        """A thumbprint holder's VP verifies with the ID Token's sub_jwk."""
        holder = _thumbprint_holder(holder_key)
        assert _present(_vp_token(holder_key, holder), holder).credentials == ("a.b.c",)

    def test_thumbprint_holder_with_matching_header_jwk(self, holder_key: Ed25519PrivateKey) -> None:
        """A header jwk equal to the holder key is accepted."""
        holder = _thumbprint_holder(holder_key)
        header = {"typ": "JWT", "jwk": holder.key.to_dict()}
        assert _present(_vp_token(holder_key, holder, header=header, iss=DROP), holder).alg == "EdDSA"

    def test_thumbprint_holder_with_mismatching_header_jwk(self, holder_key: Ed25519PrivateKey) -> None:
        """A header jwk of another key is holder_binding.presentation_holder_mismatch."""
        holder = _thumbprint_holder(holder_key)
        other = _public(Ed25519PrivateKey.generate()).to_dict()
        token = _vp_token(holder_key, holder, header={"jwk": other})
        reason = _reason(lambda: _present(token, holder), HolderBindingFailed)
        assert reason == "holder_binding.presentation_holder_mismatch"

    @pytest.mark.parametrize("jwk", ["not-a-jwk", {"kty": "EC"}, {"kty": "OKP", "crv": "Ed25519", "x": "AA"}])
    def test_thumbprint_holder_with_unusable_header_jwk(
        self, holder_key: Ed25519PrivateKey, jwk: object
    ) -> None:
        """A header jwk that is not a usable key is a holder mismatch, never a crash."""
        holder = _thumbprint_holder(holder_key)
        token = _vp_token(holder_key, holder, header={"jwk": jwk})
        reason = _reason(lambda: _present(token, holder), HolderBindingFailed)
        assert reason == "holder_binding.presentation_holder_mismatch"

    def test_thumbprint_holder_signed_by_header_jwk_key(self, holder_key: Ed25519PrivateKey) -> None:
        """A VP signed by an attacker key named in the header jwk is refused."""
        holder = _thumbprint_holder(holder_key)
        attacker = Ed25519PrivateKey.generate()
        token = _vp_token(attacker, holder, header={"jwk": _public(attacker).to_dict()}, iss=DROP)
        with pytest.raises((HolderBindingFailed, PresentationInvalid)):
            _present(token, holder)

    def test_thumbprint_holder_with_other_iss(self, holder_key: Ed25519PrivateKey) -> None:
        """A thumbprint holder's VP whose iss names someone else is a holder mismatch."""
        holder = _thumbprint_holder(holder_key)
        token = _vp_token(holder_key, holder, iss="did:key:z6MkSomeoneElse")
        reason = _reason(lambda: _present(token, holder), HolderBindingFailed)
        assert reason == "holder_binding.presentation_holder_mismatch"

    def test_thumbprint_holder_iss_in_bare_form(self, holder_key: Ed25519PrivateKey) -> None:
        """A VP iss in the bare thumbprint form (accepted for the ID Token sub) names the same holder."""
        holder = _thumbprint_holder(holder_key)
        token = _vp_token(holder_key, holder, iss=holder.id.removeprefix(URN))
        assert _present(token, holder).alg == "EdDSA"

    def test_did_holder_vp_iss_differs(self, holder_key: Ed25519PrivateKey, holder: Holder) -> None:
        """A VP whose iss is not the ID Token's DID is holder_binding.presentation_holder_mismatch."""
        other = _did_holder(Ed25519PrivateKey.generate())
        token = _vp_token(holder_key, holder, iss=other.id)
        reason = _reason(lambda: _present(token, holder), HolderBindingFailed)
        assert reason == "holder_binding.presentation_holder_mismatch"

    def test_did_holder_vp_signed_by_another_key(self, holder: Holder) -> None:
        """A VP naming the holder but signed by another key is presentation.bad_signature."""
        token = _vp_token(Ed25519PrivateKey.generate(), holder)
        assert _reason(lambda: _present(token, holder), PresentationInvalid) == "presentation.bad_signature"

    def test_did_holder_kid_of_another_did(self, holder_key: Ed25519PrivateKey, holder: Holder) -> None:
        """A kid pointing into another DID document is did.key_not_found."""
        other = _did_holder(Ed25519PrivateKey.generate())
        token = _vp_token(holder_key, holder, header={"kid": _kid(other)})
        assert _reason(lambda: _present(token, holder), DidResolutionFailed) == "did.key_not_found"

    def test_vp_holder_differs(self, holder_key: Ed25519PrivateKey, holder: Holder) -> None:
        """vp.holder naming someone else is holder_binding.presentation_holder_mismatch."""
        token = _vp_token(holder_key, holder, vp={"holder": "did:key:z6MkOther"})
        reason = _reason(lambda: _present(token, holder), HolderBindingFailed)
        assert reason == "holder_binding.presentation_holder_mismatch"

    def test_vp_holder_equal_accepted(self, holder_key: Ed25519PrivateKey, holder: Holder) -> None:
        """vp.holder equal to the holder is accepted."""
        assert _present(_vp_token(holder_key, holder, vp={"holder": holder.id}), holder).alg == "EdDSA"

    def test_vp_missing(self, holder_key: Ed25519PrivateKey, holder: Holder) -> None:
        """A VP JWT without a vp claim is presentation.malformed."""
        token = _vp_token(holder_key, holder, vp=DROP)
        assert _reason(lambda: _present(token, holder), PresentationInvalid) == "presentation.malformed"

    @pytest.mark.parametrize(
        "vp_type", [["VerifiableCredential"], [], "Presentation", None, [["VerifiablePresentation"]]]
    )
    def test_vp_type_lacking_verifiable_presentation(
        self, holder_key: Ed25519PrivateKey, holder: Holder, vp_type: object
    ) -> None:
        """A vp whose type does not include VerifiablePresentation is presentation.malformed."""
        token = _vp_token(holder_key, holder, vp={"type": vp_type})
        assert _reason(lambda: _present(token, holder), PresentationInvalid) == "presentation.malformed"

    def test_vp_type_as_a_single_string_accepted(self, holder_key: Ed25519PrivateKey, holder: Holder) -> None:
        """type given as the string 'VerifiablePresentation' is accepted."""
        token = _vp_token(holder_key, holder, vp={"type": "VerifiablePresentation"})
        assert _present(token, holder).credentials == ("a.b.c",)

    def test_too_many_credentials(self, holder_key: Ed25519PrivateKey, holder: Holder) -> None:
        """More credentials than max_credentials is presentation.too_many_credentials."""
        token = _vp_token(holder_key, holder, vp={"verifiableCredential": ["a.b.c"] * 5})
        reason = _reason(lambda: _present(token, holder), PresentationInvalid)
        assert reason == "presentation.too_many_credentials"

    def test_exactly_max_credentials_accepted(self, holder_key: Ed25519PrivateKey, holder: Holder) -> None:
        """max_credentials credentials are accepted."""
        token = _vp_token(holder_key, holder, vp={"verifiableCredential": ["a.b.c"] * 4})
        assert len(_present(token, holder).credentials) == 4

    def test_single_credential_string(self, holder_key: Ed25519PrivateKey, holder: Holder) -> None:
        """verifiableCredential given as one string becomes a one-element tuple."""
        token = _vp_token(holder_key, holder, vp={"verifiableCredential": "x.y.z"})
        assert _present(token, holder).credentials == ("x.y.z",)

    @pytest.mark.parametrize("credentials", [[{"vc": {}}], [1], {"a": "b"}])
    def test_credentials_not_jwt_strings(
        self, holder_key: Ed25519PrivateKey, holder: Holder, credentials: object
    ) -> None:
        """Credentials that are not JWT strings are presentation.malformed."""
        token = _vp_token(holder_key, holder, vp={"verifiableCredential": credentials})
        assert _reason(lambda: _present(token, holder), PresentationInvalid) == "presentation.malformed"

    @pytest.mark.parametrize(
        ("overrides", "reason"),
        [
            ({"nonce": "other"}, "presentation.nonce_mismatch"),
            ({"nonce": DROP}, "presentation.nonce_missing"),
            ({"aud": "https://other.example"}, "presentation.audience_mismatch"),
            ({"exp": NOW - 61}, "presentation.expired"),
            ({"iat": NOW - 700}, "presentation.too_old"),
        ],
    )
    def test_request_binding_and_time(
        self, holder_key: Ed25519PrivateKey, holder: Holder, overrides: dict[str, Any], reason: str
    ) -> None:
        """Nonce, audience and time claims of the VP are checked."""
        token = _vp_token(holder_key, holder, **overrides)
        assert _reason(lambda: _present(token, holder), PresentationInvalid) == reason

    def test_exp_and_iat_optional(self, holder_key: Ed25519PrivateKey, holder: Holder) -> None:
        """A VP without exp and iat is accepted (VCDM makes them optional)."""
        assert _present(_vp_token(holder_key, holder, exp=DROP, iat=DROP), holder).alg == "EdDSA"

    @pytest.mark.parametrize("typ", ["vp+jwt", "vc+jwt", "jwt", "application/jwt", 1])
    def test_wrong_typ(self, holder_key: Ed25519PrivateKey, holder: Holder, typ: object) -> None:
        """A typ other than 'JWT' is presentation.wrong_typ at decode."""
        token = _vp_token(holder_key, holder, header={"kid": _kid(holder), "typ": typ})
        reason = _reason(lambda: decode_presentation(token, max_length=MAX_LENGTH), PresentationInvalid)
        assert reason == "presentation.wrong_typ"

    def test_typ_absent_accepted(self, holder_key: Ed25519PrivateKey, holder: Holder) -> None:
        """A VP without typ is accepted."""
        assert _present(_vp_token(holder_key, holder, header={"kid": _kid(holder)}), holder).alg == "EdDSA"


class TestVerifyCredential:
    def test_bound_to_did_holder(self, issuer: Issuer, holder: Holder) -> None:
        """A credential whose sub is the holder verifies with its issuer, types and subject."""
        result = issuer.verify(issuer.credential(holder.id), holder)
        assert result.format == "jwt_vc_json"
        assert result.alg == "EdDSA"
        assert result.issuer == issuer.did
        assert result.types == ("VerifiableCredential", "AgeCredential")
        assert result.subject == holder.id

    def test_decoded_document_has_subject_id(self, issuer: Issuer, holder: Holder) -> None:
        """The decoded VC view carries credentialSubject.id (sub), issuer (iss) and id (jti)."""
        result = issuer.verify(issuer.credential(holder.id), holder)
        payload, decoded = result.documents
        assert payload["vc"]["credentialSubject"] == {"ageOver18": True}
        assert decoded["credentialSubject"] == {"ageOver18": True, "id": holder.id}
        assert decoded["issuer"] == issuer.did
        assert decoded["id"] == "urn:uuid:1234"
        assert decoded["type"] == ["VerifiableCredential", "AgeCredential"]

    def test_subject_only_in_credential_subject(self, issuer: Issuer, holder: Holder) -> None:
        """Without sub, credentialSubject.id binds the credential."""
        token = issuer.credential(None, subject_claims={"id": holder.id})
        assert issuer.verify(token, holder).subject == holder.id

    def test_vc_missing(self, issuer: Issuer, holder: Holder) -> None:
        """A VC JWT without a vc claim is credential.malformed."""
        assert issuer.reason(issuer.credential(holder.id, vc=DROP), holder) == "credential.malformed"

    @pytest.mark.parametrize(
        "vc",
        [
            {"type": ["AgeCredential"]},
            {"type": "AgeCredential"},
            {"type": DROP},
            {"@context": ["https://www.w3.org/ns/credentials/v2"]},
            {"@context": V1},
            {"@context": []},
            {"@context": ["https://example.com/ctx", V1]},
            {"@context": DROP},
            {"credentialSubject": DROP},
            {"credentialSubject": [{"id": "x"}]},
        ],
    )
    def test_malformed_vc_object(self, issuer: Issuer, holder: Holder, vc: dict[str, Any]) -> None:
        """A vc lacking the VerifiableCredential type, a leading v1 @context or a subject is malformed."""
        assert issuer.reason(issuer.credential(holder.id, vc=vc), holder) == "credential.malformed"

    def test_issuer_string_conflict(self, issuer: Issuer, holder: Holder) -> None:
        """vc.issuer (string) differing from iss is credential.issuer_conflict."""
        token = issuer.credential(holder.id, vc={"issuer": "did:key:z6MkOther"})
        assert issuer.reason(token, holder) == "credential.issuer_conflict"

    def test_issuer_object_conflict(self, issuer: Issuer, holder: Holder) -> None:
        """vc.issuer.id (object form) differing from iss is credential.issuer_conflict."""
        token = issuer.credential(holder.id, vc={"issuer": {"id": "did:key:z6MkOther", "name": "X"}})
        assert issuer.reason(token, holder) == "credential.issuer_conflict"

    @pytest.mark.parametrize("form", ["string", "object"])
    def test_issuer_agreeing_accepted(self, issuer: Issuer, holder: Holder, form: str) -> None:
        """vc.issuer equal to iss, as a string or as an object id, is accepted."""
        vc_issuer: object = issuer.did if form == "string" else {"id": issuer.did, "name": "Age Authority"}
        assert (
            issuer.verify(issuer.credential(holder.id, vc={"issuer": vc_issuer}), holder).issuer == issuer.did
        )

    def test_issuer_missing(self, issuer: Issuer, holder: Holder) -> None:
        """A VC JWT without iss is credential.issuer_missing."""
        assert issuer.reason(issuer.credential(holder.id, iss=DROP), holder) == "credential.issuer_missing"

    def test_credential_issuer_reads_iss(self, issuer: Issuer, holder: Holder) -> None:
        """credential_issuer returns the iss claim used to look up the issuer's key."""
        assert (
            credential_issuer(decode_credential(issuer.credential(holder.id), max_length=MAX_LENGTH))
            == issuer.did
        )

    def test_id_conflict(self, issuer: Issuer, holder: Holder) -> None:
        """vc.id differing from jti is credential.id_conflict."""
        token = issuer.credential(holder.id, vc={"id": "urn:uuid:9999"})
        assert issuer.reason(token, holder) == "credential.id_conflict"

    def test_subject_conflict(self, issuer: Issuer, holder: Holder) -> None:
        """credentialSubject.id differing from sub is credential.subject_conflict."""
        token = issuer.credential(holder.id, subject_claims={"id": "did:key:z6MkOther"})
        assert issuer.reason(token, holder) == "credential.subject_conflict"

    def test_nbf_in_the_future(self, issuer: Issuer, holder: Holder) -> None:
        """nbf beyond now + skew is credential.not_yet_valid."""
        assert issuer.reason(issuer.credential(holder.id, nbf=NOW + 61), holder) == "credential.not_yet_valid"

    def test_exp_past(self, issuer: Issuer, holder: Holder) -> None:
        """exp more than the skew in the past is credential.expired."""
        assert issuer.reason(issuer.credential(holder.id, exp=NOW - 61), holder) == "credential.expired"

    def test_vc_expiration_date_past(self, issuer: Issuer, holder: Holder) -> None:
        """A credential whose vc.expirationDate has passed (and no exp claim) is refused."""
        token = issuer.credential(holder.id, vc={"expirationDate": "2020-01-01T00:00:00Z"})
        with pytest.raises(CredentialInvalid):
            issuer.verify(token, holder)

    def test_signed_by_another_key(self, issuer: Issuer, holder: Holder) -> None:
        """A credential checked with a key other than the signer's is credential.bad_signature."""
        token = issuer.credential(holder.id)
        other = _public(Ed25519PrivateKey.generate())
        reason = _reason(lambda: issuer.verify(token, holder, key=other), CredentialInvalid)
        assert reason == "credential.bad_signature"

    @pytest.mark.parametrize("typ", ["vc+jwt", "vc+sd-jwt", "dc+sd-jwt"])
    def test_wrong_typ(self, issuer: Issuer, holder: Holder, typ: str) -> None:
        """A typ other than 'JWT' is credential.wrong_typ at decode."""
        token = issuer.credential(holder.id, header={"typ": typ})
        reason = _reason(lambda: decode_credential(token, max_length=MAX_LENGTH), CredentialInvalid)
        assert reason == "credential.wrong_typ"

    def test_subject_missing(self, issuer: Issuer, holder: Holder) -> None:
        """A credential naming no subject and no cnf is holder_binding.subject_missing."""
        reason = issuer.reason(issuer.credential(None), holder, HolderBindingFailed)
        assert reason == "holder_binding.subject_missing"

    def test_subject_mismatch(self, issuer: Issuer, holder: Holder) -> None:
        """A credential issued to another subject is holder_binding.subject_mismatch."""
        other = _did_holder(Ed25519PrivateKey.generate())
        reason = issuer.reason(issuer.credential(other.id), holder, HolderBindingFailed)
        assert reason == "holder_binding.subject_mismatch"

    def test_cnf_binding_for_thumbprint_holder(self, issuer: Issuer, holder_key: Ed25519PrivateKey) -> None:
        """A subject-less credential whose cnf.jwk is the thumbprint holder's key is bound to it."""
        holder = _thumbprint_holder(holder_key)
        token = issuer.credential(None, cnf={"jwk": holder.key.to_dict()})
        result = issuer.verify(token, holder)
        assert result.subject is None
        assert result.issuer == issuer.did

    def test_cnf_of_another_key(self, issuer: Issuer, holder_key: Ed25519PrivateKey) -> None:
        """A cnf.jwk of another key does not bind: subject_missing without a subject."""
        holder = _thumbprint_holder(holder_key)
        token = issuer.credential(None, cnf={"jwk": _public(Ed25519PrivateKey.generate()).to_dict()})
        assert issuer.reason(token, holder, HolderBindingFailed) == "holder_binding.subject_missing"

    def test_thumbprint_subject_binds_thumbprint_holder(
        self, issuer: Issuer, holder_key: Ed25519PrivateKey
    ) -> None:
        """A credential whose sub is the holder's thumbprint URN is bound to the thumbprint holder."""
        holder = _thumbprint_holder(holder_key)
        assert issuer.verify(issuer.credential(holder.id), holder).subject == holder.id

    @pytest.mark.parametrize("exp", [10**12, 2**63])
    def test_far_future_exp_verifies(self, issuer: Issuer, holder: Holder, exp: int) -> None:
        """A credential valid until a far-future exp verifies (the decoded view must not crash on it)."""
        assert issuer.verify(issuer.credential(holder.id, exp=exp), holder).subject == holder.id

    def test_decoded_view_matches_the_vcdm_vector(self) -> None:
        """The decoded VC of the VCDM 1.1 claim-mapping vector (jti, iss, nbf, exp, sub) is as expected."""
        vector = json.loads(VECTOR.read_text())
        payload = vector["vc_jwt_payload_example"]
        signer = Ed25519PrivateKey.generate()
        token = sign_jws({"typ": "JWT"}, payload, signer)
        key = _public(signer)
        holder = Holder(id=payload["sub"], method="did", key=key, did=payload["sub"], document=None)
        result = verify_credential(
            decode_credential(token, max_length=MAX_LENGTH),
            issuer_key=key,
            holder=holder,
            allowed_algs=ALGS,
            now=payload["nbf"] + 10,
            clock_skew=60,
        )
        assert result.documents[1] == vector["expected_decoded_vc"]


def _xsd_reference(value: int | float) -> object:
    """What the VCDM view wrote for a NumericDate before the gmtime shortcut: datetime's own rendering."""
    try:
        return datetime.fromtimestamp(value, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (ValueError, OverflowError, OSError):
        return value


class TestVcdmViewDates:
    @settings(max_examples=500)
    @given(
        st.one_of(
            st.integers(min_value=-62_135_596_900, max_value=253_402_300_900),
            st.integers(),
            st.floats(allow_nan=False),
            st.sampled_from([-62_135_596_801, -62_135_596_800, 0, 253_402_300_799, 253_402_300_800]),
        )
    )
    def test_nbf_and_exp_read_as_datetime_writes_them(self, value: int | float) -> None:
        """issuanceDate / expirationDate come out exactly as datetime renders the NumericDate (or stay it)."""
        view = vcdm_view({"nbf": value, "exp": value, "vc": {}})
        assert view["issuanceDate"] == view["expirationDate"] == _xsd_reference(value)

    def test_whole_seconds_render_as_xsd_datetime(self) -> None:
        assert vcdm_view({"nbf": NOW, "vc": {}})["issuanceDate"] == "2023-11-14T22:13:20Z"
