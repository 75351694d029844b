"""SD-JWT VC presentations: typ and iss, issuer signature, validity, vct, cnf = ID Token holder, KB-JWT.

RFC 9901 §7.1/§7.3, SD-JWT VC -18 §2 and our holder-binding policy (siopv2.md §7): the ``cnf`` key must be
the key behind the ID Token's subject. The SD-JWTs are built by the test actors (no service code).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from service.did import DidDocument, VerificationMethod, resolve_did_jwk, resolve_did_key
from service.errors import (
    CredentialInvalid,
    HolderBindingFailed,
    KeyBindingInvalid,
    VerifierError,
)
from service.id_token import Holder
from service.jose.jwk import jwk_thumbprint, parse_public_jwk
from service.vp_formats.sd_jwt_vc import (
    InspectedSdJwt,
    SdJwtExpectations,
    VerifiedSdJwt,
    inspect_sd_jwt,
    verify_sd_jwt_vc,
)
from tests.e2e.actors import DELETE, IssuedSdJwt, KeyPair, SdJwtIssuer, present

NOW = 1_700_000_000
CLIENT_ID = "x509_san_dns:verifier.example.org"
NONCE = "n-0S6_WzA2Mj"
ISS = "https://issuer.example"
VCT = "urn:example:age:1"
URN = "urn:ietf:params:oauth:jwk-thumbprint:sha-256:"
MAX_LENGTH = 64 * 1024
EXPECTED = SdJwtExpectations(
    client_id=CLIENT_ID,
    nonce=NONCE,
    issuer_algs=frozenset({"EdDSA", "ES256"}),
    holder_algs=frozenset({"ES256", "EdDSA"}),
    clock_skew=60,
    key_binding_max_age=120,
)

ISSUER_KEY = KeyPair.generate("ed25519")
HOLDER_KEY = KeyPair.generate("p256")
OTHER_KEY = KeyPair.generate("p256")
SECOND_KEY = KeyPair.generate("ed25519")
ISSUER = SdJwtIssuer(ISSUER_KEY, ISS, now=lambda: NOW)
ISSUER_PUBLIC = parse_public_jwk(ISSUER_KEY.public_jwk())

CLAIMS = {
    "given_name": "Erika",
    "age_over_18": True,
    "address": {"country": "DE", "locality": "Berlin"},
    "nationalities": ["DE", "FR"],
}
SD = ("given_name", "age_over_18", ("address", "locality"), ("nationalities", 1))


# --- Holders (what a verified ID Token yields) --- #


def _did_key_holder(key: KeyPair = HOLDER_KEY) -> Holder:
    did = key.did_key()
    return Holder(
        id=did, method="did", key=parse_public_jwk(key.public_jwk()), did=did, document=resolve_did_key(did)
    )


def _did_jwk_holder(key: KeyPair = HOLDER_KEY) -> Holder:
    did = key.did_jwk()
    return Holder(
        id=did, method="did", key=parse_public_jwk(key.public_jwk()), did=did, document=resolve_did_jwk(did)
    )


def _thumbprint_holder(key: KeyPair = HOLDER_KEY) -> Holder:
    public = parse_public_jwk(key.public_jwk())
    return Holder(
        id=URN + jwk_thumbprint(public), method="jwk_thumbprint", key=public, did=None, document=None
    )


WEB_DID = "did:web:holder.example"


def _did_web_holder() -> Holder:
    """A DID with two authentication keys (HOLDER_KEY, SECOND_KEY) and an assertionMethod-only OTHER_KEY."""
    methods = tuple(
        VerificationMethod(f"{WEB_DID}#{name}", WEB_DID, "JsonWebKey2020", parse_public_jwk(key.public_jwk()))
        for name, key in (("auth-1", HOLDER_KEY), ("auth-2", SECOND_KEY), ("assert-1", OTHER_KEY))
    )
    document = DidDocument(
        id=WEB_DID,
        verification_methods=methods,
        authentication=frozenset({f"{WEB_DID}#auth-1", f"{WEB_DID}#auth-2"}),
        assertion_method=frozenset({f"{WEB_DID}#assert-1"}),
        key_agreement=frozenset(),
    )
    return Holder(id=WEB_DID, method="did", key=methods[0].public_key, did=WEB_DID, document=document)


# --- Building and verifying --- #


def _issue(issuer: SdJwtIssuer = ISSUER, **options: Any) -> IssuedSdJwt:
    settings: dict[str, Any] = {"vct": VCT, "holder_jwk": HOLDER_KEY.public_jwk(), "sd": SD}
    settings.update(options)
    claims = settings.pop("claims", CLAIMS)
    return issuer.issue(claims, **settings)


def _present(issued: IssuedSdJwt, holder_key: KeyPair = HOLDER_KEY, **options: Any) -> str:
    settings: dict[str, Any] = {"aud": CLIENT_ID, "nonce": NONCE, "holder_key": holder_key, "now": NOW}
    settings.update(options)
    return present(issued, **settings)


def _inspect(token: str) -> InspectedSdJwt:
    return inspect_sd_jwt(token, max_length=MAX_LENGTH, max_disclosures=16)


def _verify(
    token: str,
    holder: Holder | None = None,
    *,
    expected: SdJwtExpectations = EXPECTED,
    issuer_key: KeyPair = ISSUER_KEY,
) -> VerifiedSdJwt:
    return verify_sd_jwt_vc(
        _inspect(token),
        issuer_key=parse_public_jwk(issuer_key.public_jwk()),
        holder=holder or _did_key_holder(),
        expected=expected,
        now=NOW,
    )


def _reason(call: Callable[[], object], error: type[VerifierError]) -> str:
    with pytest.raises(error) as caught:
        call()
    return caught.value.reason


# --- inspect_sd_jwt: typ and iss --- #


@pytest.mark.parametrize("typ", ["dc+sd-jwt", "vc+sd-jwt"])
def test_inspect_accepts_sd_jwt_vc_types(typ: str) -> None:
    """Both the current dc+sd-jwt and the transitional vc+sd-jwt typ are accepted; iss is read out."""
    issuer = SdJwtIssuer(ISSUER_KEY, ISS, typ=typ, now=lambda: NOW)
    token = _present(_issue(issuer))
    inspected = _inspect(token)
    assert inspected.issuer == ISS
    assert inspected.jws.header["typ"] == typ
    assert len(inspected.presentation.disclosures) == len(SD)
    assert inspected.presentation.kb_jwt is not None


@pytest.mark.parametrize("typ", ["JWT", "sd-jwt", "kb+jwt", "vc+ld+json", DELETE], ids=str)
def test_inspect_refuses_other_or_absent_typ(typ: object) -> None:
    """Any other typ, or none at all, is credential.wrong_typ (explicit typing, RFC 9901 §9.11)."""
    token = _present(_issue(header_overrides={"typ": typ}))
    assert _reason(lambda: _inspect(token), CredentialInvalid) == "credential.wrong_typ"


@pytest.mark.parametrize("typ", [["dc+sd-jwt"], {"typ": "dc+sd-jwt"}], ids=["array", "object"])
def test_inspect_refuses_unhashable_typ(typ: object) -> None:
    """A typ that is a JSON array or object is credential.wrong_typ, not an unhandled TypeError."""
    token = _present(_issue(header_overrides={"typ": typ}))
    assert _reason(lambda: _inspect(token), CredentialInvalid) == "credential.wrong_typ"


@pytest.mark.parametrize("iss", [DELETE, "", 42, None, ["https://issuer.example"]], ids=repr)
def test_inspect_refuses_missing_issuer(iss: object) -> None:
    """An absent, empty or non-string iss is credential.issuer_missing: trust is configured by iss."""
    token = _present(_issue(payload_overrides={"iss": iss}))
    assert _reason(lambda: _inspect(token), CredentialInvalid) == "credential.issuer_missing"


# --- Happy paths --- #


def test_did_holder_bound_by_cnf_jwk() -> None:
    """cnf.jwk is the did:key holder's key and the KB-JWT is signed by it: verified."""
    verified = _verify(_present(_issue()), _did_key_holder())
    assert verified.issuer == ISS
    assert verified.vct == VCT
    assert verified.types == (VCT,)


