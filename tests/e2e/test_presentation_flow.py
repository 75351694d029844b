"""The whole flow over HTTP: backend creates, wallet fetches and answers, backend receives the verdict."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest

from tests.e2e.actors import DELETE, Issuer, KeyPair, Wallet, sign_hmac_jwt
from tests.e2e.conftest import Issuers, RunningService


def _age_credential(issuer: Issuer, wallet: Wallet, **claims: Any) -> str:
    return issuer.issue(wallet.holder.id, claims or {"ageOver21": True})


def _begin(service: RunningService, wallet: Wallet, **create: Any) -> tuple[dict[str, Any], Any]:
    created = service.create(**create)
    request = wallet.fetch_request(created["authorization_request_uri"])
    return created, request


@pytest.mark.parametrize(
    ("kind", "subject"),
    [
        ("ed25519", "did:key"),
        ("p256", "did:key"),
        ("p256", "did:jwk"),
        ("ed25519", "did:jwk"),
        ("p256", "jwk_thumbprint"),
        ("secp256k1", "did:key"),
        ("p384", "did:key"),
    ],
)
def test_accepted_for_each_holder_kind(
    service: RunningService, issuers: Issuers, make_wallet: Callable[..., Wallet], kind: str, subject: str
) -> None:
    """Each key type and subject syntax proves age over 21; the backend gets a verified verdict."""
    wallet = make_wallet(kind, subject)
    created, request = _begin(service, wallet, correlation_id="order-42")
    answer = wallet.respond(request, [_age_credential(issuers.trusted, wallet)])
    assert answer.status_code == 200, answer.text
    assert answer.json() == {}
    verdict = service.verdict(created["transaction_id"])
    assert verdict["result"] == "verified"
    assert verdict["correlation_id"] == "order-42"
    assert verdict["holder"] == {
        "id": wallet.holder.id,
        "method": "jwk_thumbprint" if subject == "jwk_thumbprint" else "did",
    }
    [credential] = verdict["credentials"]
    assert credential["claims"] == {"age_over_21": True}
    assert credential["issuer"] == issuers.trusted.did
    assert credential["format"] == "jwt_vc_json"


def test_birth_date_proves_age_without_revealing_it(
    service: RunningService, issuers: Issuers, make_wallet: Callable[..., Wallet]
) -> None:
    """A birthDate 30 years back satisfies age-over-21; the verdict says true, not the date."""
    wallet = make_wallet()
    created, request = _begin(service, wallet)
    birth = (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=365 * 30)).isoformat()
    answer = wallet.respond(request, [issuers.trusted.issue(wallet.holder.id, {"birthDate": birth})])
    assert answer.status_code == 200, answer.text
    verdict = service.verdict(created["transaction_id"])
    assert verdict["result"] == "verified"
    assert verdict["credentials"][0]["claims"] == {"age_over_21": True}
    assert birth not in str(verdict)


def test_two_credentials_from_two_issuers(
    service: RunningService, issuers: Issuers, make_wallet: Callable[..., Wallet]
) -> None:
    """An inline definition with two descriptors is met by two credentials from two issuers in one VP."""
    definition = {
        "id": "age-and-membership",
        "input_descriptors": [
            {
                "id": "age",
                "constraints": {
                    "fields": [
                        {
                            "path": ["$.vc.credentialSubject.ageOver18"],
                            "filter": {"type": "boolean", "const": True},
                        }
                    ]
                },
            },
            {
                "id": "membership",
                "constraints": {
                    "fields": [
                        {
                            "path": ["$.vc.type"],
                            "filter": {"type": "array", "contains": {"const": "MembershipCredential"}},
                        },
                        {"id": "member_id", "path": ["$.vc.credentialSubject.memberId"]},
                    ]
                },
            },
        ],
    }
    wallet = make_wallet("p256")
    created, request = _begin(service, wallet, definition_id=None, presentation_definition=definition)
    age = issuers.trusted.issue(wallet.holder.id, {"ageOver18": True})
    member = issuers.second.issue(wallet.holder.id, {"memberId": "M-7"}, types=("MembershipCredential",))
    answer = wallet.respond(request, [age, member])
    assert answer.status_code == 200, answer.text
    verdict = service.verdict(created["transaction_id"])
    assert verdict["result"] == "verified"
    by_descriptor = {c["descriptor_id"]: c for c in verdict["credentials"]}
    assert by_descriptor["age"]["issuer"] == issuers.trusted.did
    assert by_descriptor["age"]["claims"] == {}  # a filter without an id is a constraint, not a question
    assert by_descriptor["membership"]["issuer"] == issuers.second.did
    assert by_descriptor["membership"]["claims"] == {"member_id": "M-7"}


def test_two_presentations_in_one_response(
    service: RunningService, issuers: Issuers, make_wallet: Callable[..., Wallet]
) -> None:
    """A vp_token array of two VPs, each mapped with `$[n]`, is accepted."""
    definition = {
        "id": "two-vps",
        "input_descriptors": [
            {"id": "a", "constraints": {"fields": [{"path": ["$.vc.credentialSubject.ageOver21"]}]}},
            {"id": "b", "constraints": {"fields": [{"path": ["$.vc.credentialSubject.memberId"]}]}},
        ],
    }
    wallet = make_wallet()
    created, request = _begin(service, wallet, definition_id=None, presentation_definition=definition)
    first = issuers.trusted.issue(wallet.holder.id, {"ageOver21": True})
    second = issuers.second.issue(wallet.holder.id, {"memberId": "X"})
    answer = wallet.respond(request, [[first], [second]])
    assert answer.status_code == 200, answer.text
    assert service.verdict(created["transaction_id"])["result"] == "verified"


# --- Rejections: each has its own reason in the signed verdict and an OAuth error for the wallet --- #


def _expect_rejected(
    service: RunningService,
    created: dict[str, Any],
    answer: Any,
    reason: str,
    *,
    error: str = "invalid_request",
) -> dict[str, Any]:
    assert answer.status_code == 400, answer.text
    body = answer.json()
    assert body["error"] == error
    assert "error_description" in body
    verdict = service.verdict(created["transaction_id"])
    assert verdict["result"] == "rejected"
    assert [e["code"] for e in verdict["errors"]] == [reason]
    assert "credentials" not in verdict or verdict["credentials"] == []
    return verdict


REJECTIONS: dict[str, tuple[Callable[[Wallet, Issuers], dict[str, Any]], str]] = {
    "id_token_nonce": (
        lambda w, i: {"id_token_claims": {"nonce": "not-the-nonce"}},
        "id_token.nonce_mismatch",
    ),
    "vp_nonce": (lambda w, i: {"vp_claims": {"nonce": "not-the-nonce"}}, "presentation.nonce_mismatch"),
    "id_token_audience": (
        lambda w, i: {"id_token_claims": {"aud": "did:key:someone-else"}},
        "id_token.audience_mismatch",
    ),
    "vp_audience": (
        lambda w, i: {"vp_claims": {"aud": "https://other.example"}},
        "presentation.audience_mismatch",
    ),
    "id_token_expired": (lambda w, i: {"id_token_claims": {"exp": 1_000_000}}, "id_token.expired"),
    "id_token_iss_not_sub": (
        lambda w, i: {"id_token_claims": {"iss": "https://op.example"}},
        "id_token.iss_sub_mismatch",
    ),
    "vp_by_other_holder": (
        lambda w, i: {
            "vp_claims": {"iss": (other := KeyPair.generate("ed25519")).did_key()},
            "vp_header": {"kid": other.did_key_url()},
            "vp_signer": other,
        },
        "holder_binding.presentation_holder_mismatch",
    ),
    "bad_vp_signature": (lambda w, i: {"corrupt_vp_signature": True}, "presentation.bad_signature"),
    "vp_signed_by_other_key": (
        lambda w, i: {"vp_signer": KeyPair.generate("ed25519")},
        "presentation.bad_signature",
    ),
    "id_token_alg_none": (lambda w, i: {"id_token_alg_none": True}, "id_token.alg_not_allowed"),
    "vp_alg_none": (lambda w, i: {"vp_alg_none": True}, "presentation.alg_not_allowed"),
    "id_token_hmac": (lambda w, i: {"id_token_hmac": b"0" * 32}, "id_token.alg_not_allowed"),
    "missing_id_token": (lambda w, i: {"omit_id_token": True}, "id_token.missing"),
    "wrong_state": (lambda w, i: {"state": "not-the-state"}, "transaction.state_mismatch"),
}


@pytest.mark.parametrize("case", sorted(REJECTIONS))
def test_rejected_token_tampering(
    service: RunningService, issuers: Issuers, make_wallet: Callable[..., Wallet], case: str
) -> None:
    """Each tampered response is refused with its own reason code, in the verdict and to the wallet."""
    options, reason = REJECTIONS[case]
    wallet = make_wallet()
    created, request = _begin(service, wallet)
    answer = wallet.respond(request, [_age_credential(issuers.trusted, wallet)], **options(wallet, issuers))
    _expect_rejected(service, created, answer, reason)


CREDENTIAL_REJECTIONS: dict[str, tuple[Callable[[Wallet, Issuers], str], str]] = {
    "subject_not_holder": (
        lambda w, i: i.trusted.issue(KeyPair.generate("ed25519").did_key(), {"ageOver21": True}),
        "holder_binding.subject_mismatch",
    ),
    "bad_vc_signature": (
        lambda w, i: i.trusted.issue(w.holder.id, {"ageOver21": True}, sign_with=KeyPair.generate("ed25519")),
        "credential.bad_signature",
    ),
    "untrusted_issuer": (
        lambda w, i: i.untrusted.issue(w.holder.id, {"ageOver21": True}),
        "credential.untrusted_issuer",
    ),
    "expired_credential": (
        lambda w, i: i.trusted.issue(w.holder.id, {"ageOver21": True}, nbf=1_000_000, exp=2_000_000),
        "credential.expired",
    ),
    "vc_alg_none": (
        lambda w, i: i.trusted.issue(w.holder.id, {"ageOver21": True}, alg_none=True),
        "credential.alg_not_allowed",
    ),
    "vc_hmac": (
        lambda w, i: i.trusted.issue(w.holder.id, {"ageOver21": True}, hmac_secret=b"s" * 32),
        "credential.alg_not_allowed",
    ),
    "under_age": (
        lambda w, i: i.trusted.issue(w.holder.id, {"ageOver21": False}),
        "submission.filter_failed",
    ),
    "young_birth_date": (
        lambda w, i: i.trusted.issue(
            w.holder.id,
            {"birthDate": (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=365 * 15)).isoformat()},
        ),
        "submission.filter_failed",
    ),
    "no_age_claim": (
        lambda w, i: i.trusted.issue(w.holder.id, {"name": "Alice"}),
        "submission.field_missing",
    ),
}


@pytest.mark.parametrize("case", sorted(CREDENTIAL_REJECTIONS))
def test_rejected_credentials(
    service: RunningService, issuers: Issuers, make_wallet: Callable[..., Wallet], case: str
) -> None:
    """Credentials that are forged, foreign, expired, untrusted or under age are refused with their reason."""
    make_credential, reason = CREDENTIAL_REJECTIONS[case]
    wallet = make_wallet()
    created, request = _begin(service, wallet)
    answer = wallet.respond(request, [make_credential(wallet, issuers)])
    _expect_rejected(service, created, answer, reason)


def _submission(request: Any, **changes: Any) -> dict[str, Any]:
    descriptor = request.presentation_definition["input_descriptors"][0]["id"]
    submission: dict[str, Any] = {
        "id": "s-1",
        "definition_id": request.presentation_definition["id"],
        "descriptor_map": [
            {
                "id": descriptor,
                "format": "jwt_vp_json",
                "path": "$",
                "path_nested": {
                    "id": descriptor,
                    "format": "jwt_vc_json",
                    "path": "$.vp.verifiableCredential[0]",
                },
            }
        ],
    }
    submission.update(changes)
    return submission


def test_rejected_submission_for_another_definition(
    service: RunningService, issuers: Issuers, make_wallet: Callable[..., Wallet]
) -> None:
    """A submission naming another definition is refused."""
    wallet = make_wallet()
    created, request = _begin(service, wallet)
    submission = _submission(request, definition_id="age-over-18")
    answer = wallet.respond(request, [_age_credential(issuers.trusted, wallet)], submission=submission)
    _expect_rejected(service, created, answer, "submission.definition_mismatch")


def test_rejected_missing_required_descriptor(
    service: RunningService, issuers: Issuers, make_wallet: Callable[..., Wallet]
) -> None:
    """A submission that maps no credential to the required descriptor is refused."""
    wallet = make_wallet()
    created, request = _begin(service, wallet)
    answer = wallet.respond(
        request,
        [_age_credential(issuers.trusted, wallet)],
        submission=_submission(request, descriptor_map=[]),
    )
    _expect_rejected(service, created, answer, "submission.descriptor_missing")


def test_rejected_path_that_resolves_to_nothing(
    service: RunningService, issuers: Issuers, make_wallet: Callable[..., Wallet]
) -> None:
    """A path_nested pointing past the credentials is refused."""
    wallet = make_wallet()
    created, request = _begin(service, wallet)
    submission = _submission(request)
    submission["descriptor_map"][0]["path_nested"]["path"] = "$.vp.verifiableCredential[5]"
    answer = wallet.respond(request, [_age_credential(issuers.trusted, wallet)], submission=submission)
    _expect_rejected(service, created, answer, "submission.path_unresolved")


def test_rejected_expired_transaction(
    service: RunningService, issuers: Issuers, make_wallet: Callable[..., Wallet]
) -> None:
    """A response after the transaction's lifetime is refused, and the backend learns it expired."""
    wallet = make_wallet()
    created, request = _begin(service, wallet)
    form = wallet.build_response(request, [_age_credential(issuers.trusted, wallet)])
    service.clock.offset = 301
    try:
        answer = wallet.post(request, form)
    finally:
        service.clock.offset = 0
    _expect_rejected(service, created, answer, "transaction.expired")


