"""OpenID4VP 1.0 end to end: DCQL, client identifier prefixes, encrypted responses, request_uri_method=post,
SIOPv2 on 1.0, the same-device redirect — and draft-era and 1.0 wallets served by one running service."""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.e2e.actors import (
    Holder,
    KeyPair,
    TestCa,
    Wallet,
    WalletRefused,
    WalletV1,
    WebhookReceiver,
)
from tests.e2e.actors.keys import b64url_decode
from tests.e2e.actors.wallet_v1 import x509_hash
from tests.e2e.conftest import PID_VCT, Issuers, RunningService, start_service_at

AGE_QUERY: dict[str, Any] = {
    "credentials": [
        {
            "id": "age",
            "format": "jwt_vc_json",
            "meta": {"type_values": [["AgeCredential"]]},
            "claims": [{"id": "over_21", "path": ["credentialSubject", "ageOver21"], "values": [True]}],
        }
    ]
}
PID_QUERY: dict[str, Any] = {
    "credentials": [
        {
            "id": "pid",
            "format": "dc+sd-jwt",
            "meta": {"vct_values": [PID_VCT]},
            "claims": [
                {"id": "over_18", "path": ["age_equal_or_over", "18"], "values": [True]},
                {"id": "legacy_over_18", "path": ["age_over_18"], "values": [True]},
            ],
            "claim_sets": [["over_18"], ["legacy_over_18"]],
        }
    ]
}


@pytest.fixture
def wallet() -> Iterator[WalletV1]:
    with WalletV1(Holder(KeyPair.generate("ed25519"))) as holder_wallet:
        yield holder_wallet


def _payload(jwt: str) -> dict[str, Any]:
    return json.loads(b64url_decode(jwt.split(".")[1]))


def _age_vc(issuers: Issuers, wallet: Wallet, **claims: Any) -> str:
    return issuers.trusted.issue(wallet.holder.id, claims or {"ageOver21": True})


def _pid(issuers: Issuers, wallet: Wallet, claims: dict[str, Any] | None = None) -> Any:
    birth = dt.date.today().replace(year=dt.date.today().year - 30)
    return issuers.pid.issue(
        claims or {"birthdate": birth.isoformat(), "age_equal_or_over": {"18": True, "21": True}},
        vct=PID_VCT,
        holder_jwk=wallet.holder.key.public_jwk(),
        sd=("birthdate", "age_equal_or_over", ("age_equal_or_over", "18"), ("age_equal_or_over", "21")),
    )