def test_did_jwk_holder_bound_by_cnf_jwk() -> None:
    """A did:jwk holder binds by the thumbprint of its key just the same."""
    assert _verify(_present(_issue()), _did_jwk_holder()).vct == VCT


def test_did_holder_bound_by_cnf_kid() -> None:
    """cnf.kid is the DID URL of the holder's own did:key verification method: verified."""
    issued = _issue(holder_jwk=None, holder_kid=HOLDER_KEY.did_key_url())
    assert issued.plain["cnf"] == {"kid": HOLDER_KEY.did_key_url()}
    assert _verify(_present(issued), _did_key_holder()).vct == VCT


def test_did_jwk_holder_bound_by_cnf_kid() -> None:
    """cnf.kid naming did:jwk's `#0` method of the holder's DID binds too."""
    issued = _issue(holder_jwk=None, holder_kid=HOLDER_KEY.did_jwk_url())
    assert _verify(_present(issued), _did_jwk_holder()).vct == VCT


def test_thumbprint_holder_bound_by_cnf_jwk() -> None:
    """A JWK-thumbprint holder binds when the thumbprint of cnf.jwk is its own."""
    assert _verify(_present(_issue()), _thumbprint_holder()).vct == VCT


def test_cnf_jwk_with_extra_members_still_binds() -> None:
    """Non-thumbprint members (kid, use, alg) next to the key do not change which key it is."""
    jwk = {**HOLDER_KEY.public_jwk(), "kid": "holder-key", "use": "sig", "alg": "ES256"}
    assert _verify(_present(_issue(holder_jwk=jwk)), _thumbprint_holder()).vct == VCT