def test_same_response_posted_twice(
    service: RunningService, issuers: Issuers, make_wallet: Callable[..., Wallet]
) -> None:
    """The first post decides; the replay is refused and reported once as a non-final notice."""
    wallet = make_wallet()
    created, request = _begin(service, wallet)
    form = wallet.build_response(request, [_age_credential(issuers.trusted, wallet)])
    assert wallet.post(request, form).status_code == 200
    replay = wallet.post(request, form)
    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_request"
    assert service.verdict(created["transaction_id"])["result"] == "verified"
    notice = service.verdict(created["transaction_id"], final=False)
    assert notice["result"] == "rejected"
    assert [e["code"] for e in notice["errors"]] == ["transaction.replayed"]
    assert wallet.post(request, form).status_code == 400
    finals = [v for v in service.verdicts_for(created["transaction_id"]) if v["final"]]
    assert len(finals) == 1


def test_wallet_error_response(service: RunningService, make_wallet: Callable[..., Wallet]) -> None:
    """A wallet's access_denied is answered 200 {} and becomes a rejected verdict naming the wallet error."""
    wallet = make_wallet()
    created, request = _begin(service, wallet)
    answer = wallet.post_error(request, "access_denied")
    assert answer.status_code == 200
    assert answer.json() == {}
    verdict = service.verdict(created["transaction_id"])
    assert verdict["result"] == "rejected"
    assert verdict["wallet_error"] == "access_denied"
    assert [e["code"] for e in verdict["errors"]] == ["wallet.access_denied"]


