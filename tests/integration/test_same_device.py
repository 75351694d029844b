"""The same-device flow over real HTTP and a real Redis: the wallet gets a redirect carrying a one-time
``response_code``; the verdict is readable by polling only with it, once (OpenID4VP 1.0 §8.2, §13.3)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.e2e.actors import Holder, Issuer, KeyPair, Wallet, WalletV1, WebhookReceiver
from tests.e2e.actors.keys import b64url_decode
from tests.e2e.conftest import RunningService, start_service_at

QUERY = {
    "credentials": [
        {
            "id": "age",
            "format": "jwt_vc_json",
            "meta": {"type_values": [["AgeCredential"]]},
            "claims": [{"path": ["credentialSubject", "ageOver18"], "values": [True]}],
        }
    ]
}


@pytest.fixture
def issuer() -> Issuer:
    return Issuer(KeyPair.generate("ed25519"))


@pytest.fixture
def service(tmp_path: Path, redis_url: str, key_prefix: str, issuer: Issuer) -> Iterator[RunningService]:
    with WebhookReceiver() as receiver:
        running = start_service_at(
            tmp_path,
            receiver,
            {"issuers": [{"id": issuer.did, "name": "Age authority"}]},
            "127.0.0.1",
            store_url=redis_url,
            store_key_prefix=key_prefix,
        )
        yield running
        running.stop()


def _answer(service: RunningService, issuer: Issuer, **body: Any) -> tuple[dict[str, Any], str]:
    created = service.backend.post(
        "/v1/presentations", json={"protocol": "1.0", "dcql_query": QUERY, **body}
    ).json()
    early = service.backend.get(f"/v1/presentations/{created['transaction_id']}")
    assert early.json()["code"] == "response_code.required"  # not even "pending" without the code
    with WalletV1(Holder(KeyPair.generate("ed25519"))) as wallet:
        request = wallet.fetch_request(created["authorization_request_uri"])
        vc = issuer.issue(wallet.holder.id, {"ageOver18": True})
        answer = wallet.respond_v1(request, {"age": wallet.vp_for(request, vc)})
    assert answer.status_code == 200, answer.text
    return created, answer.json()["redirect_uri"]


def test_redirect_carries_a_code_that_reads_the_verdict_once(service: RunningService, issuer: Issuer) -> None:
    created, redirect = _answer(service, issuer, redirect_uri="https://app.example/done?code={response_code}")
    assert redirect.startswith("https://app.example/done?code=")
    code = parse_qs(urlsplit(redirect).query)["code"][0]
    assert len(b64url_decode(code)) == 16  # 128 bits (1.0 §8.2)
    status_url = f"/v1/presentations/{created['transaction_id']}"
    missing = service.backend.get(status_url)
    assert missing.status_code == 403
    assert missing.json()["code"] == "response_code.required"
    wrong = service.backend.get(status_url, params={"response_code": "A" * 22})
    assert wrong.json()["code"] == "response_code.invalid"
    read = service.backend.get(status_url, params={"response_code": code})
    assert read.status_code == 200, read.text
    assert read.json()["state"] == "verified"
    again = service.backend.get(status_url, params={"response_code": code})
    assert again.status_code == 403
    assert again.json()["code"] == "response_code.used"


def test_without_template_the_code_is_a_fragment(service: RunningService, issuer: Issuer) -> None:
    _, redirect = _answer(service, issuer, redirect_uri="https://app.example/done")
    assert redirect.startswith("https://app.example/done#response_code=")


def test_a_cross_device_transaction_needs_no_code(service: RunningService, issuer: Issuer) -> None:
    created = service.backend.post("/v1/presentations", json={"protocol": "1.0", "dcql_query": QUERY}).json()
    status = service.backend.get(f"/v1/presentations/{created['transaction_id']}")
    assert status.status_code == 200
    assert status.json()["state"] == "pending"


def test_a_draft_wallet_gets_the_redirect_too(service: RunningService, issuer: Issuer) -> None:
    created = service.backend.post(
        "/v1/presentations",
        json={"protocol": "draft", "definition_id": "age-over-18", "redirect_uri": "https://app.example/d"},
    ).json()
    with Wallet(Holder(KeyPair.generate("ed25519"))) as wallet:
        request = wallet.fetch_request(created["authorization_request_uri"])
        answer = wallet.respond(request, [issuer.issue(wallet.holder.id, {"ageOver18": True})])
    assert answer.status_code == 200, answer.text
    code = answer.json()["redirect_uri"].split("#response_code=")[1]
    read = service.backend.get(
        f"/v1/presentations/{created['transaction_id']}", params={"response_code": code}
    )
    assert read.json()["state"] == "verified"