def test_cnf_jwk_may_be_any_authentication_key_of_the_holder_did() -> None:
    """A DID holder with several authentication keys: cnf.jwk of the second one binds (KB by that key)."""
    issued = _issue(holder_jwk=SECOND_KEY.public_jwk())
    assert _verify(_present(issued, SECOND_KEY), _did_web_holder()).vct == VCT


def test_cnf_kid_may_name_any_authentication_key_of_the_holder_did() -> None:
    """cnf.kid naming the holder DID's second authentication method binds to that method's key."""
    issued = _issue(holder_jwk=None, holder_kid=f"{WEB_DID}#auth-2")
    assert _verify(_present(issued, SECOND_KEY), _did_web_holder()).vct == VCT


def test_verified_sd_jwt_reports_processed_claims() -> None:
    """The result: format dc+sd-jwt, both algs, disclosed paths, and claims without _sd/_sd_alg."""
    issued = _issue(decoys=2)
    token = _present(issued, disclose=["given_name", ("address", "locality"), ("nationalities", 1)])
    verified = _verify(token)
    assert verified.format == "dc+sd-jwt"
    assert verified.alg == "EdDSA"
    assert verified.kb_alg == "ES256"
    assert verified.issuer == ISS
    assert set(verified.disclosed_paths) == {("given_name",), ("address", "locality"), ("nationalities", 1)}
    [claims] = verified.documents
    assert claims == {
        "iss": ISS,
        "iat": NOW,
        "exp": issued.plain["exp"],
        "vct": VCT,
        "cnf": {"jwk": HOLDER_KEY.public_jwk()},
        "given_name": "Erika",
        "address": {"country": "DE", "locality": "Berlin"},
        "nationalities": ["DE", "FR"],
    }
    assert "_sd" not in claims["address"]


