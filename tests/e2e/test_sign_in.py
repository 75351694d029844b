"""Sign in with your own key (SIOPv2 only), re-authentication, self-attested claims, older profiles."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.actors import Wallet, WebhookReceiver
from tests.e2e.conftest import Issuers, RunningService, start_service

THUMBPRINT_TYPE = "urn:ietf:params:oauth:jwk-thumbprint"


def _expect_rejected(service: RunningService, created: dict[str, Any], answer: Any, reason: str) -> None:
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == "invalid_request"
    verdict = service.verdict(created["transaction_id"])
    assert verdict["result"] == "rejected"
    assert [e["code"] for e in verdict["errors"]] == [reason]


@pytest.mark.parametrize(
    ("kind", "subject", "subject_type"),
    [
        ("ed25519", "did:key", "did:key"),
        ("p256", "did:jwk", "did:jwk"),
        ("p256", "jwk_thumbprint", THUMBPRINT_TYPE),
        ("secp256k1", "did:key", "did:key"),
    ],
)
def test_sign_in_with_each_subject_type(
    service: RunningService, make_wallet: Callable[..., Wallet], kind: str, subject: str, subject_type: str
) -> None:
    """The wallet answers an ID-Token-only request; the verdict carries the subject, its type and key."""
    wallet = make_wallet(kind, subject)
    created = service.create(definition_id="sign-in")
    request = wallet.fetch_request(created["authorization_request_uri"])
    assert request.payload["response_type"] == "id_token"
    assert "presentation_definition" not in request.payload
    answer = wallet.sign_in(request)
    assert answer.status_code == 200, answer.text
    verdict = service.verdict(created["transaction_id"])
    assert verdict["result"] == "verified"
    assert verdict["credentials"] == [] if "credentials" in verdict else True
    sign_in = verdict["sign_in"]
    assert sign_in["subject"] == wallet.holder.id
    assert sign_in["subject_type"] == subject_type
    assert sign_in["key_thumbprint"] == wallet.holder.key.thumbprint()
    assert sign_in["profile"] == "siopv2-d13"
    assert isinstance(sign_in["auth_time"], int)
    assert ("sub_jwk" in sign_in) is (subject == "jwk_thumbprint")


def test_sign_in_and_prove_age_in_one_transaction(
    service: RunningService, issuers: Issuers, make_wallet: Callable[..., Wallet]
) -> None:
    """sign-in-over-18: the verdict carries both the sign-in block and the age claim."""
    wallet = make_wallet()
    created = service.create(definition_id="sign-in-over-18")
    request = wallet.fetch_request(created["authorization_request_uri"])
    answer = wallet.respond(request, [issuers.trusted.issue(wallet.holder.id, {"ageOver18": True})])
    assert answer.status_code == 200, answer.text
    verdict = service.verdict(created["transaction_id"])
    assert verdict["sign_in"]["subject"] == wallet.holder.id
    assert verdict["credentials"][0]["claims"] == {"age_over_18": True}


def test_re_authentication_with_the_hinted_subject(
    service: RunningService, make_wallet: Callable[..., Wallet]
) -> None:
    """Re-authentication of the hinted subject is accepted; the hint reaches the wallet."""
    wallet = make_wallet()
    first = service.create(definition_id="sign-in")
    request = wallet.fetch_request(first["authorization_request_uri"])
    hint = wallet.build_response(request, [])["id_token"]
    wallet.sign_in(request)
    again = service.create(definition_id="sign-in", id_token_hint=hint)
    request = wallet.fetch_request(again["authorization_request_uri"])
    assert request.payload["id_token_hint"] == hint
    assert wallet.sign_in(request).status_code == 200
    assert service.verdict(again["transaction_id"])["sign_in"]["subject"] == wallet.holder.id


def test_re_authentication_by_another_subject_is_refused(
    service: RunningService, make_wallet: Callable[..., Wallet]
) -> None:
    """Someone else answering a re-authentication request is refused with id_token.subject_mismatch."""
    known, stranger = make_wallet(), make_wallet()
    first = service.create(definition_id="sign-in")
    hint = known.build_response(known.fetch_request(first["authorization_request_uri"]), [])["id_token"]
    created = service.create(definition_id="sign-in", id_token_hint=hint)
    request = stranger.fetch_request(created["authorization_request_uri"])
    _expect_rejected(service, created, stranger.sign_in(request), "id_token.subject_mismatch")


def test_self_attested_claims_are_marked_as_such(
    service: RunningService, make_wallet: Callable[..., Wallet]
) -> None:
    """Asked-for claims come back under self_attested, never as credential claims; others are dropped."""
    wallet = make_wallet()
    created = service.create(definition_id=None, sign_in={"self_attested_claims": ["name", "email"]})
    request = wallet.fetch_request(created["authorization_request_uri"])
    assert request.payload["claims"] == {"id_token": {"name": None, "email": None}}
    claims = {"name": "Ada", "email": "ada@example.com", "phone_number": "+1 555 0100"}
    assert wallet.sign_in(request, id_token_claims=claims).status_code == 200
    verdict = service.verdict(created["transaction_id"])
    assert verdict["self_attested"] == {"name": "Ada", "email": "ada@example.com"}
    assert verdict["definition_id"] == "inline-sign-in"
    assert "+1 555 0100" not in str(verdict)


def test_subject_type_outside_the_policy_is_refused(
    service: RunningService, make_wallet: Callable[..., Wallet]
) -> None:
    """A sign-in that accepts only did:key refuses a JWK-thumbprint subject."""
    wallet = make_wallet("p256", "jwk_thumbprint")
    created = service.create(definition_id=None, sign_in={"subject_syntax_types": ["did:key"]})
    request = wallet.fetch_request(created["authorization_request_uri"])
    assert request.client_metadata["subject_syntax_types_supported"] == ["did:key"]
    _expect_rejected(service, created, wallet.sign_in(request), "id_token.subject_type_not_allowed")


def test_id_token_with_another_transactions_nonce_is_refused(
    service: RunningService, make_wallet: Callable[..., Wallet]
) -> None:
    """An ID Token made for one transaction's nonce cannot sign in to another."""
    wallet = make_wallet()
    other = service.create(definition_id="sign-in")
    other_request = wallet.fetch_request(other["authorization_request_uri"])
    created = service.create(definition_id="sign-in")
    request = wallet.fetch_request(created["authorization_request_uri"])
    answer = wallet.sign_in(request, id_token_claims={"nonce": other_request.nonce})
    _expect_rejected(service, created, answer, "id_token.nonce_mismatch")