def test_vp_token_without_credentials_claim_deleted(
    service: RunningService, issuers: Issuers, make_wallet: Callable[..., Wallet]
) -> None:
    """A VP without its vp claim is refused as malformed."""
    wallet = make_wallet()
    created, request = _begin(service, wallet)
    answer = wallet.respond(request, [_age_credential(issuers.trusted, wallet)], vp_claims={"vp": DELETE})
    _expect_rejected(service, created, answer, "presentation.malformed")


def test_hmac_with_public_key_as_secret(
    service: RunningService, issuers: Issuers, make_wallet: Callable[..., Wallet]
) -> None:
    """An ID Token MACed with HS256 under the holder's public key bytes is refused (key confusion)."""
    wallet = make_wallet("p256", "jwk_thumbprint")
    created, request = _begin(service, wallet)
    form = wallet.build_response(request, [_age_credential(issuers.trusted, wallet)])
    jwk = wallet.holder.key.public_jwk()
    claims = {
        "iss": wallet.holder.id,
        "sub": wallet.holder.id,
        "sub_jwk": jwk,
        "aud": request.client_id,
        "nonce": request.nonce,
        "iat": 1,
        "exp": 4_000_000_000,
    }
    form["id_token"] = sign_hmac_jwt({"typ": "JWT"}, claims, str(jwk).encode())
    _expect_rejected(service, created, wallet.post(request, form), "id_token.alg_not_allowed")