def test_undisclosed_claims_are_absent_and_not_reported() -> None:
    """With no Disclosures presented, concealed claims and array elements are simply missing."""
    verified = _verify(_present(_issue(decoys=1), disclose=[]))
    [claims] = verified.documents
    assert verified.disclosed_paths == ()
    assert "given_name" not in claims
    assert "age_over_18" not in claims
    assert claims["address"] == {"country": "DE"}
    assert claims["nationalities"] == ["DE"]


def test_legacy_typ_still_reports_dc_sd_jwt_format() -> None:
    """A vc+sd-jwt credential is verified as the one canonical format dc+sd-jwt."""
    issuer = SdJwtIssuer(ISSUER_KEY, ISS, typ="vc+sd-jwt", now=lambda: NOW)
    assert _verify(_present(_issue(issuer))).format == "dc+sd-jwt"


def test_kb_alg_is_the_key_binding_jwt_algorithm() -> None:
    """kb_alg comes from the KB-JWT header (EdDSA holder) and not from the issuer JWT (ES256 issuer)."""
    issuer_key = KeyPair.generate("p256")
    issuer = SdJwtIssuer(issuer_key, ISS, now=lambda: NOW)
    issued = _issue(issuer, holder_jwk=SECOND_KEY.public_jwk())
    verified = _verify(_present(issued, SECOND_KEY), _thumbprint_holder(SECOND_KEY), issuer_key=issuer_key)
    assert (verified.alg, verified.kb_alg) == ("ES256", "EdDSA")


# --- Holder binding failures --- #


@pytest.mark.parametrize(
    "holder",
    [_did_key_holder, _did_jwk_holder, _thumbprint_holder, _did_web_holder],
    ids=lambda f: f.__name__,
)
def test_cnf_jwk_of_another_key_is_cnf_mismatch(holder: Callable[[], Holder]) -> None:
    """cnf.jwk of a key that is not the holder's: holder_binding.cnf_mismatch for every subject type."""
    issued = _issue(holder_jwk=KeyPair.generate("p256").public_jwk())
    assert _reason(lambda: _verify(_present(issued), holder()), HolderBindingFailed) == (
        "holder_binding.cnf_mismatch"
    )


def test_cnf_jwk_of_a_did_key_not_for_authentication_is_cnf_mismatch() -> None:
    """A key of the holder's DID that is only an assertionMethod does not bind."""
    issued = _issue(holder_jwk=OTHER_KEY.public_jwk())
    assert _reason(lambda: _verify(_present(issued, OTHER_KEY), _did_web_holder()), HolderBindingFailed) == (
        "holder_binding.cnf_mismatch"
    )


@pytest.mark.parametrize(
    ("kid", "holder"),
    [
        pytest.param(OTHER_KEY.did_key_url(), _did_key_holder, id="another-did"),
        pytest.param(HOLDER_KEY.did_jwk_url(), _did_key_holder, id="same-key-other-did"),
        pytest.param(HOLDER_KEY.did_key() + "#unknown", _did_key_holder, id="unknown-fragment"),
        pytest.param(HOLDER_KEY.did_jwk() + "#1", _did_jwk_holder, id="unknown-did-jwk-fragment"),
        pytest.param(HOLDER_KEY.did_key(), _did_key_holder, id="bare-did-no-fragment"),
        pytest.param(f"{WEB_DID}#assert-1", _did_web_holder, id="assertion-method-only"),
        pytest.param(HOLDER_KEY.did_key_url(), _thumbprint_holder, id="thumbprint-holder"),
    ],
)
def test_cnf_kid_not_naming_a_holder_authentication_key_is_cnf_mismatch(
    kid: str, holder: Callable[[], Holder]
) -> None:
    """cnf.kid of another DID, an unknown method of the holder's DID, or for a thumbprint holder."""
    issued = _issue(holder_jwk=None, holder_kid=kid)
    assert _reason(lambda: _verify(_present(issued), holder()), HolderBindingFailed) == (
        "holder_binding.cnf_mismatch"
    )


