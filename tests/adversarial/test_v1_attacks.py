"""Hostile 1.0 wallets: malformed vp_token objects, smuggled presentations, hostile POSTs and JWEs.

Every attack must end in a clear OAuth error for the wallet (never a 500) and, once a response was taken, a
rejected verdict with a stable reason.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.e2e.actors import Holder, KeyPair, WalletV1
from tests.e2e.conftest import Issuers, RunningService

QUERY: dict[str, Any] = {
    "credentials": [
        {
            "id": "age",
            "format": "jwt_vc_json",
            "meta": {"type_values": [["AgeCredential"]]},
            "claims": [{"id": "over_21", "path": ["credentialSubject", "ageOver21"], "values": [True]}],
        }
    ]
}


@pytest.fixture
def wallet() -> Iterator[WalletV1]:
    with WalletV1(Holder(KeyPair.generate("ed25519"))) as holder_wallet:
        yield holder_wallet


def _begin(service: RunningService, wallet: WalletV1, **body: Any) -> tuple[dict[str, Any], Any]:
    created = service.backend.post(
        "/v1/presentations", json={"protocol": "1.0", "dcql_query": QUERY, **body}
    ).json()
    return created, wallet.fetch_request(created["authorization_request_uri"])


def _rejected(service: RunningService, created: dict[str, Any], answer: Any) -> list[str]:
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == "invalid_request"
    verdict = service.verdict(created["transaction_id"])
    assert verdict["result"] == "rejected"
    return [error["code"] for error in verdict["errors"]]


@pytest.mark.parametrize(
    ("vp_token", "reason"),
    [
        ("a-bare-string", "dcql.malformed_vp_token"),
        (["an", "array"], "dcql.malformed_vp_token"),
        ({}, "dcql.credential_missing"),
        ({"age": "not-a-list"}, "dcql.malformed_vp_token"),
        ({"age": []}, "dcql.malformed_vp_token"),
        ({"age": [{"an": "object"}]}, "submission.format_mismatch"),
        ({"unasked": ["x.y.z"]}, "dcql.unknown_query_id"),
        ({f"q{i}": ["x"] for i in range(500)}, "dcql.unknown_query_id"),
    ],
)
def test_malformed_vp_token_objects(
    service: RunningService, wallet: WalletV1, vp_token: Any, reason: str
) -> None:
    created, request = _begin(service, wallet)
    answer = wallet.respond_v1(request, None, extra={"vp_token": vp_token})
    assert _rejected(service, created, answer) == [reason]


def test_second_credential_smuggled_into_the_vp(
    service: RunningService, issuers: Issuers, wallet: WalletV1
) -> None:
    created, request = _begin(service, wallet)
    good = issuers.trusted.issue(wallet.holder.id, {"ageOver21": True})
    extra = issuers.untrusted.issue(wallet.holder.id, {"ageOver21": True})
    answer = wallet.respond_v1(request, {"age": wallet.vp_for(request, good, extra_vcs=[extra])})
    assert _rejected(service, created, answer) == ["dcql.presentation_not_single"]


def test_more_presentations_than_allowed(service: RunningService, issuers: Issuers, wallet: WalletV1) -> None:
    created, request = _begin(service, wallet)
    vc = issuers.trusted.issue(wallet.holder.id, {"ageOver21": True})
    answer = wallet.respond_v1(request, {"age": [wallet.vp_for(request, vc), wallet.vp_for(request, vc)]})
    assert _rejected(service, created, answer) == ["dcql.multiple_not_allowed"]


def test_untrusted_issuer_behind_a_valid_holder_proof(
    service: RunningService, issuers: Issuers, wallet: WalletV1
) -> None:
    created, request = _begin(service, wallet)
    vc = issuers.untrusted.issue(wallet.holder.id, {"ageOver21": True})
    answer = wallet.respond_v1(request, {"age": wallet.vp_for(request, vc)})
    assert _rejected(service, created, answer) == ["credential.untrusted_issuer"]


def test_vp_signed_by_a_key_other_than_its_kid(
    service: RunningService, issuers: Issuers, wallet: WalletV1
) -> None:
    created, request = _begin(service, wallet)
    vc = issuers.trusted.issue(wallet.holder.id, {"ageOver21": True})
    answer = wallet.respond_v1(
        request, {"age": wallet.vp_for(request, vc, signer=KeyPair.generate("ed25519"))}
    )
    assert _rejected(service, created, answer) == ["presentation.bad_signature"]


def test_jwe_headers_that_must_not_be_followed(
    service: RunningService, issuers: Issuers, wallet: WalletV1
) -> None:
    for header, reason in [
        ({"alg": "ECDH-ES+A128KW"}, "response.jwe_unsupported_alg"),
        ({"enc": "A128CBC-HS256"}, "response.jwe_unsupported_enc"),
        ({"zip": "BZ2"}, "response.jwe_unsupported_zip"),
        ({"crit": ["exp"], "exp": 1}, "response.jwe_unsupported_crit"),
    ]:
        created, request = _begin(service, wallet)
        vc = issuers.trusted.issue(wallet.holder.id, {"ageOver21": True})
        answer = wallet.respond_v1(request, {"age": wallet.vp_for(request, vc)}, jwe_header=header)
        assert _rejected(service, created, answer) == [reason]


def test_hostile_request_uri_posts_get_oauth_errors(service: RunningService, wallet: WalletV1) -> None:
    created = service.backend.post(
        "/v1/presentations",
        json={"protocol": "1.0", "dcql_query": QUERY, "request_uri_method": "post"},
    ).json()
    request_uri = parse_qs(urlsplit(created["authorization_request_uri"]).query)["request_uri"][0]
    bodies: list[Any] = [
        {"wallet_nonce": "n" * 5000},
        {"wallet_metadata": "[" * 5000 + "]" * 5000},
        {"wallet_metadata": json.dumps({"vp_formats_supported": "jwt_vc_json"})},
        "&".join(f"f{i}=1" for i in range(200)),
        b"\xff\xfe",
    ]
    for body in bodies:
        answer = (
            wallet.http.post(request_uri, data=body)
            if isinstance(body, dict)
            else wallet.http.post(
                request_uri, content=body, headers={"content-type": "application/x-www-form-urlencoded"}
            )
        )
        assert answer.status_code == 400, answer.text
        assert answer.json()["error"] == "invalid_request"
    # None of that consumed the transaction: a well-behaved wallet still gets its request.
    assert wallet.fetch_request(created["authorization_request_uri"]).payload["wallet_nonce"]


def test_draft_transaction_refuses_the_request_uri_post(service: RunningService, wallet: WalletV1) -> None:
    created = service.create(definition_id="age-over-21", protocol="draft")
    answer = wallet.http.post(created["request_uri"], data={"wallet_nonce": "n"})
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_request"