@pytest.mark.parametrize(
    ("claims", "result"),
    [
        ({"ageOver18": True}, "verified"),
        ({"ageOver18": False}, "rejected"),
        ({"birthDate": "2000-01-01"}, "verified"),
        (
            {"birthDate": (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=365 * 17)).isoformat()},
            "rejected",
        ),
    ],
)
def test_age_over_18_definition(
    service: RunningService,
    issuers: Issuers,
    make_wallet: Callable[..., Wallet],
    claims: dict[str, Any],
    result: str,
) -> None:
    """age-over-18 accepts the boolean or an old enough birthDate and refuses a minor."""
    wallet = make_wallet("p256", "did:jwk")
    created, request = _begin(service, wallet, definition_id="age-over-18")
    answer = wallet.respond(request, [issuers.trusted.issue(wallet.holder.id, claims)])
    assert answer.status_code == (200 if result == "verified" else 400), answer.text
    verdict = service.verdict(created["transaction_id"])
    assert verdict["result"] == result
    if result == "verified":
        assert verdict["credentials"][0]["claims"] == {"age_over_18": True}
    else:
        assert [e["code"] for e in verdict["errors"]] == ["submission.filter_failed"]


_TWO_QUESTIONS = {
    "id": "age-and-name",
    "input_descriptors": [
        {
            "id": "age",
            "constraints": {
                "fields": [
                    {
                        "path": ["$.vc.credentialSubject.ageOver21"],
                        "filter": {"type": "boolean", "const": True},
                    }
                ]
            },
        },
        {
            "id": "name",
            "constraints": {"fields": [{"id": "given_name", "path": ["$.vc.credentialSubject.givenName"]}]},
        },
    ],
}