@pytest.mark.parametrize(
    "kid",
    ["did:Bad!#key-1", "did:#key-1", "did:key:" + "z" * 5000 + "#z"],
    ids=["bad-method", "empty", "huge"],
)
def test_malformed_cnf_kid_did_url_is_a_cnf_failure(kid: str) -> None:
    """A cnf.kid that is no valid DID URL fails with a cnf reason, never did.* (nothing is resolved)."""
    issued = _issue(holder_jwk=None, holder_kid=kid)
    with pytest.raises(VerifierError) as caught:
        _verify(_present(issued), _did_key_holder())
    assert caught.value.reason in {"holder_binding.cnf_mismatch", "sd_jwt.cnf_invalid"}


def test_cnf_missing_is_cnf_missing() -> None:
    """No cnf at all: the credential cannot be key-bound (sd_jwt.cnf_missing)."""
    issued = _issue(holder_jwk=None)
    assert "cnf" not in issued.payload
    assert _reason(lambda: _verify(_present(issued)), CredentialInvalid) == "sd_jwt.cnf_missing"


@pytest.mark.parametrize(
    ("cnf", "reason"),
    [
        pytest.param({"x5t#S256": "abc"}, "sd_jwt.cnf_missing", id="unsupported-method"),
        pytest.param("did:key:z6Mk", "sd_jwt.cnf_invalid", id="not-an-object"),
        pytest.param({"kid": "#key-1"}, "sd_jwt.cnf_invalid", id="relative-kid"),
        pytest.param({"kid": "holder-key"}, "sd_jwt.cnf_invalid", id="kid-not-a-did-url"),
        pytest.param({"jwk": "not-an-object"}, "sd_jwt.cnf_invalid", id="jwk-not-an-object"),
    ],
)
def test_unusable_cnf_is_refused(cnf: object, reason: str) -> None:
    """A cnf with neither jwk nor kid, or one that names no usable key, is refused as sd_jwt.*."""
    issued = _issue(holder_jwk=None, payload_overrides={"cnf": cnf})
    assert _reason(lambda: _verify(_present(issued)), CredentialInvalid) == reason


def test_cnf_jwk_with_private_member_is_cnf_invalid() -> None:
    """A cnf.jwk carrying a private member is refused even when its public part is the holder's key."""
    jwk = {**HOLDER_KEY.public_jwk(), "d": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}
    issued = _issue(holder_jwk=jwk)
    assert _reason(lambda: _verify(_present(issued), _thumbprint_holder()), CredentialInvalid) == (
        "sd_jwt.cnf_invalid"
    )


def test_kb_jwt_by_the_cnf_key_does_not_help_when_cnf_is_not_the_holder() -> None:
    """A KB-JWT that the cnf key did sign still fails, with cnf_mismatch first: cnf must be the holder."""
    issued = _issue(holder_jwk=OTHER_KEY.public_jwk())
    token = _present(issued, OTHER_KEY)
    for holder in (_did_key_holder(), _thumbprint_holder()):
        assert _reason(lambda h=holder: _verify(token, h), HolderBindingFailed) == (
            "holder_binding.cnf_mismatch"
        )


def test_cnf_mismatch_comes_before_a_missing_kb_jwt() -> None:
    """Binding is decided from cnf before the KB-JWT is looked at, so no KB-JWT still says cnf_mismatch."""
    token = _present(_issue(holder_jwk=OTHER_KEY.public_jwk()), kb=False)
    assert _reason(lambda: _verify(token), HolderBindingFailed) == "holder_binding.cnf_mismatch"


# --- Key Binding JWT failures pass through --- #