def _create(service: RunningService, **body: Any) -> dict[str, Any]:
    body.setdefault("protocol", "1.0")
    if "definition_id" not in body and "presentation_definition" not in body and "sign_in" not in body:
        body.setdefault("dcql_query", AGE_QUERY)
    response = service.backend.post("/v1/presentations", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def _problem(service: RunningService, **body: Any) -> dict[str, Any]:
    body.setdefault("protocol", "1.0")
    response = service.backend.post("/v1/presentations", json=body)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    return response.json()


# --- DCQL over both formats, encrypted and plain, GET and POST --- #


@pytest.mark.parametrize("response_mode", ["direct_post.jwt", "direct_post"])
@pytest.mark.parametrize("method", ["get", "post"])
def test_jwt_vc_json_query_verifies(
    service: RunningService, issuers: Issuers, wallet: WalletV1, response_mode: str, method: str
) -> None:
    created = _create(service, response_mode=response_mode, request_uri_method=method)
    assert created["client_id"].startswith("decentralized_identifier:did:key:")
    link = parse_qs(urlsplit(created["authorization_request_uri"]).query)
    assert link.get("request_uri_method") == (["post"] if method == "post" else None)
    request = wallet.fetch_request(created["authorization_request_uri"])
    assert request.response_mode == response_mode
    assert request.response_type == "vp_token"
    assert "client_id_scheme" not in request.payload
    answer = wallet.respond_v1(request, {"age": wallet.vp_for(request, _age_vc(issuers, wallet))})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {}
    verdict = service.verdict(created["transaction_id"])
    assert verdict["result"] == "verified", verdict
    assert verdict["holder"] == {"id": wallet.holder.id, "method": "did"}
    [credential] = verdict["credentials"]
    assert credential["descriptor_id"] == "age"
    assert credential["claims"] == {"over_21": True}


def test_post_carries_the_wallet_nonce_and_narrows_encryption(
    service: RunningService, wallet: WalletV1
) -> None:
    created = _create(service, request_uri_method="post")
    metadata = wallet.metadata() | {"authorization_encryption_enc_values_supported": ["A256GCM"]}
    request = wallet.fetch_request(
        created["authorization_request_uri"], wallet_metadata=metadata, wallet_nonce="n-0S6_WzA2Mj"
    )
    assert request.payload["wallet_nonce"] == "n-0S6_WzA2Mj"
    assert request.client_metadata["encrypted_response_enc_values_supported"] == ["A256GCM"]


def test_post_refuses_a_wallet_that_cannot_do_what_the_transaction_needs(
    service: RunningService, wallet: WalletV1
) -> None:
    created = _create(service, request_uri_method="post")
    request_uri = parse_qs(urlsplit(created["authorization_request_uri"]).query)["request_uri"][0]
    cases = {
        "invalid_request": {"authorization_encryption_enc_values_supported": ["A192GCM"]},
        "vp_formats_not_supported": {"vp_formats_supported": {"dc+sd-jwt": {}}},
    }
    for error, metadata in cases.items():
        answer = wallet.http.post(request_uri, data={"wallet_metadata": json.dumps(metadata)})
        assert answer.status_code == 400, answer.text
        assert answer.json()["error"] == error
    assert wallet.http.post(request_uri, data={"wallet_metadata": "{not json"}).status_code == 400


def test_sd_jwt_query_with_claim_sets_falls_back_to_the_second_set(
    service: RunningService, issuers: Issuers, wallet: WalletV1
) -> None:
    created = _create(service, dcql_query=PID_QUERY)
    request = wallet.fetch_request(created["authorization_request_uri"])
    issued = issuers.pid.issue(
        {"age_over_18": True, "given_name": "Erika"},
        vct=PID_VCT,
        holder_jwk=wallet.holder.key.public_jwk(),
        sd=("age_over_18", "given_name"),
    )
    presentation = wallet.sd_jwt_for(request, issued, disclose=["age_over_18"])
    assert wallet.respond_v1(request, {"pid": presentation}).status_code == 200
    verdict = service.verdict(created["transaction_id"])
    assert verdict["result"] == "verified", verdict
    assert verdict["credentials"][0]["claims"] == {"legacy_over_18": True}
    assert verdict["holder"]["method"] == "jwk_thumbprint"


def test_sd_jwt_over_disclosure_is_rejected(
    service: RunningService, issuers: Issuers, wallet: WalletV1
) -> None:
    created = _create(service, dcql_query=PID_QUERY)
    request = wallet.fetch_request(created["authorization_request_uri"])
    presentation = wallet.sd_jwt_for(request, _pid(issuers, wallet))  # discloses everything
    assert wallet.respond_v1(request, {"pid": presentation}).status_code == 400
    verdict = service.verdict(created["transaction_id"])
    assert [e["code"] for e in verdict["errors"]] == ["dcql.over_disclosure"]


def test_credential_sets_take_either_alternative(
    service: RunningService, issuers: Issuers, wallet: WalletV1
) -> None:
    query = {
        "credentials": [AGE_QUERY["credentials"][0], PID_QUERY["credentials"][0]],
        "credential_sets": [{"options": [["age"], ["pid"]]}],
    }
    for answer_with in ("age", "pid"):
        created = _create(service, dcql_query=query)
        request = wallet.fetch_request(created["authorization_request_uri"])
        presentations = (
            {"age": wallet.vp_for(request, _age_vc(issuers, wallet))}
            if answer_with == "age"
            else {
                "pid": wallet.sd_jwt_for(
                    request, _pid(issuers, wallet), disclose=[("age_equal_or_over", "18")]
                )
            }
        )
        assert wallet.respond_v1(request, presentations).status_code == 200
        verdict = service.verdict(created["transaction_id"])
        assert verdict["result"] == "verified", verdict
        assert [c["descriptor_id"] for c in verdict["credentials"]] == [answer_with]


def test_a_required_query_left_unanswered_is_rejected(
    service: RunningService, issuers: Issuers, wallet: WalletV1
) -> None:
    query = {"credentials": [AGE_QUERY["credentials"][0], PID_QUERY["credentials"][0]]}
    created = _create(service, dcql_query=query)
    request = wallet.fetch_request(created["authorization_request_uri"])
    assert (
        wallet.respond_v1(request, {"age": wallet.vp_for(request, _age_vc(issuers, wallet))}).status_code
        == 400
    )
    verdict = service.verdict(created["transaction_id"])
    assert [e["code"] for e in verdict["errors"]] == ["dcql.credential_missing"]


# --- Encryption is required when asked for --- #


def test_plaintext_answer_to_an_encrypted_transaction_is_rejected(
    service: RunningService, issuers: Issuers, wallet: WalletV1
) -> None:
    created = _create(service, response_mode="direct_post.jwt")
    request = wallet.fetch_request(created["authorization_request_uri"])
    vp = wallet.vp_for(request, _age_vc(issuers, wallet))
    answer = wallet.respond_v1(request, {"age": vp}, encrypt=False)
    assert answer.status_code == 400
    verdict = service.verdict(created["transaction_id"])
    assert [e["code"] for e in verdict["errors"]] == ["response.not_encrypted"]


def test_jwe_to_another_key_is_rejected(service: RunningService, issuers: Issuers, wallet: WalletV1) -> None:
    other = _create(service)
    created = _create(service)
    other_request = wallet.fetch_request(other["authorization_request_uri"])
    request = wallet.fetch_request(created["authorization_request_uri"])
    vp = wallet.vp_for(request, _age_vc(issuers, wallet))
    answer = wallet.respond_v1(request, {"age": vp}, jwk=other_request.encryption_jwk())
    assert answer.status_code == 400
    verdict = service.verdict(created["transaction_id"])
    assert [e["code"] for e in verdict["errors"]] == ["response.jwe_unknown_key"]


def test_wallet_error_may_come_unencrypted(service: RunningService, wallet: WalletV1) -> None:
    created = _create(service)
    request = wallet.fetch_request(created["authorization_request_uri"])
    assert wallet.post_error(request, "access_denied").status_code == 200
    verdict = service.verdict(created["transaction_id"])
    assert verdict["wallet_error"] == "access_denied"


def test_presentation_for_the_wrong_audience_is_rejected(
    service: RunningService, issuers: Issuers, wallet: WalletV1
) -> None:
    created = _create(service)
    request = wallet.fetch_request(created["authorization_request_uri"])
    # The unprefixed DID was the draft-era audience; 1.0 binds to the full client identifier (§5.9).
    vp = wallet.vp_for(request, _age_vc(issuers, wallet), claims={"aud": request.original_client_id})
    assert wallet.respond_v1(request, {"age": vp}).status_code == 400
    verdict = service.verdict(created["transaction_id"])
    assert [e["code"] for e in verdict["errors"]] == ["presentation.audience_mismatch"]


def test_credential_of_another_holder_is_rejected_without_id_token(
    service: RunningService, issuers: Issuers, wallet: WalletV1
) -> None:
    created = _create(service)
    request = wallet.fetch_request(created["authorization_request_uri"])
    stranger = Holder(KeyPair.generate("ed25519"))
    vp = wallet.vp_for(request, issuers.trusted.issue(stranger.id, {"ageOver21": True}))
    assert wallet.respond_v1(request, {"age": vp}).status_code == 400
    verdict = service.verdict(created["transaction_id"])
    assert [e["code"] for e in verdict["errors"]] == ["holder_binding.subject_mismatch"]


# --- SIOPv2 on 1.0 --- #


def test_sign_in_with_1_0_binds_id_token_and_presentations(
    service: RunningService, issuers: Issuers, wallet: WalletV1
) -> None:
    created = _create(service, definition_id="sign-in-over-18", request_uri_method="post")
    request = wallet.fetch_request(created["authorization_request_uri"])
    assert request.response_type == "vp_token id_token"
    assert request.payload["scope"] == "openid"
    query_id = request.credential_ids()[0]
    vp = wallet.vp_for(request, issuers.trusted.issue(wallet.holder.id, {"ageOver18": True}))
    assert wallet.respond_v1(request, {query_id: vp}).status_code == 200
    verdict = service.verdict(created["transaction_id"])
    assert verdict["result"] == "verified", verdict
    assert verdict["sign_in"]["subject"] == wallet.holder.id

    created = _create(service, definition_id="sign-in-over-18")
    request = wallet.fetch_request(created["authorization_request_uri"])
    other = Holder(KeyPair.generate("ed25519"))
    vp = wallet.vp_for(request, issuers.trusted.issue(wallet.holder.id, {"ageOver18": True}))
    answer = wallet.respond_v1(
        request, {query_id: vp}, id_token_claims={"iss": other.id, "sub": other.id}, id_token_signer=other.key
    )
    assert answer.status_code == 400


# --- Translation of presentation definitions, and refusals --- #


def test_named_definition_is_served_as_dcql(
    service: RunningService, issuers: Issuers, wallet: WalletV1
) -> None:
    created = _create(service, definition_id="age-over-21")
    request = wallet.fetch_request(created["authorization_request_uri"])
    assert "presentation_definition" not in request.payload
    [query] = request.dcql_query["credentials"]
    vp = wallet.vp_for(request, _age_vc(issuers, wallet))
    assert wallet.respond_v1(request, {query["id"]: vp}).status_code == 200
    verdict = service.verdict(created["transaction_id"])
    assert verdict["result"] == "verified", verdict
    assert verdict["definition_id"] == "age-over-21"


def test_inline_definition_is_translated(service: RunningService, issuers: Issuers, wallet: WalletV1) -> None:
    definition = {
        "id": "inline-age",
        "input_descriptors": [
            {
                "id": "age",
                "format": {"jwt_vc_json": {"alg": ["EdDSA"]}},
                "constraints": {
                    "fields": [
                        {
                            "id": "over_21",
                            "path": ["$.vc.credentialSubject.ageOver21"],
                            "filter": {"type": "boolean", "const": True},
                        }
                    ]
                },
            }
        ],
    }
    created = _create(service, presentation_definition=definition)
    request = wallet.fetch_request(created["authorization_request_uri"])
    vp = wallet.vp_for(request, _age_vc(issuers, wallet))
    assert wallet.respond_v1(request, {"age": vp}).status_code == 200
    assert service.verdict(created["transaction_id"])["credentials"][0]["claims"] == {"over_21": True}


def test_untranslatable_definition_and_bad_queries_are_refused(service: RunningService) -> None:
    definition = {
        "id": "inline-birthdate",
        "input_descriptors": [
            {
                "id": "age",
                "format": {"jwt_vc_json": {"alg": ["EdDSA"]}},
                "constraints": {
                    "fields": [
                        {
                            "path": ["$.vc.credentialSubject.birthDate"],
                            "filter": {"type": "string", "pattern": "^19"},
                        }
                    ]
                },
            }
        ],
    }
    assert _problem(service, presentation_definition=definition)["code"] == "dcql.untranslatable"
    malformed = _problem(service, dcql_query={"credentials": [{"id": "x", "format": "jwt_vc_json"}]})
    assert malformed["code"].startswith("dcql.")
    assert "credentials/0" in malformed["detail"]
    no_binding = {
        "credentials": [{**AGE_QUERY["credentials"][0], "require_cryptographic_holder_binding": False}]
    }
    assert _problem(service, dcql_query=no_binding)["code"] == "dcql.holder_binding_required"
    assert _problem(service, protocol="draft", dcql_query=AGE_QUERY)["code"] == "api.protocol"
    assert (
        _problem(service, protocol="draft", definition_id="age-over-21", response_mode="direct_post.jwt")[
            "code"
        ]
        == "api.protocol"
    )
    assert (
        _problem(service, dcql_query=AGE_QUERY, client_id_prefix="x509_hash")["code"]
        == "api.client_id_prefix"
    )


# --- One service, both generations --- #


def test_draft_and_1_0_wallets_on_the_same_service(
    service: RunningService, issuers: Issuers, wallet: WalletV1, make_wallet: Any
) -> None:
    old = make_wallet("p256")
    draft = service.create(definition_id="age-over-21", protocol="draft")
    v1 = _create(service, definition_id="age-over-21")
    draft_request = old.fetch_request(draft["authorization_request_uri"])
    assert draft_request.client_id_scheme == "did"
    with pytest.raises(WalletRefused):
        old.fetch_request(v1["authorization_request_uri"])  # a draft wallet does not speak 1.0
    assert (
        old.respond(draft_request, [issuers.trusted.issue(old.holder.id, {"ageOver21": True})]).status_code
        == 200
    )
    v1_request = wallet.fetch_request(v1["authorization_request_uri"])
    query_id = v1_request.credential_ids()[0]
    assert (
        wallet.respond_v1(
            v1_request, {query_id: wallet.vp_for(v1_request, _age_vc(issuers, wallet))}
        ).status_code
        == 200
    )
    assert service.verdict(draft["transaction_id"])["result"] == "verified"
    assert service.verdict(v1["transaction_id"])["result"] == "verified"


# --- Client identifier prefixes that need a certificate, and redirect_uri --- #


@pytest.fixture(scope="module")
def x509_service(
    tmp_path_factory: pytest.TempPathFactory, issuers: Issuers
) -> Iterator[tuple[RunningService, TestCa]]:
    tmp = tmp_path_factory.mktemp("x509v1")
    ca = TestCa.create("Verifier root")
    leaf, key = ca.leaf(dns_names=["localhost"])
    chain_file, key_file = tmp / "chain.pem", tmp / "key.pem"
    chain_file.write_bytes(
        b"".join(cert.public_bytes(serialization.Encoding.PEM) for cert in [leaf, *ca.chain()])
    )
    key_file.write_bytes(
        key.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    with WebhookReceiver() as receiver:
        running = start_service_at(
            tmp,
            receiver,
            issuers.trust_file(),
            "localhost",
            x509_chain_file=str(chain_file),
            x509_key_file=str(key_file),
            default_protocol="1.0",
        )
        yield running, ca
        running.stop()


@pytest.mark.parametrize("prefix", ["x509_san_dns", "x509_hash", "redirect_uri", "decentralized_identifier"])
def test_each_client_identifier_prefix(
    x509_service: tuple[RunningService, TestCa], issuers: Issuers, prefix: str
) -> None:
    service, ca = x509_service
    with WalletV1(Holder(KeyPair.generate("p256")), trust_anchor=ca.chain()[-1]) as holder_wallet:
        created = _create(service, client_id_prefix=prefix)
        assert created["client_id"].startswith(prefix + ":")
        request = holder_wallet.fetch_request(created["authorization_request_uri"])
        if prefix == "redirect_uri":
            assert request.header["alg"] == "none"
            assert request.original_client_id == request.response_uri
        vp = holder_wallet.vp_for(request, _age_vc(issuers, holder_wallet))
        assert holder_wallet.respond_v1(request, {"age": vp}).status_code == 200
        verdict = service.verdict(created["transaction_id"])
        assert verdict["result"] == "verified", verdict


def test_x509_hash_names_the_leaf_certificate(x509_service: tuple[RunningService, TestCa]) -> None:
    service, _ = x509_service
    created = _create(service, client_id_prefix="x509_hash")
    raw = service.backend.get(
        parse_qs(urlsplit(created["authorization_request_uri"]).query)["request_uri"][0]
    )
    header = json.loads(b64url_decode(raw.text.split(".")[0]))
    leaf = x509.load_der_x509_certificate(base64.b64decode(header["x5c"][0]))
    assert created["client_id"] == "x509_hash:" + x509_hash(leaf)


def test_sign_in_only_on_1_0(service: RunningService, wallet: WalletV1) -> None:
    created = _create(service, definition_id="sign-in", response_mode="direct_post")
    request = wallet.fetch_request(created["authorization_request_uri"])
    assert request.response_type == "id_token"
    assert "dcql_query" not in request.payload
    assert request.client_metadata["subject_syntax_types_supported"]
    assert wallet.sign_in(request).status_code == 200
    verdict = service.verdict(created["transaction_id"])
    assert verdict["result"] == "verified", verdict
    assert verdict["sign_in"]["subject"] == wallet.holder.id
    assert "credentials" not in verdict


@pytest.mark.parametrize("protocol", ["draft", "1.0"])
def test_same_device_needs_somewhere_to_keep_the_verdict(
    tmp_path_factory: pytest.TempPathFactory, receiver: WebhookReceiver, issuers: Issuers, protocol: str
) -> None:
    running = start_service_at(
        tmp_path_factory.mktemp("nostore"), receiver, issuers.trust_file(), "127.0.0.1", playground=False
    )
    try:
        body = {
            "protocol": protocol,
            "definition_id": "age-over-21",
            "redirect_uri": "https://app.example/done",
        }
        answer = running.backend.post("/v1/presentations", json=body)
        assert answer.status_code == 501, answer.text
        assert answer.json()["code"] == "store.required"
    finally:
        running.stop()