@pytest.mark.parametrize(
    ("iss", "profile", "setting"),
    [
        ("https://self-issued.me", "siop-v1", "siop-v1"),
        ("https://self-issued.me/v2", "siopv2-early", "siopv2-early"),
    ],
)
def test_older_self_issued_tokens_only_when_enabled(
    tmp_path: Path,
    receiver: WebhookReceiver,
    service: RunningService,
    make_wallet: Callable[..., Wallet],
    iss: str,
    profile: str,
    setting: str,
) -> None:
    """A legacy token is refused by default and accepted (and named) when its profile is enabled."""
    wallet = make_wallet("p256", "jwk_thumbprint")
    bare = wallet.holder.key.thumbprint()
    claims = {"iss": iss, "sub": bare}
    created = service.create(definition_id="sign-in")
    request = wallet.fetch_request(created["authorization_request_uri"])
    _expect_rejected(
        service, created, wallet.sign_in(request, id_token_claims=claims), "id_token.legacy_profile_disabled"
    )
    legacy = start_service(tmp_path, receiver, {"issuers": []}, legacy_profiles=(setting,))
    try:
        created = legacy.create(definition_id="sign-in")
        request = wallet.fetch_request(created["authorization_request_uri"])
        assert wallet.sign_in(request, id_token_claims=claims).status_code == 200
        verdict = legacy.verdict(created["transaction_id"])
        assert verdict["sign_in"]["profile"] == profile
        assert verdict["sign_in"]["subject"] == f"{THUMBPRINT_TYPE}:sha-256:{bare}"
    finally:
        legacy.stop()