@pytest.mark.parametrize(
    ("options", "reason"),
    [
        pytest.param({"kb": False}, "key_binding.missing", id="missing"),
        pytest.param({"nonce": "another-nonce"}, "key_binding.nonce_mismatch", id="wrong-nonce"),
        pytest.param({"kb_payload_overrides": {"nonce": DELETE}}, "key_binding.nonce_missing", id="no-nonce"),
        pytest.param({"aud": "https://other.example"}, "key_binding.audience_mismatch", id="wrong-aud"),
        pytest.param(
            {"kb_payload_overrides": {"aud": [CLIENT_ID]}}, "key_binding.audience_mismatch", id="aud-array"
        ),
        pytest.param(
            {"kb_payload_overrides": {"sd_hash": "A" * 43}},
            "key_binding.sd_hash_mismatch",
            id="wrong-sd-hash",
        ),
        pytest.param(
            {"kb_payload_overrides": {"sd_hash": DELETE}}, "key_binding.sd_hash_missing", id="no-sd-hash"
        ),
        pytest.param({"kb_header_overrides": {"typ": "JWT"}}, "key_binding.wrong_typ", id="wrong-typ"),
        pytest.param({"holder_key": OTHER_KEY}, "key_binding.bad_signature", id="signed-by-another-key"),
        pytest.param({"now": NOW - 3600}, "key_binding.too_old", id="too-old"),
        pytest.param({"now": NOW + 3600}, "key_binding.issued_in_future", id="in-future"),
    ],
)
def test_key_binding_failures_pass_through(options: dict[str, Any], reason: str) -> None:
    """With cnf bound to the holder, each KB-JWT failure surfaces with its own key_binding.* reason."""
    token = _present(_issue(), **options)
    assert _reason(lambda: _verify(token), KeyBindingInvalid) == reason


def test_dropping_a_disclosure_after_key_binding_breaks_sd_hash() -> None:
    """Removing a Disclosure from a KB-bound presentation is caught by sd_hash."""
    token = _present(_issue())
    issuer_jwt, *disclosures, kb_jwt = token.split("~")
    tampered = "~".join([issuer_jwt, *disclosures[1:], kb_jwt])
    assert _reason(lambda: _verify(tampered), KeyBindingInvalid) == "key_binding.sd_hash_mismatch"


def test_kb_alg_outside_holder_algs_is_refused() -> None:
    """The KB-JWT alg must be in the holder allow-list."""
    expected = replace(EXPECTED, holder_algs=frozenset({"EdDSA"}))
    assert _reason(lambda: _verify(_present(_issue()), expected=expected), KeyBindingInvalid) == (
        "key_binding.alg_not_allowed"
    )


# --- Issuer signature --- #


def test_issuer_signature_by_another_key_is_bad_signature() -> None:
    """An issuer JWT signed with a key that is not the issuer's: credential.bad_signature."""
    token = _present(_issue(sign_with=KeyPair.generate("ed25519")))
    assert _reason(lambda: _verify(token), CredentialInvalid) == "credential.bad_signature"


def test_issuer_key_given_is_not_the_signer() -> None:
    """The same token verified against another issuer key is credential.bad_signature."""
    token = _present(_issue())
    other = KeyPair.generate("ed25519")
    assert _reason(lambda: _verify(token, issuer_key=other), CredentialInvalid) == "credential.bad_signature"


def test_issuer_alg_outside_issuer_algs_is_alg_not_allowed() -> None:
    """An issuer alg missing from issuer_algs is refused (here EdDSA when only ES256 is allowed)."""
    expected = replace(EXPECTED, issuer_algs=frozenset({"ES256"}))
    token = _present(_issue())
    assert _reason(lambda: _verify(token, expected=expected), CredentialInvalid) == (
        "credential.alg_not_allowed"
    )


def test_issuer_alg_is_not_checked_against_holder_algs() -> None:
    """Issuer and holder allow-lists are separate: EdDSA issuers pass although holders may only use ES256."""
    expected = replace(EXPECTED, holder_algs=frozenset({"ES256"}))
    assert _verify(_present(_issue()), expected=expected).alg == "EdDSA"


def test_issuer_key_of_another_type_is_alg_key_mismatch() -> None:
    """An EdDSA issuer JWT checked with a P-256 key is refused before any signature math."""
    token = _present(_issue())
    assert _reason(lambda: _verify(token, issuer_key=OTHER_KEY), CredentialInvalid) == (
        "credential.alg_key_mismatch"
    )