def _entry(descriptor: str, index: int) -> dict[str, Any]:
    return {
        "id": descriptor,
        "format": "jwt_vp_json",
        "path": "$",
        "path_nested": {
            "id": descriptor,
            "format": "jwt_vc_json",
            "path": f"$.vp.verifiableCredential[{index}]",
        },
    }


def test_one_credential_may_answer_two_descriptors(
    service: RunningService, issuers: Issuers, make_wallet: Callable[..., Wallet]
) -> None:
    """The submission maps both descriptors to one credential that satisfies both: accepted."""
    wallet = make_wallet()
    created, request = _begin(service, wallet, definition_id=None, presentation_definition=_TWO_QUESTIONS)
    both = issuers.trusted.issue(wallet.holder.id, {"ageOver21": True, "givenName": "Ada"})
    submission = {
        "id": "s",
        "definition_id": "age-and-name",
        "descriptor_map": [_entry("age", 0), _entry("name", 0)],
    }
    answer = wallet.respond(request, [both], submission=submission)
    assert answer.status_code == 200, answer.text
    verdict = service.verdict(created["transaction_id"])
    assert {c["descriptor_id"]: c["claims"] for c in verdict["credentials"]} == {
        "age": {},
        "name": {"given_name": "Ada"},
    }


def test_unmapped_descriptor_is_not_satisfied_by_another_credential(
    service: RunningService, issuers: Issuers, make_wallet: Callable[..., Wallet]
) -> None:
    """A credential in the VP that the submission does not map to a descriptor does not satisfy it."""
    wallet = make_wallet()
    created, request = _begin(service, wallet, definition_id=None, presentation_definition=_TWO_QUESTIONS)
    age = issuers.trusted.issue(wallet.holder.id, {"ageOver21": True})
    name = issuers.trusted.issue(wallet.holder.id, {"givenName": "Ada"})
    submission = {"id": "s", "definition_id": "age-and-name", "descriptor_map": [_entry("age", 0)]}
    answer = wallet.respond(request, [age, name], submission=submission)
    _expect_rejected(service, created, answer, "submission.descriptor_missing")


def test_descriptor_mapped_to_a_credential_that_does_not_satisfy_it(
    service: RunningService, issuers: Issuers, make_wallet: Callable[..., Wallet]
) -> None:
    """Mapping the name descriptor to the age-only credential fails, though the right one is in the VP."""
    wallet = make_wallet()
    created, request = _begin(service, wallet, definition_id=None, presentation_definition=_TWO_QUESTIONS)
    age = issuers.trusted.issue(wallet.holder.id, {"ageOver21": True})
    name = issuers.trusted.issue(wallet.holder.id, {"givenName": "Ada"})
    submission = {
        "id": "s",
        "definition_id": "age-and-name",
        "descriptor_map": [_entry("age", 0), _entry("name", 0)],
    }
    answer = wallet.respond(request, [age, name], submission=submission)
    _expect_rejected(service, created, answer, "submission.field_missing")