def test_tampered_disclosure_is_not_trusted() -> None:
    """A Disclosure changed after issuance matches no digest and is refused as unreferenced."""
    token = _present(_issue(), tamper_disclosure=True)
    assert _reason(lambda: _verify(token), CredentialInvalid) == "sd_jwt.disclosure_unreferenced"


# --- vct --- #


@pytest.mark.parametrize("vct", [DELETE, 42, "", None, [VCT], {"id": VCT}], ids=repr)
def test_missing_or_non_string_vct_is_vct_missing(vct: object) -> None:
    """vct absent, empty or not a string: credential.vct_missing."""
    token = _present(_issue(payload_overrides={"vct": vct}))
    assert _reason(lambda: _verify(token), CredentialInvalid) == "credential.vct_missing"


def test_disclosed_vct_is_reserved() -> None:
    """vct must never be selectively disclosable (SD-JWT VC §2.2.2.3)."""
    token = _present(_issue(sd=[*SD, "vct"]))
    assert _reason(lambda: _verify(token), CredentialInvalid) == "sd_jwt.reserved_claim_name"


# --- Validity on the processed payload --- #


def test_expired_credential_is_refused() -> None:
    """exp in the past (beyond the skew): credential.expired."""
    token = _present(_issue(exp=NOW - 3600))
    assert _reason(lambda: _verify(token), CredentialInvalid) == "credential.expired"


def test_exp_within_clock_skew_is_accepted() -> None:
    """exp a few seconds ago is still within the 60 s clock skew."""
    assert _verify(_present(_issue(exp=NOW - 30))).vct == VCT


def test_not_yet_valid_credential_is_refused() -> None:
    """nbf in the future (beyond the skew): credential.not_yet_valid."""
    token = _present(_issue(nbf=NOW + 3600))
    assert _reason(lambda: _verify(token), CredentialInvalid) == "credential.not_yet_valid"


def test_non_numeric_exp_is_malformed() -> None:
    """exp must be a NumericDate."""
    token = _present(_issue(exp="2030-01-01"))
    assert _reason(lambda: _verify(token), CredentialInvalid) == "credential.malformed"


@pytest.mark.parametrize(
    ("claim", "options"),
    [
        ("exp", {"exp": NOW - 3600}),
        ("nbf", {"nbf": NOW + 3600}),
        ("cnf", {}),
        ("status", {"status": {"status_list": {"idx": 3, "uri": "https://issuer.example/sl"}}}),
    ],
)
def test_disclosed_validity_and_binding_claims_are_reserved(claim: str, options: dict[str, Any]) -> None:
    """exp, nbf, cnf or status made selectively disclosable and disclosed: sd_jwt.reserved_claim_name."""
    token = _present(_issue(sd=[*SD, claim], **options))
    assert _reason(lambda: _verify(token), CredentialInvalid) == "sd_jwt.reserved_claim_name"


def test_concealed_iss_is_issuer_missing() -> None:
    """iss hidden behind a digest is absent from the issuer JWT: refused at inspection, before any key."""
    token = _present(_issue(sd=[*SD, "iss"]))
    assert _reason(lambda: _inspect(token), CredentialInvalid) == "credential.issuer_missing"


def test_validity_is_checked_before_holder_binding() -> None:
    """An expired credential bound to another key reports the expiry (the documented step order)."""
    token = _present(_issue(exp=NOW - 3600, holder_jwk=OTHER_KEY.public_jwk()), OTHER_KEY)
    assert _reason(lambda: _verify(token), CredentialInvalid) == "credential.expired"


def test_vct_is_checked_before_holder_binding() -> None:
    """A credential without vct and bound to another key reports the missing vct."""
    issued = _issue(holder_jwk=OTHER_KEY.public_jwk(), payload_overrides={"vct": DELETE})
    assert _reason(lambda: _verify(_present(issued, OTHER_KEY)), CredentialInvalid) == (
        "credential.vct_missing"
    )
